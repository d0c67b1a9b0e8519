#include "gateway/event_hub.hpp"

#include <algorithm>

#include "common/job.hpp"
#include "common/json_text.hpp"
#include "gateway/audio_tail.hpp"

namespace gpufleet::gateway {

namespace asio = boost::asio;
using nlohmann::json;

namespace {

bool is_final_state(const std::string& text) {
  const auto state = parse_job_state(text);
  return state && is_final(*state);
}

// An event stream that holds its caller's wait slot for as long as the hub keeps it (until the job's final
// event, or the keep-alive that finds its client gone).
class LeasedStream final : public BodyStream {
 public:
  LeasedStream(std::shared_ptr<BodyStream> inner, std::shared_ptr<WaitQuota::Lease> slot)
      : inner_(std::move(inner)), slot_(std::move(slot)) {}
  void write(std::string data) override { inner_->write(std::move(data)); }
  void end() override { inner_->end(); }
  bool open() const override { return inner_->open(); }

 private:
  std::shared_ptr<BodyStream> inner_;
  std::shared_ptr<WaitQuota::Lease> slot_;
};

}  // namespace

std::optional<FinalOutcome> outcome_from_event(const json& event) {
  FinalOutcome outcome;
  outcome.state = event.value("state", "");
  if (!is_final_state(outcome.state)) return std::nullopt;
  if (auto result = event.find("result"); result != event.end()) outcome.result = *result;
  if (auto error = event.find("error"); error != event.end() && error->is_object()) {
    outcome.error_code = error->value("code", "");
    outcome.error_message = error->value("message", "");
  }
  return outcome;
}

std::optional<FinalOutcome> outcome_from_record(
    const std::vector<std::pair<std::string, std::string>>& fields) {
  FinalOutcome outcome;
  for (const auto& [field, value] : fields) {
    if (field == job_field::kState) outcome.state = value;
    if (field == job_field::kResult) outcome.result = parse_json_or_discarded(value);
    if (field == job_field::kErrorCode) outcome.error_code = value;
    if (field == job_field::kErrorMessage) outcome.error_message = value;
  }
  if (!is_final_state(outcome.state)) return std::nullopt;
  if (outcome.result.is_discarded()) outcome.result = nullptr;
  return outcome;
}

std::string sse_event(const std::string& name, const std::string& data) {
  std::string out = "event: " + name + "\n";
  size_t start = 0;
  while (true) {
    const auto end = data.find('\n', start);
    out += "data: " + data.substr(start, end == std::string::npos ? std::string::npos : end - start) + "\n";
    if (end == std::string::npos) break;
    start = end + 1;
  }
  return out + "\n";
}

EventHub::EventHub(asio::io_context& io, RedisExecutor& redis, const RedisKeys& keys,
                   MetricsRegistry& metrics)
    : io_(io), redis_(redis), keys_(keys), metrics_(metrics), keepalive_timer_(io) {
  metrics_.counter("gpufleet_gateway_waits_abandoned_total", "Waits whose client left before the answer");
}

void EventHub::start() {
  keepalive();
}

void EventHub::stop() {
  keepalive_timer_.cancel();
  for (auto& stream : fleet_streams_) stream->end();
  for (auto& [id, streams] : job_streams_) {
    for (auto& stream : streams) stream->end();
  }
  for (auto& [id, list] : waiters_) {
    for (auto& waiter : list) waiter->timer->cancel();
  }
}

bool EventHub::wants(const std::string& message) const {
  if (open_streams_.load() > 0 || tail_jobs_.load() > 0) return true;
  // on_event still parses and checks the state properly.
  return message.find("\"succeeded\"") != std::string::npos ||
         message.find("\"failed\"") != std::string::npos ||
         message.find("\"cancelled\"") != std::string::npos ||
         message.find("\"expired\"") != std::string::npos;
}

void EventHub::on_event(const std::string& channel, const std::string& message) {
  if (waiters_.empty() && tails_.empty() && open_streams_.load() == 0) return;
  auto event = parse_json_or_discarded(message);
  if (!event.is_object()) return;
  if (open_streams_.load() > 0) forward_to_streams(channel, event);
  if (channel == keys_.job_events() && !tails_.empty()) wake_tails(event);
  if (channel != keys_.job_events() || waiters_.empty()) return;
  auto it = waiters_.find(event.value("id", ""));
  if (it == waiters_.end()) return;
  const auto outcome = outcome_from_event(event);
  if (!outcome) return;
  const std::string id = it->first;
  for (const auto& waiter : std::vector<std::shared_ptr<Waiter>>(it->second)) resolve(id, waiter, &*outcome);
}

void EventHub::resync() {
  for (const auto& [id, list] : waiters_) {
    redis_.execute({{"HGETALL", keys_.job(id)}}, [this, id = id](const RedisBatchResult& result) {
      if (!result.ok) return;
      auto outcome = outcome_from_record(result.replies[0].pairs());
      auto it = waiters_.find(id);
      if (!outcome || it == waiters_.end()) return;
      for (const auto& waiter : std::vector<std::shared_ptr<Waiter>>(it->second))
        resolve(id, waiter, &*outcome);
    });
  }
}

std::function<void()> EventHub::await_final(const std::string& id, std::chrono::milliseconds timeout,
                                            std::shared_ptr<WaitQuota::Lease> slot,
                                            std::function<void(const FinalOutcome*)> callback) {
  auto waiter = std::make_shared<Waiter>();
  waiter->callback = std::move(callback);
  waiter->timer = std::make_unique<asio::steady_timer>(io_, timeout);
  waiter->slot = std::move(slot);
  waiters_[id].push_back(waiter);
  ++waiter_count_;
  waiter->timer->async_wait([this, id, waiter](boost::system::error_code ec) {
    if (!ec) resolve(id, waiter, nullptr);
  });
  // The job may have finished before the waiter existed: look once, after registering.
  redis_.execute({{"HGETALL", keys_.job(id)}}, [this, id, waiter](RedisBatchResult result) {
    if (!result.ok || waiter->done) return;
    if (auto outcome = outcome_from_record(result.replies[0].pairs())) resolve(id, waiter, &*outcome);
  });
  return [this, id, weak = std::weak_ptr<Waiter>(waiter)] {
    if (auto left = weak.lock()) abandon(id, left);
  };
}

bool EventHub::retire(const std::string& id, const std::shared_ptr<Waiter>& waiter) {
  if (waiter->done) return false;
  waiter->done = true;
  waiter->timer->cancel();
  if (auto it = waiters_.find(id); it != waiters_.end()) {
    auto& list = it->second;
    list.erase(std::remove(list.begin(), list.end(), waiter), list.end());
    if (list.empty()) waiters_.erase(it);
  }
  --waiter_count_;
  waiter->slot.reset();
  return true;
}

void EventHub::resolve(const std::string& id, const std::shared_ptr<Waiter>& waiter,
                       const FinalOutcome* outcome) {
  if (retire(id, waiter)) waiter->callback(outcome);
}

void EventHub::abandon(const std::string& id, const std::shared_ptr<Waiter>& waiter) {
  if (!retire(id, waiter)) return;
  waiter->callback = nullptr;  // drops the responder, whose connection is already closed
  metrics_.increment("gpufleet_gateway_waits_abandoned_total");
}

void EventHub::watch_tail(const std::string& id, const std::shared_ptr<AudioTail>& tail) {
  auto ended = [](const std::weak_ptr<AudioTail>& weak) {
    auto alive = weak.lock();
    return !alive || alive->done();
  };
  // Bounded by the open streams (each holds a wait slot): ended ones go as new ones come.
  if (tails_.size() >= 1024) {
    for (auto it = tails_.begin(); it != tails_.end();) {
      auto& list = it->second;
      list.erase(std::remove_if(list.begin(), list.end(), ended), list.end());
      it = list.empty() ? tails_.erase(it) : std::next(it);
    }
  }
  auto& list = tails_[id];
  list.erase(std::remove_if(list.begin(), list.end(), ended), list.end());
  list.push_back(tail);
  tail_jobs_.store(tails_.size());
}

void EventHub::wake_tails(const json& event) {
  auto it = tails_.find(event.value("id", ""));
  if (it == tails_.end()) return;
  for (const auto& weak : std::vector<std::weak_ptr<AudioTail>>(it->second)) {
    if (auto tail = weak.lock()) tail->job_changed();
  }
  // After a final state nothing more comes for the job: each tail has read the record that ends it.
  if (is_final_state(event.value("state", ""))) {
    tails_.erase(event.value("id", ""));
    tail_jobs_.store(tails_.size());
  }
}

void EventHub::stream_events(const std::string& job_id, const Caller& caller,
                             std::shared_ptr<Responder> responder, std::shared_ptr<WaitQuota::Lease> slot) {
  StringResponse head{http::status::ok, 11};
  head.set(http::field::server, "gpufleet");
  head.set(http::field::content_type, "text/event-stream");
  head.set(http::field::cache_control, "no-cache");
  head.set("X-Accel-Buffering", "no");  // nginx in front: do not hold events back
  if (job_id.empty()) {
    auto opened = responder->stream(std::move(head));
    if (!opened) return;
    auto stream = std::make_shared<LeasedStream>(std::move(opened), std::move(slot));
    stream->write(": gpufleet events\n\n");
    fleet_streams_.push_back(stream);
    ++open_streams_;
    return;
  }
  redis_.execute({{"HGETALL", keys_.job(job_id)}}, [this, job_id, head = std::move(head), responder, caller,
                                                    slot](RedisBatchResult result) mutable {
    if (!result.ok) return responder->send(error_response(redis_down(result.failure)));
    auto fields = result.replies[0].pairs();
    if (fields.empty() || !caller.owns(job_owner(fields)))
      return responder->send(error_response(api_error(ErrorCode::kNotFound, "no job with id " + job_id)));
    auto opened = responder->stream(std::move(head));
    if (!opened) return;
    std::shared_ptr<BodyStream> stream = std::make_shared<LeasedStream>(std::move(opened), std::move(slot));
    const json job = render_job(fields);
    stream->write(sse_event("snapshot", dump_json(job)));
    if (is_final_state(job.value("state", ""))) return stream->end();
    job_streams_[job_id].push_back(stream);
    ++open_streams_;
    // A final event published before this stream was registered would be missed: look once more.
    redis_.execute({{"HGETALL", keys_.job(job_id)}}, [job_id, stream](RedisBatchResult again) {
      if (!again.ok || !stream->open()) return;
      const json now = render_job(again.replies[0].pairs());
      if (is_final_state(now.value("state", ""))) {
        stream->write(sse_event("snapshot", dump_json(now)));
        stream->end();
      }
    });
  });
}

void EventHub::forward_to_streams(const std::string& channel, const json& event) {
  const bool job_event = channel == keys_.job_events();
  const std::string text = sse_event(job_event ? "job" : "worker", dump_json(event));
  for (auto& stream : fleet_streams_) stream->write(text);
  if (!job_event) return;
  auto it = job_streams_.find(event.value("id", ""));
  if (it == job_streams_.end()) return;
  const bool final = is_final_state(event.value("state", ""));
  for (auto& stream : it->second) {
    stream->write(text);
    if (final) stream->end();
  }
  // Ended streams go at once; streams whose clients left are found by the keep-alive.
  if (final) prune_streams();
}

// Every 15 s a comment keeps proxies from timing the streams out and finds clients that left.
void EventHub::keepalive() {
  keepalive_timer_.expires_after(std::chrono::seconds(15));
  keepalive_timer_.async_wait([this](boost::system::error_code ec) {
    if (ec) return;
    for (auto& stream : fleet_streams_) stream->write(": keep-alive\n\n");
    for (auto& [id, streams] : job_streams_) {
      for (auto& stream : streams) stream->write(": keep-alive\n\n");
    }
    prune_streams();
    keepalive();
  });
}

void EventHub::prune_streams() {
  auto closed = [](const std::shared_ptr<BodyStream>& stream) { return !stream->open(); };
  fleet_streams_.erase(std::remove_if(fleet_streams_.begin(), fleet_streams_.end(), closed),
                       fleet_streams_.end());
  size_t open = fleet_streams_.size();
  for (auto it = job_streams_.begin(); it != job_streams_.end();) {
    auto& streams = it->second;
    streams.erase(std::remove_if(streams.begin(), streams.end(), closed), streams.end());
    open += streams.size();
    it = streams.empty() ? job_streams_.erase(it) : std::next(it);
  }
  open_streams_.store(open);
}

}  // namespace gpufleet::gateway
