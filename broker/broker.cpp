#include "broker/broker.hpp"

#include <spdlog/spdlog.h>

#include "common/config.hpp"
#include "common/error.hpp"

namespace gpufleet::broker {

using protocol::MessageType;

BrokerConfig BrokerConfig::from_env() {
  BrokerConfig config;
  const auto port = env_int("BROKER_PORT", kDefaultBrokerPort, 1, 65535);
  config.bind_endpoint = env_string("BROKER_BIND", "tcp://" + env_string("BROKER_HOST", "127.0.0.1") + ":" +
                                                       std::to_string(port));
  config.heartbeat = std::chrono::milliseconds(env_int("HEARTBEAT_MS", 1000, 10, 60000));
  config.liveness = static_cast<int>(env_int("HEARTBEAT_LIVENESS", 3, 2, 100));
  config.max_attempts = static_cast<uint32_t>(env_int("MAX_ATTEMPTS", 3, 1, 100));
  config.retention_s = env_int("JOB_RETENTION_S", 7 * 24 * 3600, 0, 365LL * 24 * 3600);
  config.redis = redis_endpoint_from_env();
  return config;
}

Broker::Broker(BrokerConfig config)
    : config_(std::move(config)), socket_(context_, zmq::socket_type::router),
      status_(config_.redis, config_.retention_s) {
  socket_.set(zmq::sockopt::linger, 0);
  // A worker that reconnects under the same id takes over its identity instead of being ignored.
  socket_.set(zmq::sockopt::router_handover, 1);
  socket_.set(zmq::sockopt::sndhwm, 0);
  socket_.set(zmq::sockopt::rcvhwm, 0);
}

template <typename T>
void Broker::send(const std::string& identity, MessageType type, const T& body) {
  // ROUTER drops messages to unknown or vanished peers silently, and never blocks here (no HWM).
  socket_.send(zmq::buffer(identity), zmq::send_flags::sndmore);
  socket_.send(zmq::buffer(protocol::encode_header(type)), zmq::send_flags::sndmore);
  socket_.send(zmq::buffer(protocol::encode_body(body)), zmq::send_flags::none);
}

void Broker::run(const std::atomic<bool>& stop) {
  socket_.bind(config_.bind_endpoint);
  status_.reset_catalog();
  spdlog::info("broker listening on {} (heartbeat {} ms, liveness {}), redis {}", config_.bind_endpoint,
               config_.heartbeat.count(), config_.liveness, config_.redis.describe());
  std::vector<zmq::message_t> frames;
  zmq::pollitem_t items[] = {{static_cast<void*>(socket_), 0, ZMQ_POLLIN, 0}};
  while (!stop.load()) {
    auto wait = std::chrono::duration_cast<std::chrono::milliseconds>(next_tick_ - SteadyClock::now());
    if (status_.backlog() > 0) wait = std::min(wait, std::chrono::milliseconds(50));
    wait = std::clamp(wait, std::chrono::milliseconds(0), std::chrono::milliseconds(200));
    try {
      zmq::poll(items, 1, wait);
    } catch (const zmq::error_t& error) {
      if (error.num() == EINTR) continue;
      throw;
    }
    // Drain a batch before deciding, so dispatch and the Redis round trip are shared by many messages.
    for (int i = 0; i < 4096; ++i) {
      frames.clear();
      auto received = zmq::recv_multipart(socket_, std::back_inserter(frames), zmq::recv_flags::dontwait);
      if (!received) break;
      handle(frames);
    }
    dispatch();
    if (SteadyClock::now() >= next_tick_) tick();
    status_.flush();
  }
  spdlog::info("broker stopping: {} queued, {} running", dispatcher_.queued(), dispatcher_.running());
  status_.snapshot(dispatcher_, config_.heartbeat.count());
  status_.flush();
}

void Broker::handle(std::vector<zmq::message_t>& frames) {
  if (frames.size() != 3) {
    if (dropped_frames_++ % 1000 == 0) spdlog::warn("dropping a message of {} frames (expected 3)", frames.size());
    return;
  }
  const std::string identity = frames[0].to_string();
  try {
    const auto header = protocol::decode_header(frames[1].to_string_view());
    const std::string_view body = frames[2].to_string_view();
    switch (header.type) {
      case MessageType::kSubmit:
        on_submit(protocol::decode_body<protocol::Submit>(body));
        break;
      case MessageType::kReady:
        on_ready(identity, protocol::decode_body<protocol::Ready>(body));
        break;
      case MessageType::kHeartbeat: {
        const auto heartbeat = protocol::decode_body<protocol::Heartbeat>(body);
        if (dispatcher_.touch(identity, SteadyClock::now())) {
          dispatcher_.set_draining(identity, heartbeat.draining);
        } else {
          send(identity, MessageType::kReconnect, protocol::Reconnect{"unknown worker"});
        }
        break;
      }
      case MessageType::kJobResult:
        on_result(identity, protocol::decode_body<protocol::JobResult>(body));
        break;
      case MessageType::kGoodbye:
        on_goodbye(identity);
        break;
      case MessageType::kJob:
      case MessageType::kReconnect:
        throw ProtocolError(std::string(protocol::to_string(header.type)) + " is not sent to a broker");
    }
  } catch (const ProtocolError& error) {
    if (dropped_frames_++ % 1000 == 0) {
      spdlog::warn("dropping a message from peer of {} bytes id: {}", identity.size(), error.what());
    }
  }
}

void Broker::on_submit(const protocol::Submit& submit) {
  if (!is_valid_job_id(submit.job_id) || submit.model.empty()) {
    throw ProtocolError("SUBMIT with an invalid job id or no model");
  }
  QueuedJob job{submit.job_id, submit.kind, submit.model, submit.input_json, submit.priority, submit.created_ms, 0};
  if (!dispatcher_.enqueue(std::move(job))) {
    spdlog::debug("job {} submitted again while active; ignored", submit.job_id);
  }
}

void Broker::on_ready(const std::string& identity, const protocol::Ready& ready) {
  if (ready.worker_id != identity) throw ProtocolError("READY whose worker_id differs from the socket identity");
  const bool known = dispatcher_.knows_worker(identity);
  for (auto& orphan : dispatcher_.add_worker(ready, ready.running_jobs, SteadyClock::now())) {
    requeue_or_fail(std::move(orphan), "worker " + identity + " reconnected without it");
  }
  const auto& worker = dispatcher_.workers().at(identity);
  std::string models;
  for (const auto& model : ready.models) models += (models.empty() ? "" : ",") + model.name;
  spdlog::info("worker {} {} ({} on {}, {} slots, models {})", identity, known ? "reconnected" : "joined",
               ready.device_name, ready.host, worker.ready.slots, models);
  status_.worker_joined(worker);
  status_.snapshot(dispatcher_, config_.heartbeat.count());
}

void Broker::on_result(const std::string& identity, const protocol::JobResult& result) {
  dispatcher_.touch(identity, SteadyClock::now());
  auto assignment = dispatcher_.complete(identity, result.job_id, result.attempt);
  if (!assignment) {
    spdlog::warn("refusing a result for job {} attempt {} from worker {}: not its current assignment",
                 result.job_id, result.attempt, identity);
    if (!dispatcher_.knows_worker(identity)) {
      send(identity, MessageType::kReconnect, protocol::Reconnect{"unknown worker"});
    }
    return;
  }
  if (result.ok) {
    status_.job_succeeded(*assignment, result.result_json, result.run_ms);
  } else {
    const std::string code = parse_error_code(result.error_code) ? result.error_code
                                                                   : std::string(to_string(ErrorCode::kModelError));
    status_.job_failed(assignment->job, identity, assignment->attempt, code, result.error_message, result.run_ms);
  }
}

void Broker::on_goodbye(const std::string& identity) {
  if (dispatcher_.knows_worker(identity)) lose_worker(identity, "worker said goodbye");
}

void Broker::lose_worker(const std::string& worker_id, const std::string& reason) {
  auto orphans = dispatcher_.remove_worker(worker_id);
  spdlog::warn("worker {} removed ({}); {} job(s) back to the queue", worker_id, reason, orphans.size());
  for (auto& orphan : orphans) requeue_or_fail(std::move(orphan), "worker " + worker_id + " lost: " + reason);
  status_.worker_left(worker_id, reason);
}

void Broker::requeue_or_fail(QueuedJob job, const std::string& reason) {
  if (job.attempts >= config_.max_attempts) {
    status_.job_failed(job, "", job.attempts, std::string(to_string(ErrorCode::kWorkerLost)),
                       reason + " (after " + std::to_string(job.attempts) + " attempts)", 0);
    return;
  }
  status_.job_requeued(job, reason);
  dispatcher_.requeue(std::move(job));
}

void Broker::dispatch() {
  for (const auto& assignment : dispatcher_.dispatch()) {
    protocol::Job message{assignment.job.id, assignment.attempt, assignment.job.kind, assignment.job.model,
                          assignment.job.input_json, assignment.job.created_ms};
    send(assignment.worker_id, MessageType::kJob, message);
    status_.job_running(assignment);
  }
}

void Broker::tick() {
  const auto now = SteadyClock::now();
  next_tick_ = now + config_.heartbeat;
  const auto timeout = config_.heartbeat * config_.liveness;
  for (const auto& worker_id : dispatcher_.silent_workers(now, timeout)) {
    lose_worker(worker_id, "no heartbeat for " + std::to_string(timeout.count()) + " ms");
  }
  for (const auto& [id, worker] : dispatcher_.workers()) {
    send(id, MessageType::kHeartbeat, protocol::Heartbeat{static_cast<uint32_t>(worker.running.size())});
  }
  status_.snapshot(dispatcher_, config_.heartbeat.count());
  dispatch();
}

}  // namespace gpufleet::broker
