#pragma once
// The local fleet on one machine: redis-server (unless an external Redis is given), the broker, workers and
// the gateway, started from the binaries beside this one. `gpufleet up` runs one; integration tests and the
// benchmark run theirs through the same class, so what is tested is what a user starts.

#include <chrono>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "cli/process.hpp"

namespace gpufleet::cli {

struct StackConfig {
  std::string bin_dir;                   // where gpufleet-broker/-worker/-gateway are
  std::string host = "127.0.0.1";        // the gateway's HOST
  uint16_t http_port = 8001;             // PORT
  uint16_t broker_port = 5555;           // BROKER_PORT
  uint16_t redis_port = 6379;            // REDIS_PORT, for the redis-server it starts
  uint16_t broker_metrics_port = 9101;   // BROKER_METRICS_PORT; 0: none
  uint16_t worker_metrics_port = 0;      // WORKER_METRICS_PORT: worker i serves metrics on this + i; 0: none
  std::optional<std::string> redis_url;  // REDIS_URL: use this Redis, start none
  std::string redis_prefix = "gpufleet";
  std::string storage_root;  // STORAGE_ROOT
  std::string state_dir;     // Redis data (AOF) and logs
  int workers = 1;
  std::string worker_models = "espeak";
  int worker_slots = 1;
  std::string device = "auto";
  // GPUS=0,1,3: one worker per listed GPU, pinned with DEVICE=cuda:N (replaces WORKERS and DEVICE).
  std::vector<std::string> worker_devices;
  std::string redis_appendfsync =
      "everysec";  // REDIS_APPENDFSYNC: everysec or always (see docs/reliability.md)
  // REDIS_MAXMEMORY: Redis's maxmemory ("2gb", bytes); empty: none. The gateway refuses new jobs short of it.
  std::string redis_maxmemory;
  // The Redis it starts is a Redis Cluster of one node holding every slot, where a command (or a job-store
  // script) whose keys lie in two slots is refused as on a cluster of many: tests use it to show that a
  // hash-tagged REDIS_PREFIX keeps every command of the fleet in one slot (docs/redis.md#redis-cluster).
  bool redis_cluster = false;
  std::map<std::string, std::string> env;  // extra environment for every component

  // From the environment, with the documented defaults (docs/operations.md).
  static StackConfig from_env(const std::string& bin_dir);
  // A private stack for tests and benchmarks: loopback, free ports, storage and state under `dir`, CPU.
  static StackConfig private_on_free_ports(const std::string& bin_dir, const std::string& dir);
};

// GPUS' value ("0,1,3") as worker devices ("cuda:0", ...). Throws ConfigError for anything else.
std::vector<std::string> gpu_devices(const std::string& list);

class LocalStack {
 public:
  explicit LocalStack(StackConfig config);
  ~LocalStack();
  LocalStack(const LocalStack&) = delete;
  LocalStack& operator=(const LocalStack&) = delete;

  // Starts everything; throws std::runtime_error if a part cannot start.
  void start();
  // Polls /health until it says healthy; false on timeout.
  bool wait_healthy(std::chrono::milliseconds timeout);
  // Gateway first (no new work), then workers (drain), broker, Redis.
  void stop();

  const StackConfig& config() const { return config_; }

  // For failure tests and supervision.
  size_t worker_count() const { return workers_.size(); }
  Process& worker(size_t index) { return workers_.at(index); }
  void add_worker();
  Process& broker() { return broker_; }
  // Kills the broker with `signal` and starts a new one on the same port.
  void restart_broker(int signal);
  void stop_broker(int signal);
  void start_broker();
  Process& gateway() { return gateway_; }
  void restart_gateway(int signal);
  void stop_gateway(int signal);
  void resume_gateway();  // after stop_gateway
  // Replaces worker `index` after killing it with `signal` (same id: it is the same host coming back).
  void restart_worker(size_t index, int signal);
  // Stops the Redis this stack started (SIGTERM: it writes its AOF out first) and starts it again on the
  // same data. False when the stack uses an external Redis.
  bool restart_redis(std::chrono::milliseconds down_for = std::chrono::milliseconds(0));
  // A part that exited on its own, by name ("broker", "gateway", "worker-1", "redis"), if any.
  std::optional<std::string> exited_component();
  // Every running part by name ("redis" only when this stack started it), for measuring them from outside.
  std::vector<std::pair<std::string, pid_t>> components() const;
  std::string log_path(const std::string& component) const;

 private:
  std::map<std::string, std::string> component_env() const;
  Process start_component(const std::string& binary, const std::string& log_name,
                          const std::map<std::string, std::string>& extra = {});
  void start_redis();
  void take_every_slot(std::chrono::steady_clock::time_point deadline);
  Process start_worker(size_t index);
  Process start_gateway();

  StackConfig config_;
  Process redis_;
  Process broker_;
  std::vector<Process> workers_;
  Process gateway_;
  bool own_redis_ = false;
};

}  // namespace gpufleet::cli
