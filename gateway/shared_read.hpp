#pragma once
// One read shared by every request that wants its value: a request that arrives while a read is in flight
// waits for that read instead of starting its own (single flight), and a value read less than `max_age`
// ago answers at once. GET /health uses it: three Redis reads and a JSON report per request were what its
// throughput cost, and a probe gains nothing from an answer fresher than a few tens of milliseconds (the
// broker refreshes its record every second). Event loop only; the reader calls back on the event loop.

#include <chrono>
#include <functional>
#include <optional>
#include <utility>
#include <vector>

namespace gpufleet::gateway {

template <typename Value>
class SharedRead {
 public:
  using Clock = std::chrono::steady_clock;
  using Done = std::function<void(const Value&)>;
  // Starts one read; calls its argument once with the value.
  using Reader = std::function<void(Done)>;

  SharedRead(Reader reader, std::chrono::milliseconds max_age,
             std::function<Clock::time_point()> now = &Clock::now)
      : reader_(std::move(reader)), max_age_(max_age), now_(std::move(now)) {}
  SharedRead(const SharedRead&) = delete;
  SharedRead& operator=(const SharedRead&) = delete;

  // Calls `done` with a value read no longer than max_age before this call began, or with the next read's.
  // The waiting list is bounded by the requests in flight (each holds a connection).
  void get(Done done) {
    const auto now = now_();
    // A value's age counts from when its read began: Redis may have changed at any time after that.
    if (value_ && now - value_started_ <= max_age_) return done(*value_);
    waiting_.push_back(std::move(done));
    if (in_flight_) return;
    in_flight_ = true;
    ++reads_;
    const auto started = now;
    reader_([this, started](const Value& value) {
      value_ = value;
      value_started_ = started;
      in_flight_ = false;
      auto waiting = std::exchange(waiting_, {});
      for (auto& answer : waiting) answer(*value_);
    });
  }

  // Reads started so far.
  size_t reads() const { return reads_; }

 private:
  Reader reader_;
  std::chrono::milliseconds max_age_;
  std::function<Clock::time_point()> now_;
  std::optional<Value> value_;
  Clock::time_point value_started_{};
  bool in_flight_ = false;
  std::vector<Done> waiting_;
  size_t reads_ = 0;
};

}  // namespace gpufleet::gateway
