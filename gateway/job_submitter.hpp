#pragma once
// Turns checked submissions into jobs in the job store: the job's id, deadline, owner and idempotency key,
// the check that a TTS result a job chains from is the caller's own, and the store's verdict for each job.
// One job, or a batch in one Redis round trip (two when a job of it chains from a result). No HTTP types:
// the gateway's handlers parse, this stores.

#include <functional>
#include <string>
#include <variant>
#include <vector>

#include "common/metrics.hpp"
#include "gateway/api.hpp"
#include "gateway/redis_executor.hpp"
#include "store/job_store.hpp"

namespace gpufleet::gateway {

struct Created {
  std::string id;
  bool replayed = false;  // an earlier request with the same idempotency key created it
};
using SubmitOutcome = std::variant<Created, ApiError>;

class JobSubmitter {
 public:
  struct Settings {
    int64_t max_queued_per_model = 0;  // 0: unbounded
    int64_t idempotency_ttl_s = 86400;
  };

  JobSubmitter(RedisExecutor& redis, MetricsRegistry& metrics, Settings settings);

  // Stores one job; `done` gets it or why not. Nothing is answered as accepted before Redis has it.
  void submit(Submission submission, const Caller& caller, std::function<void(SubmitOutcome)> done);
  // Stores every submission of a batch that is not already an error, in order; `done` gets one outcome per
  // item, or one error for the whole batch when Redis could not be reached (then some may have been
  // stored: a retry with the same idempotency keys finds them).
  using BatchOutcome = std::variant<std::vector<SubmitOutcome>, ApiError>;
  void submit_batch(std::vector<BatchItem> items, const Caller& caller,
                    std::function<void(BatchOutcome)> done);

 private:
  job_store::NewJob new_job(Submission submission, const Caller& caller) const;
  // The job id whose owner must be the caller's (a video made from a TTS result by its absolute path),
  // an error when the path names no result, or nothing to check.
  std::variant<std::monostate, std::string, ApiError> chained_result(const SubmitRequest& request,
                                                                     const Caller& caller) const;
  // The store's verdict for `job`: the two strings at `at` of its script call's reply.
  SubmitOutcome verdict(const job_store::NewJob& job, const RedisValue& reply, size_t at);
  static constexpr size_t kJobsPerScriptCall = 64;
  void store(std::vector<std::variant<job_store::NewJob, ApiError>> jobs,
             std::function<void(BatchOutcome)> done);

  RedisExecutor& redis_;
  RedisKeys keys_;
  MetricsRegistry& metrics_;
  Settings settings_;
};

}  // namespace gpufleet::gateway
