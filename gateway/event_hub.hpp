#pragma once
// Where the job and worker events the gateway subscribes to go: waiters (long-polls and synchronous
// generates, woken by their job's final state or their timeout), server-sent event streams (one job's, or
// the fleet's), and audio streams that follow a job's output. It also keeps the EventListener fed with what
// is worth passing to the event loop. Event loop only, except wants(), which the listener's thread calls.

#include <atomic>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "common/metrics.hpp"
#include "gateway/api.hpp"
#include "gateway/http/http_server.hpp"
#include "gateway/redis_executor.hpp"
#include "gateway/wait_quota.hpp"
#include "store/redis_schema.hpp"

namespace gpufleet::gateway {

class AudioTail;

// How a job ended, from its completion event or its record.
struct FinalOutcome {
  std::string state;
  nlohmann::json result;  // null unless succeeded
  std::string error_code;
  std::string error_message;
};

// The outcome a job event reports, when its state is final.
std::optional<FinalOutcome> outcome_from_event(const nlohmann::json& event);
// The outcome a job's record holds, when its state is final.
std::optional<FinalOutcome> outcome_from_record(
    const std::vector<std::pair<std::string, std::string>>& fields);

// One server-sent event; data lines split so that a newline inside can never end the event early.
std::string sse_event(const std::string& name, const std::string& data);

class EventHub {
 public:
  EventHub(boost::asio::io_context& io, RedisExecutor& redis, const RedisKeys& keys,
           MetricsRegistry& metrics);
  EventHub(const EventHub&) = delete;
  EventHub& operator=(const EventHub&) = delete;

  // Starts the streams' keep-alive.
  void start();
  // Ends every stream and wait (their clients get no answer; the gateway is going away).
  void stop();

  // The listener's thread: whether a message is worth the event loop's time. Waiters care about final states
  // only, a cheap look at the text tells; streams, while any is open, take everything.
  bool wants(const std::string& message) const;
  // A message from `channel` (job or worker events).
  void on_event(const std::string& channel, const std::string& message);
  // After the subscription came back: events may have gone by, so each waited-for job's record is read.
  void resync();

  // Calls `callback` once: with the outcome when job `id` reaches a final state, or nullptr after `timeout`;
  // `slot` is held until the wait ends, however it ends. The returned function ends the wait early, without
  // calling `callback`, for an owner that went away (an HTTP client that closed its connection, a WebRTC
  // session that ended before its job did); it does nothing once the wait has ended, and must be called on
  // the event loop while the hub exists.
  std::function<void()> await_final(const std::string& id, std::chrono::milliseconds timeout,
                                    std::shared_ptr<WaitQuota::Lease> slot,
                                    std::function<void(const FinalOutcome*)> callback);

  // GET /v1/jobs/{id}/events (one job: its record now, then each change, ending with its final state) and
  // GET /v1/events (`job_id` empty: every job and worker event of the fleet, until the client leaves). The
  // stream holds `slot` for as long as it lasts.
  void stream_events(const std::string& job_id, const Caller& caller, std::shared_ptr<Responder> responder,
                     std::shared_ptr<WaitQuota::Lease> slot);

  // Waits on jobs' final states in progress (every await_final not yet ended).
  size_t waiters() const { return waiter_count_; }

  // Registers an audio stream for its job's events (ended streams are dropped as others are added).
  void watch_tail(const std::string& id, const std::shared_ptr<AudioTail>& tail);

 private:
  struct Waiter {
    std::function<void(const FinalOutcome*)> callback;  // nullptr: timed out
    std::unique_ptr<boost::asio::steady_timer> timer;
    std::shared_ptr<WaitQuota::Lease> slot;  // the caller's, returned when the wait ends
    bool done = false;
  };

  void resolve(const std::string& id, const std::shared_ptr<Waiter>& waiter, const FinalOutcome* outcome);
  // Takes `waiter` out of the table, stops its timer and returns its slot; false if it had ended already.
  bool retire(const std::string& id, const std::shared_ptr<Waiter>& waiter);
  // Ends a wait without an answer: its client has gone.
  void abandon(const std::string& id, const std::shared_ptr<Waiter>& waiter);
  void wake_tails(const nlohmann::json& event);
  void forward_to_streams(const std::string& channel, const nlohmann::json& event);
  void keepalive();
  void prune_streams();

  boost::asio::io_context& io_;
  RedisExecutor& redis_;
  const RedisKeys& keys_;
  MetricsRegistry& metrics_;
  std::unordered_map<std::string, std::vector<std::shared_ptr<Waiter>>> waiters_;
  size_t waiter_count_ = 0;  // over every job in waiters_
  // Server-sent event streams: per job id, and fleet-wide. open_streams_ is read by the listener's thread.
  std::unordered_map<std::string, std::vector<std::shared_ptr<BodyStream>>> job_streams_;
  std::vector<std::shared_ptr<BodyStream>> fleet_streams_;
  std::atomic<size_t> open_streams_{0};
  // Audio streams (GET /v1/jobs/{id}/stream) per job id, woken by the job's events; tail_jobs_ (its size) is
  // read by the listener's thread, which then passes every job event on, not only final ones.
  std::unordered_map<std::string, std::vector<std::weak_ptr<AudioTail>>> tails_;
  std::atomic<size_t> tail_jobs_{0};
  boost::asio::steady_timer keepalive_timer_;
};

}  // namespace gpufleet::gateway
