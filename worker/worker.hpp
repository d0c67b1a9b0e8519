#pragma once
// The worker process: a DEALER connection to the broker served by one I/O thread (heartbeats from a timer,
// jobs in, results out) and `slots` executor threads that run models, each taking a batch at a time from
// the BatchQueue; a model that batches continuously takes newcomers into its running batch and each job's
// result goes out the moment it is done. Models never block heartbeats.

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <limits>
#include <list>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>
#include <zmq.hpp>
#include <zmq_addon.hpp>

#include "common/clock.hpp"
#include "common/metrics.hpp"
#include "common/metrics_server.hpp"
#include "models/registry.hpp"
#include "models/torch/device.hpp"
#include "worker/batch_queue.hpp"
#include "worker/job_runner.hpp"

namespace gpufleet::worker {

using models::DeviceInfo;

struct WorkerConfig {
  std::string broker_endpoint = "tcp://127.0.0.1:5555";
  std::string worker_id;  // default: <host>-<pid>-<random>
  uint32_t slots = 1;
  std::chrono::milliseconds heartbeat{1000};
  int liveness = 3;
  std::chrono::milliseconds drain_grace{30000};
  std::string device = "auto";
  std::vector<models::ModelSpec> models;  // WORKER_CONFIG's registry, or WORKER_MODELS' built-ins
  std::string storage_root;
  std::string input_root;  // speaker references (INPUT_ROOT, default <storage_root>/inputs)
  // Voices computed from references, shared by the fleet (VOICE_STORE, default <storage_root>/voices;
  // "off": none). Models that clone use it unless their config says otherwise.
  std::string voice_store;
  // Prometheus metrics on http://metrics_host:metrics_port/metrics (WORKER_METRICS_PORT; 0: none).
  std::string metrics_host = "127.0.0.1";
  uint16_t metrics_port = 0;
  // CurveZMQ: the broker's public key and this worker's secret key (Z85); both empty: plain TCP.
  std::string broker_curve_public_key;
  std::string curve_secret_key;

  static WorkerConfig from_env();
};

class Worker {
 public:
  // `failed_models`: configured models that could not be loaded, reported to the broker with their errors.
  Worker(WorkerConfig config, DeviceInfo device, std::unique_ptr<JobRunner> runner,
         std::vector<protocol::FailedModel> failed_models = {});
  ~Worker();
  Worker(const Worker&) = delete;
  Worker& operator=(const Worker&) = delete;

  // Serves until `stop`; then drains: tells the broker, runs what the broker sent before it heard, and leaves
  // when all of it is acknowledged (or the grace period is over).
  void run(const std::atomic<bool>& stop);
  // Reports the device memory in use as a metric (the LibTorch plugin's allocator), read at each heartbeat.
  void set_memory_probe(std::function<std::optional<uint64_t>()> probe) { memory_probe_ = std::move(probe); }

 private:
  void connect();
  void send_ready();
  void send_heartbeat();
  void on_broker_message(std::vector<zmq::message_t>& frames);
  void on_job(protocol::Job job);
  void on_cancel(const protocol::Cancel& cancel);
  void on_ack(const protocol::ResultAck& ack);
  void on_result(std::vector<zmq::message_t>& frames);
  void send_result(const std::string& key);
  void resend_unacknowledged(bool all);
  void executor_loop();
  // Runs a batch taken from the queue on this executor, and any jobs that join it (continuous batching).
  class BatchRun;
  void run_batch(std::vector<PendingJob> batch, zmq::socket_t& out);

  // A job this worker holds: running, or finished with its result not yet acknowledged by the broker.
  struct Held {
    std::string job_id;
    uint32_t attempt = 0;
    std::shared_ptr<models::JobContext> context;
    std::chrono::milliseconds lease{0};
    bool finished = false;
    // The last progress report passed on to the broker (units done); none yet: a first "0 of N" goes too.
    uint64_t progress_sent = std::numeric_limits<uint64_t>::max();
    std::string result_body;  // the encoded JOB_RESULT, kept until acknowledged
    SteadyClock::time_point sent_at{};
  };
  static std::string held_key(const std::string& job_id, uint32_t attempt) {
    return job_id + "/" + std::to_string(attempt);
  }

  WorkerConfig config_;
  DeviceInfo device_;
  MetricsRegistry metrics_;
  std::unique_ptr<MetricsServer> metrics_server_;
  std::function<std::optional<uint64_t>()> memory_probe_;
  std::atomic<int> busy_slots_{0};
  std::unique_ptr<JobRunner> runner_;
  std::vector<protocol::FailedModel> failed_models_;
  zmq::context_t context_{1};  // inproc: executors' results
  // The broker link has a context of its own so that closing it can wait for the goodbye to leave, which the
  // executors' context cannot do while a stuck model call keeps its socket.
  zmq::context_t broker_context_{1};
  std::unique_ptr<zmq::socket_t> broker_;
  zmq::socket_t results_;

  std::mutex mutex_;
  std::condition_variable work_ready_;
  BatchQueue pending_;  // guarded by mutex_
  bool shutting_down_ = false;
  std::vector<std::thread> executors_;

  std::map<std::string, Held> held_;  // by held_key (I/O thread only)
  bool draining_ = false;
  bool drain_acknowledged_ = false;  // the broker saw the drain: nothing it sends any more is a job
  SteadyClock::time_point broker_seen_{};
  SteadyClock::time_point next_heartbeat_{};
};

}  // namespace gpufleet::worker
