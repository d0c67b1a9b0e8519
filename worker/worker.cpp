#include "worker/worker.hpp"

#include <spdlog/spdlog.h>
#include <unistd.h>

#include <random>
#include <sstream>

#include "common/config.hpp"
#include "common/error.hpp"
#include "common/files.hpp"
#include "protocol/curve.hpp"

namespace gpufleet::worker {

using protocol::MessageType;

namespace {

constexpr const char* kResultsEndpoint = "inproc://results";

std::string host_name() {
  char host[256] = {};
  ::gethostname(host, sizeof(host) - 1);
  return host;
}

std::string default_worker_id() {
  std::ostringstream id;
  id << host_name() << "-" << ::getpid() << "-" << std::hex << (std::random_device{}() & 0xFFFFFF);
  return id.str();
}

template <typename T>
void send_message(zmq::socket_t& socket, MessageType type, const T& body) {
  socket.send(zmq::buffer(protocol::encode_header(type)), zmq::send_flags::sndmore);
  socket.send(zmq::buffer(protocol::encode_body(body)), zmq::send_flags::none);
}

}  // namespace

WorkerConfig WorkerConfig::from_env() {
  WorkerConfig config;
  config.broker_endpoint = broker_connect_endpoint_from_env();
  config.worker_id = env_string("WORKER_ID", default_worker_id());
  config.slots = static_cast<uint32_t>(env_int("WORKER_SLOTS", 1, 1, 1024));
  config.heartbeat = std::chrono::milliseconds(env_int("HEARTBEAT_MS", 1000, 10, 60000));
  config.liveness = static_cast<int>(env_int("HEARTBEAT_LIVENESS", 3, 2, 100));
  config.drain_grace = std::chrono::milliseconds(env_int("DRAIN_GRACE_MS", 30000, 0, 3600000));
  config.device = env_string("DEVICE", "auto");
  if (auto file = env_value("WORKER_CONFIG")) {
    config.models = models::read_model_registry(*file);
  } else {
    const auto names = split_list(env_string("WORKER_MODELS", "espeak"));
    if (names.empty()) throw ConfigError("WORKER_MODELS lists no model");
    config.models = models::specs_from_names(names);
  }
  config.storage_root = storage_root_from_env();
  config.input_root =
      env_string("INPUT_ROOT", (std::filesystem::path(config.storage_root) / "inputs").string());
  config.voice_store =
      env_string("VOICE_STORE", (std::filesystem::path(config.storage_root) / "voices").string());
  if (config.voice_store == "off") {
    config.voice_store.clear();
  } else {
    config.voice_store = std::filesystem::absolute(config.voice_store).lexically_normal().string();
  }
  config.metrics_host = env_string("METRICS_HOST", "127.0.0.1");
  config.metrics_port = static_cast<uint16_t>(env_int("WORKER_METRICS_PORT", 0, 0, 65535));
  config.broker_curve_public_key = env_string("BROKER_CURVE_PUBLIC_KEY", "");
  config.curve_secret_key = curve_key_from_env("WORKER_CURVE_SECRET_KEY");
  if (config.broker_curve_public_key.empty() != config.curve_secret_key.empty()) {
    throw ConfigError("CURVE needs both BROKER_CURVE_PUBLIC_KEY and WORKER_CURVE_SECRET_KEY");
  }
  if (!config.curve_secret_key.empty() &&
      (!is_z85_key(config.broker_curve_public_key) || !curve_public_key(config.curve_secret_key))) {
    throw ConfigError("BROKER_CURVE_PUBLIC_KEY and WORKER_CURVE_SECRET_KEY must be 40-character Z85 keys");
  }
  return config;
}

namespace {

std::map<std::string, BatchPolicy> batch_policies(const std::vector<models::ModelSpec>& specs) {
  std::map<std::string, BatchPolicy> policies;
  for (const auto& spec : specs) {
    policies[spec.name] = BatchPolicy{spec.max_batch, std::chrono::milliseconds(spec.max_queue_delay_ms)};
  }
  return policies;
}

}  // namespace

Worker::Worker(WorkerConfig config, DeviceInfo device, std::unique_ptr<JobRunner> runner,
               std::vector<protocol::FailedModel> failed_models)
    : config_(std::move(config)),
      device_(std::move(device)),
      runner_(std::move(runner)),
      failed_models_(std::move(failed_models)),
      results_(context_, zmq::socket_type::pull),
      pending_(batch_policies(config_.models)) {
  results_.bind(kResultsEndpoint);
  metrics_.counter("gpufleet_worker_jobs_total",
                   "Jobs this worker ran, by model and outcome (ok or an error code)");
  metrics_.histogram("gpufleet_worker_job_seconds", "Time a job spent in its model call, by model",
                     MetricsRegistry::duration_buckets());
  metrics_.histogram("gpufleet_worker_batch_size", "Jobs per model call, by model", {1, 2, 4, 8, 16, 32, 64});
  metrics_.gauge("gpufleet_worker_slots", "Jobs this worker runs at once");
  metrics_.gauge("gpufleet_worker_busy_slots", "Slots running a model call now");
  metrics_.gauge("gpufleet_worker_held_jobs",
                 "Jobs this worker holds (waiting, running, or finished and unacknowledged)");
  metrics_.gauge("gpufleet_gpu_memory_reserved_bytes",
                 "Device memory held by LibTorch's allocator, by device");
  metrics_.set("gpufleet_worker_slots", {}, config_.slots);
  metrics_.set("gpufleet_worker_busy_slots", {}, 0);
  for (uint32_t i = 0; i < config_.slots; ++i) executors_.emplace_back([this] { executor_loop(); });
}

Worker::~Worker() {
  {
    std::lock_guard lock(mutex_);
    shutting_down_ = true;
  }
  work_ready_.notify_all();
  for (auto& thread : executors_) thread.join();
}

void Worker::connect() {
  broker_ = std::make_unique<zmq::socket_t>(broker_context_, zmq::socket_type::dealer);
  broker_->set(zmq::sockopt::routing_id, config_.worker_id);
  broker_->set(zmq::sockopt::linger, 0);
  broker_->set(zmq::sockopt::reconnect_ivl, 100);
  broker_->set(zmq::sockopt::reconnect_ivl_max, 2000);
  if (!config_.curve_secret_key.empty()) {
    broker_->set(zmq::sockopt::curve_serverkey, config_.broker_curve_public_key);
    broker_->set(zmq::sockopt::curve_publickey, *curve_public_key(config_.curve_secret_key));
    broker_->set(zmq::sockopt::curve_secretkey, config_.curve_secret_key);
  }
  broker_->connect(config_.broker_endpoint);
  broker_seen_ = SteadyClock::now();
  send_ready();
}

void Worker::send_ready() {
  protocol::Ready ready;
  ready.worker_id = config_.worker_id;
  ready.host = host_name();
  ready.pid = static_cast<int32_t>(::getpid());
  ready.device = device_.type;
  ready.device_name = device_.name;
  ready.slots = config_.slots;
  ready.models = runner_->model_infos();
  for (auto& model : ready.models) model.max_batch = pending_.policy(model.name).max_batch;
  ready.version = "0.2.0";
  ready.heartbeat_ms = static_cast<uint32_t>(config_.heartbeat.count());
  for (const auto& [key, held] : held_) ready.held.push_back(protocol::HeldJob{held.job_id, held.attempt});
  ready.failed_models = failed_models_;
  send_message(*broker_, MessageType::kReady, ready);
  next_heartbeat_ = SteadyClock::now() + config_.heartbeat;
  // The broker learns what this worker holds first, then gets the results it has not acknowledged.
  resend_unacknowledged(true);
}

void Worker::send_heartbeat() {
  metrics_.set("gpufleet_worker_held_jobs", {}, static_cast<double>(held_.size()));
  metrics_.set("gpufleet_worker_busy_slots", {}, busy_slots_.load());
  if (memory_probe_) {
    if (auto bytes = memory_probe_())
      metrics_.set("gpufleet_gpu_memory_reserved_bytes", {{"device", device_.name}},
                   static_cast<double>(*bytes));
  }
  protocol::Heartbeat heartbeat{
      static_cast<uint32_t>(held_.size()), draining_, {}, runner_->voices_in_memory()};
  const auto now = SteadyClock::now();
  for (auto& [key, held] : held_) {
    // A job renews its lease while it waits in this worker's queue, while it (or its batch) makes progress,
    // and once finished until its result is acknowledged.
    if (held.finished || held.context->waiting() || now - held.context->last_progress() < held.lease) {
      heartbeat.renew.push_back(held.job_id);
    }
    const auto [done, total] = held.context->reported();
    if (!held.finished && total > 0 && done != held.progress_sent) {
      heartbeat.progress.push_back(protocol::JobProgress{held.job_id, held.attempt, done, total});
      held.progress_sent = done;
    }
  }
  send_message(*broker_, MessageType::kHeartbeat, heartbeat);
  next_heartbeat_ = now + config_.heartbeat;
}

void Worker::resend_unacknowledged(bool all) {
  const auto now = SteadyClock::now();
  for (auto& [key, held] : held_) {
    if (held.finished && (all || now - held.sent_at > config_.heartbeat * config_.liveness)) send_result(key);
  }
}

void Worker::send_result(const std::string& key) {
  Held& held = held_.at(key);
  broker_->send(zmq::buffer(protocol::encode_header(MessageType::kJobResult)), zmq::send_flags::sndmore);
  broker_->send(zmq::buffer(held.result_body), zmq::send_flags::none);
  held.sent_at = SteadyClock::now();
}

void Worker::run(const std::atomic<bool>& stop) {
  metrics_server_ =
      start_metrics_server(metrics_, config_.metrics_host, config_.metrics_port, "WORKER_METRICS_PORT");
  connect();
  spdlog::info("worker {} on {} (torch {}), {} slot(s), broker {}", config_.worker_id, device_.name,
               device_.torch_version, config_.slots, config_.broker_endpoint);
  std::vector<zmq::message_t> frames;
  SteadyClock::time_point drain_started{};
  SteadyClock::time_point drain_deadline{};
  SteadyClock::time_point next_resend = SteadyClock::now() + config_.heartbeat;
  while (true) {
    const auto now = SteadyClock::now();
    if (stop.load() && !draining_) {
      draining_ = true;
      drain_started = now;
      drain_deadline = now + config_.drain_grace;
      spdlog::info("draining: {} job(s) held, grace {} ms", held_.size(), config_.drain_grace.count());
      send_heartbeat();
    }
    // Without the broker's acknowledgment a job may still be on its way; a broker that stays silent that long
    // is gone, and its successor learns from Redis what was dispatched here.
    const bool nothing_in_flight =
        drain_acknowledged_ || now - drain_started >= config_.heartbeat * config_.liveness;
    if (draining_ && ((held_.empty() && nothing_in_flight) || now >= drain_deadline)) break;
    if (now - broker_seen_ > config_.heartbeat * config_.liveness) {
      spdlog::warn("broker silent for {} ms; reconnecting",
                   std::chrono::duration_cast<std::chrono::milliseconds>(now - broker_seen_).count());
      connect();
    }
    if (now >= next_heartbeat_) send_heartbeat();
    if (now >= next_resend) {
      resend_unacknowledged(false);
      next_resend = now + config_.heartbeat;
    }

    zmq::pollitem_t items[] = {{static_cast<void*>(*broker_), 0, ZMQ_POLLIN, 0},
                               {static_cast<void*>(results_), 0, ZMQ_POLLIN, 0}};
    auto wait = std::chrono::duration_cast<std::chrono::milliseconds>(next_heartbeat_ - SteadyClock::now());
    wait = std::clamp(wait, std::chrono::milliseconds(0), std::chrono::milliseconds(100));
    try {
      zmq::poll(items, 2, wait);
    } catch (const zmq::error_t& error) {
      if (error.num() == EINTR) continue;
      throw;
    }
    for (int i = 0; i < 1024; ++i) {
      frames.clear();
      if (!zmq::recv_multipart(results_, std::back_inserter(frames), zmq::recv_flags::dontwait)) break;
      on_result(frames);
    }
    for (int i = 0; i < 1024; ++i) {
      frames.clear();
      if (!zmq::recv_multipart(*broker_, std::back_inserter(frames), zmq::recv_flags::dontwait)) break;
      on_broker_message(frames);
    }
  }
  if (!held_.empty()) {
    spdlog::warn(
        "grace period over with {} job(s) unfinished or unacknowledged; the broker requeues what is not "
        "recorded",
        held_.size());
    // Stop the models at their next check: their results would not be sent any more.
    for (auto& [key, held] : held_) held.context->cancel(ErrorCode::kWorkerLost);
  }
  send_message(*broker_, MessageType::kGoodbye, protocol::Goodbye{"shutting down"});
  // The goodbye gets half a second to leave: terminating the link's own context waits for it.
  broker_->set(zmq::sockopt::linger, 500);
  broker_.reset();
  broker_context_.close();
  spdlog::info("worker {} stopped", config_.worker_id);
}

void Worker::on_broker_message(std::vector<zmq::message_t>& frames) {
  broker_seen_ = SteadyClock::now();
  try {
    if (frames.size() != 2) throw ProtocolError("expected 2 frames, got " + std::to_string(frames.size()));
    const auto header = protocol::decode_header(frames[0].to_string_view());
    const auto body = frames[1].to_string_view();
    switch (header.type) {
      case MessageType::kJob:
        on_job(protocol::decode_body<protocol::Job>(body));
        break;
      case MessageType::kCancel:
        on_cancel(protocol::decode_body<protocol::Cancel>(body));
        break;
      case MessageType::kResultAck:
        on_ack(protocol::decode_body<protocol::ResultAck>(body));
        break;
      case MessageType::kHeartbeat:
        // The link is ordered: whatever the broker sent before acknowledging the drain has arrived already.
        if (draining_ && protocol::decode_body<protocol::Heartbeat>(body).draining)
          drain_acknowledged_ = true;
        break;
      case MessageType::kReconnect:
        spdlog::info("broker asked this worker to register again");
        send_ready();
        break;
      default:
        throw ProtocolError(std::string(protocol::to_string(header.type)) + " is not sent to a worker");
    }
  } catch (const ProtocolError& error) {
    spdlog::warn("dropping a message from the broker: {}", error.what());
  }
}

void Worker::on_job(protocol::Job job) {
  const std::string key = held_key(job.job_id, job.attempt);
  if (held_.count(key) != 0) {
    spdlog::warn("job {} attempt {} received again while held; ignored", job.job_id, job.attempt);
    return;
  }
  if (draining_ && drain_acknowledged_) {
    // Cannot happen with an ordered link; if it does, the goodbye hands it back unstarted.
    spdlog::warn("job {} arrived after the broker acknowledged the drain; left for the broker to requeue",
                 job.job_id);
    return;
  }
  // A job that arrives while draining was sent before the broker heard of it: it is run like any other, which
  // costs less than a requeue and keeps its attempt.
  auto context = std::make_shared<models::JobContext>(job.deadline_ms);
  held_.emplace(key, Held{job.job_id,
                          job.attempt,
                          context,
                          std::chrono::milliseconds(job.lease_ms == 0 ? 30000 : job.lease_ms),
                          false,
                          {},
                          {}});
  spdlog::debug("job {} attempt {} model {}", job.job_id, job.attempt, job.model);
  {
    std::lock_guard lock(mutex_);
    pending_.push(PendingJob{std::move(job), std::move(context), SteadyClock::now()});
  }
  work_ready_.notify_one();
}

void Worker::on_cancel(const protocol::Cancel& cancel) {
  auto held = held_.find(held_key(cancel.job_id, cancel.attempt));
  if (held == held_.end() || held->second.finished) return;
  const auto reason = parse_error_code(cancel.reason).value_or(ErrorCode::kCancelled);
  spdlog::info("job {} attempt {}: stopping ({})", cancel.job_id, cancel.attempt, to_string(reason));
  held->second.context->cancel(reason);
}

void Worker::on_ack(const protocol::ResultAck& ack) {
  auto held = held_.find(held_key(ack.job_id, ack.attempt));
  if (held == held_.end() || !held->second.finished) return;
  if (!ack.accepted) {
    // The attempt was no longer the job's (its lease ran out, it was cancelled or expired): its output must
    // not stay where a client could mistake it for the job's result.
    try {
      const auto result = protocol::decode_body<protocol::JobResult>(held->second.result_body);
      for (const auto& path : runner_->files_of_attempt(result.result_json, ack.job_id, ack.attempt)) {
        std::error_code ignored;
        std::filesystem::remove(path, ignored);
        spdlog::info("removed {} of refused job {} attempt {}", path.string(), ack.job_id, ack.attempt);
      }
    } catch (const std::exception& error) {
      spdlog::warn("cannot clean up refused job {}: {}", ack.job_id, error.what());
    }
  }
  held_.erase(held);
}

void Worker::on_result(std::vector<zmq::message_t>& frames) {
  // Frames come from our own executors: [held key][encoded JOB_RESULT].
  auto held = held_.find(frames[0].to_string());
  if (held == held_.end()) return;
  held->second.finished = true;
  held->second.result_body = frames[1].to_string();
  send_result(held->first);
}

void Worker::executor_loop() {
  zmq::socket_t out(context_, zmq::socket_type::push);
  out.set(zmq::sockopt::linger, 0);
  out.connect(kResultsEndpoint);
  while (true) {
    std::vector<PendingJob> batch;
    {
      std::unique_lock lock(mutex_);
      while (true) {
        if (shutting_down_) {
          if (auto any = pending_.take_any()) batch = std::move(*any);
          if (batch.empty()) return;
          break;
        }
        SteadyClock::time_point next_check;
        if (auto ready = pending_.take(SteadyClock::now(), &next_check)) {
          batch = std::move(*ready);
          break;
        }
        if (next_check == SteadyClock::time_point::max()) {
          work_ready_.wait(lock);
        } else {
          work_ready_.wait_until(lock, next_check);
        }
      }
      // Another executor may find the rest ready (or start its own wait for a batch to fill).
      if (!pending_.empty()) work_ready_.notify_one();
    }
    run_batch(std::move(batch), out);
  }
}

// The worker's side of a running batch: newcomers of its model come from the queue while it has room, and
// each result goes to the I/O thread the moment it is done.
class Worker::BatchRun final : public JobRunner::TaskSource {
 public:
  BatchRun(Worker& worker, zmq::socket_t& out) : worker_(worker), out_(out) {}
  ~BatchRun() override {
    if (joining_.empty()) return;
    {
      std::lock_guard lock(worker_.mutex_);
      for (const auto& model : joining_) worker_.pending_.close_join(model);
    }
    worker_.work_ready_.notify_all();  // this model's waiting jobs are any executor's again
  }

