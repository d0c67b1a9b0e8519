#include "broker/broker.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>

#include "broker/recovery.hpp"
#include "broker/retry_policy.hpp"
#include "broker/stages.hpp"
#include "common/config.hpp"
#include "common/error.hpp"
#include "common/files.hpp"

namespace gpufleet::broker {

using protocol::MessageType;

namespace {
constexpr const char* kWakeEndpoint = "inproc://submissions";
}  // namespace

BrokerConfig BrokerConfig::from_env() {
  BrokerConfig config;
  const auto port = env_int("BROKER_PORT", kDefaultBrokerPort, 1, 65535);
  config.bind_endpoint = env_string(
      "BROKER_BIND", "tcp://" + env_string("BROKER_HOST", "127.0.0.1") + ":" + std::to_string(port));
  config.heartbeat = std::chrono::milliseconds(env_int("HEARTBEAT_MS", 1000, 10, 60000));
  config.liveness = static_cast<int>(env_int("HEARTBEAT_LIVENESS", 3, 2, 100));
  config.lease = std::chrono::milliseconds(env_int("LEASE_MS", 30000, 50, 24LL * 3600 * 1000));
  config.reconcile = std::chrono::milliseconds(env_int("RECONCILE_MS", 10000, 100, 24LL * 3600 * 1000));
  config.max_attempts = static_cast<uint32_t>(env_int("MAX_ATTEMPTS", 3, 1, 100));
  config.poison_after = static_cast<uint32_t>(env_int("POISON_AFTER", 2, 1, 100));
  config.retention_s = job_ttl_from_env();
  config.redis = redis_endpoint_from_env();
  config.metrics_host = env_string("METRICS_HOST", "127.0.0.1");
  config.metrics_port = static_cast<uint16_t>(env_int("BROKER_METRICS_PORT", 9101, 0, 65535));
  config.curve_secret_key = curve_key_from_env("BROKER_CURVE_SECRET_KEY");
  if (!config.curve_secret_key.empty()) {
    const auto clients = env_value("BROKER_CURVE_CLIENTS_FILE");
    if (!clients)
      throw ConfigError("a CURVE broker needs BROKER_CURVE_CLIENTS_FILE: the worker keys it admits");
    auto text = read_file(*clients, 1 << 20);
    if (!text) throw ConfigError("BROKER_CURVE_CLIENTS_FILE cannot be read: " + *clients);
    config.curve_clients_text = *text;
  }
  config.allow_plaintext = env_string("BROKER_ALLOW_PLAINTEXT", "0") == "1";
  return config;
}

Broker::Broker(BrokerConfig config)
    : config_(std::move(config)),
      socket_(context_, zmq::socket_type::router),
      wake_(context_, zmq::socket_type::pull),
      zap_(context_, zmq::socket_type::rep),
      status_(config_.redis, config_.retention_s) {
  if (!config_.curve_secret_key.empty()) {
    if (!is_z85_key(config_.curve_secret_key))
      throw ConfigError("BROKER_CURVE_SECRET_KEY is not a 40-character Z85 key");
    curve_clients_ = CurveClients::parse(config_.curve_clients_text);
    admission_ = Admission(&curve_clients_);
    // The ZAP handler must be bound before a CURVE socket accepts anyone, or libzmq admits without asking.
    zap_.bind("inproc://zeromq.zap.01");
    socket_.set(zmq::sockopt::curve_server, true);
    socket_.set(zmq::sockopt::curve_secretkey, config_.curve_secret_key);
    socket_.set(zmq::sockopt::zap_domain, "gpufleet");
    // Another admitted key must not take over a registered worker's route by connecting under its id: the
    // route stays with the connection that has it. ZMTP heartbeats drop a dead link's connection within
    // seconds, so the real worker reconnecting after a network cut gets its route back.
    socket_.set(zmq::sockopt::router_handover, 0);
    socket_.set(zmq::sockopt::heartbeat_ivl, 1000);
    socket_.set(zmq::sockopt::heartbeat_timeout, 3000);
  } else {
    // Plain TCP (loopback or a private network, where anyone reaching the port may join anyway): a worker
    // that reconnects under the same id takes over its identity instead of being ignored.
    socket_.set(zmq::sockopt::router_handover, 1);
  }
  socket_.set(zmq::sockopt::linger, 0);
  socket_.set(zmq::sockopt::sndhwm, 0);
  socket_.set(zmq::sockopt::rcvhwm, 0);
  wake_.bind(kWakeEndpoint);
  declare_metrics();
  status_.set_metrics(&metrics_);
}

void Broker::declare_metrics() {
  metrics_.counter("gpufleet_jobs_total", "Jobs that reached a final state, by kind, model and state");
  metrics_.counter("gpufleet_jobs_dispatched_total", "Attempts sent to workers, by model");
  metrics_.counter("gpufleet_jobs_poisoned_total",
                   "Jobs failed as poison: their worker was lost POISON_AFTER times");
  metrics_.counter("gpufleet_jobs_requeued_total", "Attempts put back on their queue, by model and reason");
  metrics_.histogram("gpufleet_job_queue_seconds", "Time from submission to dispatch, by model",
                     MetricsRegistry::duration_buckets());
  metrics_.histogram("gpufleet_job_run_seconds", "Time a worker spent on a job's final attempt, by model",
                     MetricsRegistry::duration_buckets());
  metrics_.gauge("gpufleet_queue_depth", "Jobs waiting, by model");
  metrics_.gauge("gpufleet_queue_oldest_age_seconds", "Age of the oldest waiting job, by model");
  metrics_.gauge("gpufleet_queue_backlog_seconds",
                 "Estimated worker-seconds of waiting work (depth x recent mean run time), by model");
  metrics_.gauge("gpufleet_jobs_running", "Jobs running on workers");
  metrics_.gauge("gpufleet_workers", "Registered workers, by device kind and state");
  metrics_.gauge("gpufleet_worker_slots", "Job slots of registered workers, by device kind");
}

void Broker::update_gauges() {
  const int64_t now_ms = unix_ms();
  metrics_.clear("gpufleet_queue_depth");
  metrics_.clear("gpufleet_queue_oldest_age_seconds");
  metrics_.clear("gpufleet_queue_backlog_seconds");
  const auto oldest = dispatcher_.oldest_queued_ms();
  auto depths = dispatcher_.queue_depths();
  // Every served model has its series, at 0 when nothing waits: autoscalers read a number, not an absence.
  for (const auto& [model, summary] : dispatcher_.models()) depths.try_emplace(model, 0);
  for (const auto& [model, depth] : depths) {
    metrics_.set("gpufleet_queue_depth", {{"model", model}}, static_cast<double>(depth));
    auto first = oldest.find(model);
    metrics_.set("gpufleet_queue_oldest_age_seconds", {{"model", model}},
                 first == oldest.end()
                     ? 0.0
                     : std::max<double>(0, static_cast<double>(now_ms - first->second) / 1000.0));
    auto mean = mean_run_s_.find(model);
    metrics_.set("gpufleet_queue_backlog_seconds", {{"model", model}},
                 static_cast<double>(depth) * (mean == mean_run_s_.end() ? 0.0 : mean->second));
  }
  metrics_.set("gpufleet_jobs_running", {}, static_cast<double>(dispatcher_.running()));
  std::map<std::pair<std::string, std::string>, double> workers;
  std::map<std::string, double> slots;
  for (const auto& [id, worker] : dispatcher_.workers()) {
    const std::string device = worker.ready.device.substr(0, worker.ready.device.find(':'));
    workers[{device, worker.draining ? "draining" : "up"}] += 1;
    slots[device] += worker.ready.slots;
  }
  metrics_.clear("gpufleet_workers");
  metrics_.clear("gpufleet_worker_slots");
  for (const auto& [key, count] : workers)
    metrics_.set("gpufleet_workers", {{"device", key.first}, {"state", key.second}}, count);
  for (const auto& [device, count] : slots)
    metrics_.set("gpufleet_worker_slots", {{"device", device}}, count);
}

Broker::~Broker() = default;

template <typename T>
void Broker::send(const std::string& identity, MessageType type, const T& body) {
  // ROUTER drops messages to unknown or vanished peers silently, and never blocks here (no HWM).
  socket_.send(zmq::buffer(identity), zmq::send_flags::sndmore);
  socket_.send(zmq::buffer(protocol::encode_header(type)), zmq::send_flags::sndmore);
  socket_.send(zmq::buffer(protocol::encode_body(body)), zmq::send_flags::none);
}

bool Broker::recover() {
  try {
    RecoveredState state = recover_state(status_.client(), RedisKeys(config_.redis.prefix));
    const auto orphan_deadline = SteadyClock::now() + config_.lease + config_.heartbeat * config_.liveness;
    for (auto& job : state.queued) dispatcher_.enqueue(std::move(job));
    // Worker ids stay bound to their keys across restarts; a key taken out of the clients file frees its ids
    // (rotating a worker's key: replace it in the file and restart the broker).
    for (const auto& worker : admission_.restore(std::move(state.worker_keys)))
      status_.bind_worker(worker, "");
    const size_t running = state.running.size();
    for (auto& assignment : state.running) dispatcher_.add_orphan(std::move(assignment), orphan_deadline);
    reader_ =
        std::make_unique<SubmissionReader>(config_.redis, context_, kWakeEndpoint, state.stream_position);
    next_reconcile_ = SteadyClock::now() + config_.reconcile;  // everything was just read
    spdlog::info(
        "recovered from redis: {} queued, {} running awaiting their workers; following submissions after {}",
        dispatcher_.queued(), running, state.stream_position);
    return true;
  } catch (const RedisError& error) {
    spdlog::error("cannot read the job store yet, retrying: {}", error.what());
    status_.client().disconnect();
    return false;
  }
}

void Broker::run(const std::atomic<bool>& stop) {
  const bool loopback = config_.bind_endpoint.rfind("tcp://127.", 0) == 0 ||
                        config_.bind_endpoint.rfind("tcp://localhost:", 0) == 0 ||
                        config_.bind_endpoint.rfind("ipc://", 0) == 0 ||
                        config_.bind_endpoint.rfind("inproc://", 0) == 0;
  if (config_.curve_secret_key.empty() && !loopback && !config_.allow_plaintext) {
    throw ConfigError("refusing plain TCP on " + config_.bind_endpoint +
                      ": set BROKER_CURVE_SECRET_KEY and BROKER_CURVE_CLIENTS_FILE (gpufleet keys curve), or "
                      "BROKER_ALLOW_PLAINTEXT=1 on a private network");
  }
  socket_.bind(config_.bind_endpoint);
  if (!config_.curve_secret_key.empty()) {
    spdlog::info("CURVE on: {} worker key(s) admitted", curve_clients_.size());
  } else if (!loopback) {
    spdlog::warn("plain TCP on {} (BROKER_ALLOW_PLAINTEXT=1): anyone who reaches it can join as a worker",
                 config_.bind_endpoint);
  }
  metrics_server_ =
      start_metrics_server(metrics_, config_.metrics_host, config_.metrics_port, "BROKER_METRICS_PORT");
  status_.reset_catalog();
  spdlog::info("broker listening on {} (heartbeat {} ms, liveness {}, lease {} ms), redis {}",
               config_.bind_endpoint, config_.heartbeat.count(), config_.liveness, config_.lease.count(),
               config_.redis.describe());
  std::vector<zmq::message_t> frames;
  zmq::pollitem_t items[] = {{static_cast<void*>(socket_), 0, ZMQ_POLLIN, 0},
                             {static_cast<void*>(wake_), 0, ZMQ_POLLIN, 0},
                             {static_cast<void*>(zap_), 0, ZMQ_POLLIN, 0}};
  const int poll_count = config_.curve_secret_key.empty() ? 2 : 3;
  while (!stop.load()) {
    if (!recovered_ && SteadyClock::now() >= next_recovery_attempt_) {
      recovered_ = recover();
      next_recovery_attempt_ = SteadyClock::now() + std::chrono::milliseconds(500);
    }
    auto wait = std::chrono::duration_cast<std::chrono::milliseconds>(next_tick_ - SteadyClock::now());
    if (status_.backlog() > 0) wait = std::min(wait, std::chrono::milliseconds(50));
    wait = std::clamp(wait, std::chrono::milliseconds(0), std::chrono::milliseconds(200));
    try {
      zmq::poll(items, poll_count, wait);
    } catch (const zmq::error_t& error) {
      if (error.num() == EINTR) continue;
      throw;
    }
    if (poll_count == 3 && (items[2].revents & ZMQ_POLLIN) != 0) answer_zap();
    // Drain a batch before deciding, so dispatch and the Redis round trip are shared by many messages.
    for (int i = 0; i < 4096; ++i) {
      frames.clear();
      auto received = zmq::recv_multipart(socket_, std::back_inserter(frames), zmq::recv_flags::dontwait);
      if (!received) break;
      handle(frames);
    }
    zmq::message_t nudge;
    while (wake_.recv(nudge, zmq::recv_flags::dontwait)) {
    }
    if (reader_) {
      for (auto& submission : reader_->take()) on_submission(std::move(submission));
    }
    // While Redis is down nothing new is dispatched: a dispatch is recorded before the job is sent.
    if (recovered_ && status_.healthy()) dispatch();
    if (SteadyClock::now() >= next_tick_) tick();
    if (recovered_ && status_.healthy() && SteadyClock::now() >= next_reconcile_) reconcile();
    status_.flush();
  }
  spdlog::info("broker stopping: {} queued, {} running (all recorded in redis)", dispatcher_.queued(),
               dispatcher_.running());
  reader_.reset();
  status_.snapshot(dispatcher_, config_.heartbeat.count());
  const auto deadline = SteadyClock::now() + std::chrono::seconds(2);
  while (!status_.flush() && SteadyClock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
}

void Broker::answer_zap() {
  std::vector<zmq::message_t> request;
  while (zmq::recv_multipart(zap_, std::back_inserter(request), zmq::recv_flags::dontwait)) {
    std::vector<std::string> frames;
    frames.reserve(request.size());
    for (auto& frame : request) frames.push_back(frame.to_string());
    const auto reply = zap_reply(frames, curve_clients_);
    if (reply[2] != "200")
      spdlog::warn("refused a CURVE connection from {}: {}", frames.size() > 3 ? frames[3] : "?", reply[3]);
    for (size_t i = 0; i < reply.size(); ++i) {
      zap_.send(zmq::buffer(reply[i]),
                i + 1 < reply.size() ? zmq::send_flags::sndmore : zmq::send_flags::none);
    }
    request.clear();
  }
}

std::string Broker::curve_user(zmq::message_t& frame) const {
  if (config_.curve_secret_key.empty()) return {};
  try {
    return frame.gets("User-Id");
  } catch (const zmq::error_t&) {
    return {};
  }
}

void Broker::handle(std::vector<zmq::message_t>& frames) {
  if (frames.size() != 3) {
    if (dropped_frames_++ % 1000 == 0)
      spdlog::warn("dropping a message of {} frames (expected 3)", frames.size());
    return;
  }
  const std::string identity = frames[0].to_string();
  // With CURVE, a worker identity belongs to the key that registered it: another key cannot speak for it.
  const std::string user = curve_user(frames[1]);
  if (admission_.check_sender(identity, user) != Admission::Verdict::kAdmit) {
    if (dropped_frames_++ % 1000 == 0)
      spdlog::warn("dropping a message for worker {} from another key", identity);
    return;
  }
  try {
    const auto header = protocol::decode_header(frames[1].to_string_view());
    const std::string_view body = frames[2].to_string_view();
    switch (header.type) {
      case MessageType::kReady: {
        auto ready = protocol::decode_body<protocol::Ready>(body);
        const auto admitted = admission_.admit_ready(identity, user, ready);
        if (admitted.verdict == Admission::Verdict::kTooManyIds) {
          if (dropped_frames_++ % 1000 == 0) {
            spdlog::warn("dropping READY of worker {}: key {} holds {} worker ids already", identity, user,
                         admission_.ids_of(user));
          }
          return;
        }
        if (admitted.newly_bound) status_.bind_worker(identity, user);
        on_ready(identity, ready);
        break;
      }
      case MessageType::kHeartbeat:
        on_heartbeat(identity, protocol::decode_body<protocol::Heartbeat>(body));
        break;
      case MessageType::kJobResult:
        on_result(identity, protocol::decode_body<protocol::JobResult>(body));
        break;
      case MessageType::kGoodbye:
        on_goodbye(identity);
        break;
      case MessageType::kJob:
      case MessageType::kReconnect:
      case MessageType::kCancel:
      case MessageType::kResultAck:
        throw ProtocolError(std::string(protocol::to_string(header.type)) + " is not sent to a broker");
    }
  } catch (const ProtocolError& error) {
    if (dropped_frames_++ % 1000 == 0) {
      spdlog::warn("dropping a message from peer of {} bytes id: {}", identity.size(), error.what());
    }
  } catch (const RedisError&) {
    throw;  // the loop's own handling: Redis is down, which is not the peer's doing
  } catch (const std::exception& error) {
    // Whatever a peer's message led to, the broker keeps serving the others.
    spdlog::error("a message from a peer failed: {}", error.what());
  }
}

void Broker::on_submission(Submission submission) {
  if (submission.op == Submission::Op::kSubmit) {
    if (submission.job && is_valid_job_id(submission.job->id))
      dispatcher_.enqueue(std::move(*submission.job));
    return;
  }
  // A cancellation: the gateway has already ended a queued job in Redis; a running one is stopped on its
  // host.
  if (dispatcher_.remove_queued(submission.job_id)) return;
  dispatcher_.mark_cancel_requested(submission.job_id);
  if (const Assignment* assignment = dispatcher_.find_running(submission.job_id)) {
    spdlog::info("cancelling job {} on worker {}", submission.job_id, assignment->worker_id);
    send_cancel(*assignment, ErrorCode::kCancelled);
  }
}

void Broker::send_cancel(const Assignment& assignment, ErrorCode reason) {
  send(assignment.worker_id, MessageType::kCancel,
       protocol::Cancel{assignment.job.id, assignment.attempt, std::string(to_string(reason))});
}

void Broker::on_ready(const std::string& identity, const protocol::Ready& ready) {
  if (ready.worker_id != identity)
    throw ProtocolError("READY whose worker_id differs from the socket identity");
  const bool known = dispatcher_.knows_worker(identity);
  auto registration = dispatcher_.add_worker(ready, SteadyClock::now(), config_.lease);
  for (auto& lost : registration.lost) {
    requeue_or_fail(std::move(lost), ErrorCode::kWorkerLost, "worker " + identity + " registered without it");
  }
  for (const auto& held : registration.unknown) {
    // Not this worker's to run (any more): stop it there. A result it still sends is judged by the job store.
    send(identity, MessageType::kCancel, protocol::Cancel{held.job_id, held.attempt, "lease_expired"});
  }
  const auto& worker = dispatcher_.workers().at(identity);
  for (const auto& [job_id, assignment] : worker.running) {
    if (assignment.job.cancel_requested) send_cancel(assignment, ErrorCode::kCancelled);
  }
  std::string models;
  for (const auto& model : ready.models) models += (models.empty() ? "" : ",") + model.name;
  spdlog::info("worker {} {} ({} on {}, {} slots, models {}, holding {})", identity,
               known ? "reconnected" : "joined", ready.device_name, ready.host, worker.ready.slots, models,
               ready.held.size());
  status_.worker_joined(worker);
  status_.snapshot(dispatcher_, config_.heartbeat.count());
}

void Broker::on_heartbeat(const std::string& identity, const protocol::Heartbeat& heartbeat) {
  const auto now = SteadyClock::now();
  if (!dispatcher_.touch(identity, now)) {
    send(identity, MessageType::kReconnect, protocol::Reconnect{"unknown worker"});
    return;
  }
  dispatcher_.set_draining(identity, heartbeat.draining);
  // Acknowledged at once: the worker leaves only after this, so nothing sent before it is lost on the way.
  if (heartbeat.draining) {
    send(identity, MessageType::kHeartbeat,
         protocol::Heartbeat{dispatcher_.workers().at(identity).busy(), true, {}, {}});
  }
  if (!heartbeat.renew.empty()) dispatcher_.renew(identity, heartbeat.renew, now + config_.lease);
  dispatcher_.set_voices(identity, heartbeat.voices);
  for (const auto& progress : heartbeat.progress) {
    // Recorded only for the attempt this worker holds now; the job store checks again against Redis.
    const Assignment* assignment = dispatcher_.find_running(progress.job_id);
    if (assignment == nullptr || assignment->worker_id != identity ||
        assignment->attempt != progress.attempt || !assignment->confirmed || progress.total == 0 ||
        progress.done > progress.total) {
      continue;
    }
    status_.record_progress(*assignment, progress.done, progress.total);
  }
}

void Broker::on_result(const std::string& identity, const protocol::JobResult& result) {
  if (!dispatcher_.knows_worker(identity)) {
    // It sends the result again after registering, when the broker knows what it holds.
    send(identity, MessageType::kReconnect, protocol::Reconnect{"unknown worker"});
    return;
  }
  if (!is_valid_job_id(result.job_id)) throw ProtocolError("JOB_RESULT with an invalid job id");
  dispatcher_.touch(identity, SteadyClock::now());
  auto assignment = dispatcher_.complete(identity, result.job_id, result.attempt);
  QueuedJob job;
  if (assignment) {
    job = assignment->job;
  } else {
    job.id = result.job_id;  // revoked or unknown here: the job store decides, events carry no kind/model
  }
  // Whether the job store took the result decides whether the worker keeps the attempt's output files.
  auto acknowledge = [this, identity, id = result.job_id, attempt = result.attempt](bool accepted) {
    if (!accepted) {
      spdlog::warn("refused a result for job {} attempt {} from worker {}: not the job's current attempt", id,
                   attempt, identity);
    }
    send(identity, MessageType::kResultAck, protocol::ResultAck{id, attempt, accepted});
  };

  if (result.ok && assignment) {
    StageStep step = step_after_success(job, result.attempt, result.result_json);
    if (step.kind == StageStep::Kind::kNext)
      return advance(job, result, identity, std::move(step.next), acknowledge);
    if (step.kind == StageStep::Kind::kBroken) {
      spdlog::error("job {}: {}", job.id, step.error);
      status_.record_final(
          job, JobState::kRunning, result.attempt, identity,
          {JobState::kFailed, {}, std::string(to_string(ErrorCode::kInternal)), step.error, result.run_ms},
          [acknowledge](job_store::FinishVerdict verdict) {
            acknowledge(job_store::result_accepted(verdict));
          });
      return;
    }
  }

  if (result.ok && assignment) {
    // A moving mean of recent runs, so the backlog estimate follows the model's current speed.
    auto [mean, fresh] = mean_run_s_.try_emplace(job.model, result.run_ms / 1000.0);
    if (!fresh) mean->second += 0.2 * (result.run_ms / 1000.0 - mean->second);
  }

  StatusWriter::Outcome outcome;
  outcome.run_ms = result.run_ms;
  if (result.ok) {
    outcome.state = JobState::kSucceeded;
    outcome.result_json = result.result_json;
  } else {
    const RetryDecision decision =
        after_failure(result.error_code, result.error_message, identity, assignment.has_value(),
                      job.stage_attempt(result.attempt), retry_limits());
    outcome.state = decision.state;
    outcome.error_code = std::string(to_string(decision.code));
    outcome.error_message = decision.message;
    if (decision.kind == RetryDecision::Kind::kRequeue) {
      job.attempts = result.attempt;
      if (decision.avoid_worker) job.avoid_worker = identity;
      metrics_.increment("gpufleet_jobs_requeued_total",
                         {{"model", job.model}, {"reason", outcome.error_code}});
      status_.record_requeue(job, result.attempt, outcome.error_code, decision.message,
                             [acknowledge](job_store::RequeueVerdict verdict) {
                               acknowledge(job_store::result_accepted(verdict));
                             });
      dispatcher_.requeue(std::move(job));
      return;
    }
  }
  status_.record_final(
      job, JobState::kRunning, result.attempt, identity, outcome,
      [acknowledge](job_store::FinishVerdict verdict) { acknowledge(job_store::result_accepted(verdict)); });
}

// A pipeline's stage succeeded: the job store keeps the stage's result and queues the job as its next stage;
// only once that is recorded does the dispatcher hold the next stage (a restart finds it in Redis either
// way).
void Broker::advance(const QueuedJob& job, const protocol::JobResult& result, const std::string& identity,
                     QueuedJob next, std::function<void(bool accepted)> acknowledge) {
  spdlog::info("job {} stage {} done on worker {}; queued as stage {} ({} {})", job.id, job.stage, identity,
               next.stage, next.kind, next.model);
  status_.record_advance(
      job, result.attempt, identity, result.result_json, next,
      [this, next, acknowledge = std::move(acknowledge)](job_store::AdvanceVerdict verdict) mutable {
        if (verdict == job_store::AdvanceVerdict::kAdvanced) {
          dispatcher_.enqueue(std::move(next));
        } else if (verdict == job_store::AdvanceVerdict::kCancelled) {
          spdlog::info("job {} cancelled between stages", next.id);
        }
        acknowledge(job_store::result_accepted(verdict));
      });
}

void Broker::on_goodbye(const std::string& identity) {
  if (dispatcher_.knows_worker(identity)) lose_worker(identity, "worker said goodbye");
}

void Broker::lose_worker(const std::string& worker_id, const std::string& reason) {
  // admission_ keeps the id bound to the key that first registered it: another key cannot take it over once
  // the worker is gone either.
  auto assignments = dispatcher_.remove_worker(worker_id);
  spdlog::warn("worker {} removed ({}); {} job(s) back to the queue", worker_id, reason, assignments.size());
  for (auto& assignment : assignments) {
    requeue_or_fail(std::move(assignment), ErrorCode::kWorkerLost,
                    "worker " + worker_id + " lost: " + reason);
  }
  status_.worker_left(worker_id, reason);
}

void Broker::requeue_or_fail(Assignment assignment, ErrorCode code, const std::string& reason) {
  QueuedJob job = std::move(assignment.job);
  job.attempts = assignment.attempt;
  if (code == ErrorCode::kWorkerLost) ++job.worker_losses;
  const RetryDecision decision =
      after_lost_attempt(code, reason, assignment.attempt, job.stage_attempt(assignment.attempt),
                         job.worker_losses, retry_limits());
  if (decision.kind == RetryDecision::Kind::kFinal) {
    if (decision.poisoned) {
      spdlog::warn("job {}: {} workers lost while running it; not offered again", job.id, job.worker_losses);
      metrics_.increment("gpufleet_jobs_poisoned_total", {{"model", job.model}});
    }
    StatusWriter::Outcome outcome;
    outcome.state = decision.state;
    outcome.error_code = std::string(to_string(decision.code));
    outcome.error_message = decision.message;
    status_.record_final(job, JobState::kRunning, assignment.attempt, assignment.worker_id, outcome);
    return;
  }
  metrics_.increment("gpufleet_jobs_requeued_total",
                     {{"model", job.model}, {"reason", std::string(to_string(code))}});
  status_.record_requeue(job, assignment.attempt, std::string(to_string(code)), reason);
  dispatcher_.requeue(std::move(job));
}

void Broker::dispatch() {
  for (auto& assignment : dispatcher_.dispatch()) {
    status_.record_dispatch(assignment, [this, assignment](job_store::DispatchVerdict verdict) {
      if (verdict.kind == job_store::DispatchVerdict::Kind::kSend) {
        if (!dispatcher_.confirm(assignment.worker_id, assignment.job.id, assignment.attempt,
                                 SteadyClock::now() + config_.lease)) {
          return;  // its worker was lost meanwhile; that path requeued it
        }
        metrics_.increment("gpufleet_jobs_dispatched_total", {{"model", assignment.job.model}});
        metrics_.observe(
            "gpufleet_job_queue_seconds", {{"model", assignment.job.model}},
            static_cast<double>(std::max<int64_t>(0, unix_ms() - assignment.job.created_ms)) / 1000.0);
        protocol::Job message{assignment.job.id,          assignment.attempt,
                              assignment.job.kind,        assignment.job.model,
                              assignment.job.input_json,  assignment.job.created_ms,
                              assignment.job.deadline_ms, static_cast<uint32_t>(config_.lease.count())};
        send(assignment.worker_id, MessageType::kJob, message);
        return;
      }
      if (verdict.kind == job_store::DispatchVerdict::Kind::kUnanswered)
        spdlog::error("job store refused to dispatch job {} (see the redis error above)", assignment.job.id);
      std::optional<uint32_t> attempts_done;
      if (verdict.kind == job_store::DispatchVerdict::Kind::kRecount) attempts_done = verdict.attempts_done;
      dispatcher_.retract(assignment.worker_id, assignment.job.id, assignment.attempt, attempts_done);
    });
  }
}

// The safety net under the submissions stream: a queued job the broker never heard of (its stream entry was
// trimmed before it was read, or Redis lost the stream's tail in a crash) is found in its queue set.
void Broker::reconcile() {
  next_reconcile_ = SteadyClock::now() + config_.reconcile;
  try {
    const auto found = find_unknown_queued(
        status_.client(), RedisKeys(config_.redis.prefix), dispatcher_.queue_depths(),
        [this](const std::string& id) { return dispatcher_.knows_job(id); }, unix_ms() - 2000);
    for (const auto& job : found) dispatcher_.enqueue(job);
    if (!found.empty())
      spdlog::warn("reconcile: {} queued job(s) found in redis that the broker did not hold", found.size());
  } catch (const RedisError& error) {
    spdlog::warn("reconcile skipped: {}", error.what());
    status_.client().disconnect();
  }
}

void Broker::tick() {
  const auto now = SteadyClock::now();
  next_tick_ = now + config_.heartbeat;
  const auto timeout = config_.heartbeat * config_.liveness;
  for (const auto& worker_id : dispatcher_.silent_workers(now, timeout)) {
    lose_worker(worker_id, "no heartbeat for " + std::to_string(timeout.count()) + " ms");
  }
  for (const auto& expired : dispatcher_.expired_leases(now)) {
    auto assignment = dispatcher_.revoke(expired.worker_id, expired.job.id);
    if (!assignment) continue;
    spdlog::warn("job {} attempt {}: lease on worker {} ran out (no progress for {} ms)", expired.job.id,
                 expired.attempt, expired.worker_id, config_.lease.count());
    send_cancel(*assignment, ErrorCode::kLeaseExpired);
    requeue_or_fail(std::move(*assignment), ErrorCode::kLeaseExpired,
                    "the lease on worker " + expired.worker_id + " ran out: no progress for " +
                        std::to_string(config_.lease.count()) + " ms");
  }
  const int64_t now_ms = unix_ms();
  for (const auto& late : dispatcher_.past_deadline(now_ms)) {
    auto assignment = dispatcher_.revoke(late.worker_id, late.job.id);
    if (!assignment) continue;
    send_cancel(*assignment, ErrorCode::kDeadlineExceeded);
    status_.record_final(assignment->job, JobState::kRunning, assignment->attempt, assignment->worker_id,
                         {JobState::kExpired,
                          {},
                          std::string(to_string(ErrorCode::kDeadlineExceeded)),
                          "the job's timeout ran out while it ran",
                          0});
  }
  for (const auto& job : dispatcher_.take_expired_queued(now_ms)) {
    status_.record_final(job, JobState::kQueued, job.attempts, "",
                         {JobState::kExpired,
                          {},
                          std::string(to_string(ErrorCode::kDeadlineExceeded)),
                          "the job's timeout ran out before a worker took it",
                          0});
  }
  for (auto& orphan : dispatcher_.take_expired_orphans(now)) {
    const std::string worker = orphan.worker_id;
    requeue_or_fail(std::move(orphan), ErrorCode::kWorkerLost,
                    "worker " + worker + " did not come back after the broker restarted");
  }
  for (const auto& [id, worker] : dispatcher_.workers()) {
    send(id, MessageType::kHeartbeat, protocol::Heartbeat{worker.busy(), worker.draining, {}});
  }
  status_.snapshot(dispatcher_, config_.heartbeat.count());
  update_gauges();
}

}  // namespace gpufleet::broker
