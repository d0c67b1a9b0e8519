#pragma once
// What a running model can learn about its job while it works, and tell back: whether to stop (a client
// cancelled it, its deadline passed, the broker took it back) and that it is making progress, which renews
// the job's lease. Models call check() between chunks of work; a model that never does cannot be stopped
// early, and one that hangs loses its lease.

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <utility>

#include "common/clock.hpp"
#include "common/error.hpp"

namespace gpufleet::models {

class JobContext {
 public:
  // Progress shared by the jobs of one batch.
  using SharedProgress = std::atomic<SteadyClock::rep>;

  explicit JobContext(int64_t deadline_unix_ms = 0) : deadline_unix_ms_(deadline_unix_ms) { progress(); }

  // Called by the executor that takes the job out of the worker's queue. The jobs of one batch share
  // `batch`: progress on any of them is progress of all, since a batch runs its jobs together or one after
  // another while the rest wait their turn.
  void start(std::shared_ptr<SharedProgress> batch) {
    batch_ = std::move(batch);
    progress();
    waiting_.store(false, std::memory_order_release);
  }
  // Not started yet: the job waits in its worker's queue, and is alive for as long as the worker is.
  bool waiting() const { return waiting_.load(std::memory_order_acquire); }

  // Marks progress: the worker renews the lease of a job that made progress within the lease period.
  void progress() {
    const auto now = SteadyClock::now().time_since_epoch().count();
    last_progress_ns_.store(now);
    if (batch_) batch_->store(now);
  }
  SteadyClock::time_point last_progress() const {
    auto latest = last_progress_ns_.load();
    // batch_ is written once, before waiting_ turns false (release), so reading it after that is safe.
    if (!waiting() && batch_) latest = std::max(latest, batch_->load());
    return SteadyClock::time_point(SteadyClock::duration(latest));
  }

  // A model that knows how much work a job is (video frames) says how far it has come; the worker passes
  // it on with its heartbeats and it shows in the job's record. Also marks progress (see check()).
  void report(uint64_t done, uint64_t total) {
    report_done_.store(done);
    report_total_.store(total);
    progress();
  }
  // The last report: {done, total}; total 0 when the model reports none.
  std::pair<uint64_t, uint64_t> reported() const { return {report_done_.load(), report_total_.load()}; }

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
      throw ModelError(reason, reason == ErrorCode::kCancelled
                                   ? "cancelled by a client"
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
  std::atomic<bool> waiting_{true};
  std::atomic<uint64_t> report_done_{0};
  std::atomic<uint64_t> report_total_{0};
  std::shared_ptr<SharedProgress> batch_;
};

}  // namespace gpufleet::models