  // Takes over jobs from the queue (these and any that join); their tasks point into them.
  std::vector<JobRunner::Task> adopt(std::vector<PendingJob> jobs) {
    std::vector<JobRunner::Task> tasks;
    for (auto& job : jobs) {
      job.context->start(progress_);  // the lease now counts on the batch's progress
      jobs_.push_back(std::move(job));
      tasks.push_back(JobRunner::Task{&jobs_.back().job, jobs_.back().context.get()});
    }
    return tasks;
  }

  std::vector<JobRunner::Task> more(const std::string& model, size_t running) override {
    std::vector<PendingJob> joined;
    {
      std::lock_guard lock(worker_.mutex_);
      if (joining_.insert(model).second) worker_.pending_.open_join(model);
      const uint32_t max_batch = worker_.pending_.policy(model).max_batch;
      if (running < max_batch) joined = worker_.pending_.join(model, max_batch - running);
    }
    return adopt(std::move(joined));
  }

  void done(const JobRunner::Task& task, protocol::JobResult result) override {
    const std::string& model = task.job->model;
    auto& metrics = worker_.metrics_;
    metrics.increment("gpufleet_worker_jobs_total",
                      {{"model", model}, {"outcome", result.ok ? "ok" : result.error_code}});
    metrics.observe("gpufleet_worker_job_seconds", {{"model", model}}, result.run_ms / 1000.0);
    out_.send(zmq::buffer(held_key(task.job->job_id, task.job->attempt)), zmq::send_flags::sndmore);
    out_.send(zmq::buffer(protocol::encode_body(result)), zmq::send_flags::none);
  }

  // Jobs in the batch so far, those that joined included.
  size_t size() const { return jobs_.size(); }

 private:
  Worker& worker_;
  zmq::socket_t& out_;
  std::shared_ptr<models::JobContext::SharedProgress> progress_ =
      std::make_shared<models::JobContext::SharedProgress>(0);
  std::list<PendingJob> jobs_;  // a list: tasks point into it
  std::set<std::string> joining_;
};

void Worker::run_batch(std::vector<PendingJob> batch, zmq::socket_t& out) {
  if (batch.empty()) return;
  const std::string model = batch.front().job.model;
  BatchRun run(*this, out);
  const auto tasks = run.adopt(std::move(batch));
  ++busy_slots_;
  runner_->run_continuous(tasks, run);
  --busy_slots_;
  metrics_.observe("gpufleet_worker_batch_size", {{"model", model}}, static_cast<double>(run.size()));
}

}  // namespace gpufleet::worker
