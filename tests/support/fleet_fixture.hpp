#pragma once
// Shared pieces of the integration tests: a whole fleet on free ports in a temporary folder, HTTP helpers,
// and a recorder of the job events published in Redis.

#include <atomic>
#include <chrono>
#include <filesystem>
#include <map>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

#include "cli/http_client.hpp"
#include "cli/local_stack.hpp"
#include "store/redis_client.hpp"
#include "tests/support/temp_dir.hpp"

namespace gpufleet::testing {

std::string bin_dir();

struct FleetOptions {
  int workers = 1;
  std::string models = "espeak,noop";
  int slots = 1;
  std::map<std::string, std::string> env;
  bool worker_metrics = false;  // workers serve /metrics on stack().config().worker_metrics_port + index
  std::string redis_prefix = "gpufleet";
  bool redis_cluster = false;  // cli::StackConfig::redis_cluster
};

// Writes a model registry (docs/models.md) as <dir>/models.json and answers the WORKER_CONFIG value for it.
std::string write_model_registry(const std::filesystem::path& dir, const std::string& json_text);

// A running fleet for one test suite. Heartbeats are fast so that lost workers are noticed in well under a
// second.
class Fleet {
 public:
  explicit Fleet(FleetOptions options = {});
  ~Fleet();

  cli::LocalStack& stack() { return *stack_; }
  const std::filesystem::path& storage() const { return storage_; }
  RedisEndpoint redis_endpoint() const;
  RedisKeys keys() const { return RedisKeys(stack_->config().redis_prefix); }

  cli::HttpResult get(const std::string& target,
                      std::chrono::milliseconds timeout = std::chrono::seconds(30));
  cli::HttpResult post(const std::string& target, const std::string& body,
                       const std::string& content_type = "application/json");
  cli::HttpResult request(const std::string& method, const std::string& target, const std::string& body = "",
                          const std::map<std::string, std::string>& headers = {});
  // Submits through POST /v1/jobs and returns the job id (fails the test otherwise).
  std::string submit(const nlohmann::json& request);
  // GET /v1/jobs/{id}?wait=...: the job once final, or as it is after `wait_s`.
  nlohmann::json wait_job(const std::string& id, double wait_s = 30);
  // Waits until the broker's last snapshot counts exactly `count` live workers.
  bool wait_workers(int count, std::chrono::milliseconds timeout = std::chrono::seconds(30));
  // Dumps every component's log to stderr (on failure).
  void dump_logs();

 private:
  TempDir dir_;
  std::filesystem::path storage_;
  std::unique_ptr<cli::LocalStack> stack_;
};

// Records every message on a Redis channel from the moment it is constructed.
class EventRecorder {
 public:
  EventRecorder(const RedisEndpoint& endpoint, const std::string& channel);
  ~EventRecorder();
  std::vector<nlohmann::json> events_for(const std::string& job_id);
  // Waits until a final-state event for `job_id` arrived.
  bool wait_final(const std::string& job_id, std::chrono::milliseconds timeout);

 private:
  std::mutex mutex_;
  std::vector<nlohmann::json> events_;
  std::atomic<bool> stop_{false};
  std::atomic<bool> ready_{false};
  std::thread thread_;
};

// Parses a WAV file and returns its RMS over all samples (16-bit scale); fails the test on a bad file.
struct AudioCheck {
  uint32_t sample_rate = 0;
  double duration_s = 0;
  double rms = 0;
};
AudioCheck check_wav_bytes(const std::string& bytes);

}  // namespace gpufleet::testing
