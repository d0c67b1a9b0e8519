#include "worker/worker.hpp"

#include <spdlog/spdlog.h>
#include <unistd.h>

#include <random>
#include <sstream>

#include "common/config.hpp"
#include "common/error.hpp"

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

std::vector<std::string> split_list(const std::string& text) {
  std::vector<std::string> items;
  std::string item;
  std::istringstream stream(text);
  while (std::getline(stream, item, ',')) {
    if (!item.empty()) items.push_back(item);
  }
  return items;
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
  config.models = split_list(env_string("WORKER_MODELS", "espeak"));
  if (config.models.empty()) throw ConfigError("WORKER_MODELS lists no model");
  config.storage_root = storage_root_from_env();
  return config;
}

Worker::Worker(WorkerConfig config, DeviceInfo device, std::unique_ptr<JobRunner> runner)
    : config_(std::move(config)), device_(std::move(device)), runner_(std::move(runner)),
      results_(context_, zmq::socket_type::pull) {
  results_.bind(kResultsEndpoint);
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
  broker_ = std::make_unique<zmq::socket_t>(context_, zmq::socket_type::dealer);
  broker_->set(zmq::sockopt::routing_id, config_.worker_id);
  broker_->set(zmq::sockopt::linger, 0);
  broker_->set(zmq::sockopt::reconnect_ivl, 100);
  broker_->set(zmq::sockopt::reconnect_ivl_max, 2000);
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
  ready.version = "0.1.0";
  ready.heartbeat_ms = static_cast<uint32_t>(config_.heartbeat.count());
  ready.running_jobs.assign(held_.begin(), held_.end());
  send_message(*broker_, MessageType::kReady, ready);
  next_heartbeat_ = SteadyClock::now() + config_.heartbeat;
}

void Worker::send_heartbeat() {
  send_message(*broker_, MessageType::kHeartbeat, protocol::Heartbeat{static_cast<uint32_t>(held_.size()), draining_});
  next_heartbeat_ = SteadyClock::now() + config_.heartbeat;
}

void Worker::run(const std::atomic<bool>& stop) {
  connect();
  spdlog::info("worker {} on {} (torch {}), {} slot(s), broker {}", config_.worker_id, device_.name,
               device_.torch_version, config_.slots, config_.broker_endpoint);
  std::vector<zmq::message_t> frames;
  SteadyClock::time_point drain_deadline{};
  while (true) {
    const auto now = SteadyClock::now();
    if (stop.load() && !draining_) {
      draining_ = true;
      drain_deadline = now + config_.drain_grace;
      spdlog::info("draining: {} job(s) held, grace {} ms", held_.size(), config_.drain_grace.count());
      send_heartbeat();
    }
    if (draining_ && (held_.empty() || now >= drain_deadline)) break;
    if (now - broker_seen_ > config_.heartbeat * config_.liveness) {
      spdlog::warn("broker silent for {} ms; reconnecting",
                   std::chrono::duration_cast<std::chrono::milliseconds>(now - broker_seen_).count());
      connect();
    }
    if (now >= next_heartbeat_) send_heartbeat();

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
  if (!held_.empty()) spdlog::warn("grace period over with {} job(s) unfinished; the broker requeues them", held_.size());
  send_message(*broker_, MessageType::kGoodbye, protocol::Goodbye{"shutting down"});
  // Give the goodbye a moment to leave before the socket closes with linger 0.
  broker_->set(zmq::sockopt::linger, 500);
  broker_.reset();
  spdlog::info("worker {} stopped", config_.worker_id);
}

void Worker::on_broker_message(std::vector<zmq::message_t>& frames) {
  broker_seen_ = SteadyClock::now();
  try {
    if (frames.size() != 2) throw ProtocolError("expected 2 frames, got " + std::to_string(frames.size()));
    const auto header = protocol::decode_header(frames[0].to_string_view());
    switch (header.type) {
      case MessageType::kJob: {
        auto job = protocol::decode_body<protocol::Job>(frames[1].to_string_view());
        if (!held_.insert(job.job_id).second) {
          spdlog::warn("job {} received again while held; ignored", job.job_id);
          return;
        }
        spdlog::debug("job {} attempt {} model {}", job.job_id, job.attempt, job.model);
        {
          std::lock_guard lock(mutex_);
          pending_.push_back(std::move(job));
        }
        work_ready_.notify_one();
        break;
      }
      case MessageType::kHeartbeat:
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

void Worker::on_result(std::vector<zmq::message_t>& frames) {
  // Frames come from our own executors: [job id][header][body].
  held_.erase(frames[0].to_string());
  broker_->send(frames[1], zmq::send_flags::sndmore);
  broker_->send(frames[2], zmq::send_flags::none);
}

void Worker::executor_loop() {
  zmq::socket_t out(context_, zmq::socket_type::push);
  out.set(zmq::sockopt::linger, 0);
  out.connect(kResultsEndpoint);
  while (true) {
    protocol::Job job;
    {
      std::unique_lock lock(mutex_);
      work_ready_.wait(lock, [this] { return shutting_down_ || !pending_.empty(); });
      if (shutting_down_ && pending_.empty()) return;
      job = std::move(pending_.front());
      pending_.pop_front();
    }
    const protocol::JobResult result = runner_->run(job);
    out.send(zmq::buffer(job.job_id), zmq::send_flags::sndmore);
    out.send(zmq::buffer(protocol::encode_header(MessageType::kJobResult)), zmq::send_flags::sndmore);
    out.send(zmq::buffer(protocol::encode_body(result)), zmq::send_flags::none);
  }
}

}  // namespace gpufleet::worker
