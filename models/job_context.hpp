#pragma once
// What a running model can learn about its job while it works, and tell back: whether to stop (a client
// cancelled it, its deadline passed, the broker took it back) and that it is making progress, which renews
// the job's lease. Models call check() between chunks of work; a model that never does cannot be stopped
// early, and one that hangs loses its lease.

#include <atomic>
#include <chrono>
#include <cstdint>
#include <string>

#include "common/clock.hpp"
#include "common/error.hpp"

namespace gpufleet::models {

class JobContext {
 public:
  explicit JobContext(int64_t deadline_unix_ms = 0) : deadline_unix_ms_(deadline_unix_ms) { progress(); }

  // Marks progress: the worker renews the lease of a job that made progress within the lease period.
  void progress() { last_progress_ns_.store(SteadyClock::now().time_since_epoch().count()); }
  SteadyClock::time_point last_progress() const {
    return SteadyClock::time_point(SteadyClock::duration(last_progress_ns_.load()));
  }

  // Asks the model to stop; `reason` is the ErrorCode its job ends with.
  void cancel(ErrorCode reason) {
    reason_.store(static_cast<int>(reason));
    cancelled_.store(true);
  }
  bool stop_requested() const {
    return cancelled_.load() || (deadline_unix_ms_ > 0 && unix_ms() >= deadline_unix_ms_);
  }
  // Throws ModelError when the job should stop; otherwise marks progress.
  void check() {
    if (cancelled_.load()) {
      const auto reason = static_cast<ErrorCode>(reason_.load());
      throw ModelError(reason, reason == ErrorCode::kCancelled ? "cancelled by a client"
                                                               : "stopped by the broker: " + std::string(to_string(reason)));
    }
    if (deadline_unix_ms_ > 0 && unix_ms() >= deadline_unix_ms_) {
      throw ModelError(ErrorCode::kDeadlineExceeded, "the job's timeout ran out while it ran");
    }
    progress();
  }

 private:
  int64_t deadline_unix_ms_;
  std::atomic<bool> cancelled_{false};
  std::atomic<int> reason_{static_cast<int>(ErrorCode::kCancelled)};
  std::atomic<SteadyClock::rep> last_progress_ns_{0};
};

}  // namespace gpufleet::models
