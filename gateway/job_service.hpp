#pragma once
// The job life cycle as the API sees it, apart from HTTP: create (one job or a batch, under an
// Idempotency-Key, refused while the job store is nearly full), read, long-poll, cancel, list the recent
// ones, find a result's file, and the synchronous generate that waits for its job. Answers are JSON bodies
// with their status or typed errors; the gateway's handlers only parse the request and send what comes back,
// so no Beast type appears here. Every operation that names a job answers 404 for another key's, as for an
// unknown one. Event loop only.

#include <chrono>
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "gateway/api.hpp"
#include "gateway/event_hub.hpp"
#include "gateway/file_store.hpp"
#include "gateway/job_submitter.hpp"
#include "gateway/redis_executor.hpp"
#include "gateway/wait_quota.hpp"
#include "store/job_store.hpp"
#include "store/redis_schema.hpp"

namespace gpufleet::gateway {

// A JSON answer and its HTTP status.
struct JsonAnswer {
  unsigned status = 200;
  nlohmann::json body;
};

// What of a request an Idempotency-Key covers: the header as sent (if it was) and the request it must match
// on a retry (a different request under the same key is refused). Views into the request: create() reads
// them before it returns.
struct RequestIdentity {
  std::optional<std::string_view> idempotency_key;
  std::string_view target;
  std::string_view body;
};

// 202's body for a created job: its id, links and (when it is new) its state.
nlohmann::json accepted_json(const Created& job);
// POST /v1/jobs:batch's answer: each job's outcome in the order sent, and the counts.
nlohmann::json batch_answer(const std::vector<SubmitOutcome>& outcomes);
// A synchronous generate's answer in the original service's shape, the result file under `path_field`
// (audio_path, video_path): 200 with success true, the failed job's error and its status, or 504 when
// `outcome` is null (the wait timed out).
JsonAnswer generate_answer(const std::string& job_id, const std::string& model, const std::string& path_field,
                           const FinalOutcome* outcome);
// DELETE /v1/jobs/{id}'s answer for the store's verdict.
std::variant<JsonAnswer, ApiError> cancel_answer(const std::string& job_id,
                                                 const job_store::CancelOutcome& outcome);
// GET /v1/jobs?limit=N's N: 1 to 500, 50 when absent.
std::variant<long long, ApiError> parse_recent_limit(std::string_view query);

class JobService {
 public:
  struct Settings {
    std::chrono::milliseconds sync_timeout{600000};  // a synchronous generate waits this long at most
    int64_t retention_s = kDefaultJobTtlS;           // a cancelled job's record is kept this long
    int64_t max_queued_per_model = 0;                // 0: unbounded
    int64_t idempotency_ttl_s = 86400;
    int redis_memory_high_water = 90;  // percent of Redis's maxmemory past which submissions answer 503
  };
  // How a wait learns that whoever waits has gone (an HTTP client that closed its connection): it is given
  // the function that ends the wait. Empty: only the outcome or the timeout ends it.
  using GoneHook = std::function<void(std::function<void()> end_wait)>;
  using Done = std::function<void(std::variant<JsonAnswer, ApiError>)>;

  JobService(RedisExecutor& redis, const RedisKeys& keys, MetricsRegistry& metrics, EventHub& event_hub,
             const FileStore& file_store, Settings settings);
  JobService(const JobService&) = delete;
  JobService& operator=(const JobService&) = delete;

  // Redis's memory as of the last look: past the high-water mark, creating jobs answers 503.
  void note_redis_memory(const RedisMemory& memory);

  // Records a new job; `done` gets it or the error. Nothing is answered as accepted before Redis has it.
  void create(SubmitRequest request, const RequestIdentity& identity, const Caller& caller,
              std::function<void(SubmitOutcome)> done);
  // Each job of a batch checked, stored and answered on its own, in one Redis round trip.
  void create_batch(std::vector<BatchItem> items, const Caller& caller,
                    std::function<void(JobSubmitter::BatchOutcome)> done);
  // Creates the job and waits (holding `slot`) for its final state: generate_answer's shape, or the error
  // that kept the job from being created.
  void generate(SubmitRequest request, const std::string& path_field, const RequestIdentity& identity,
                const Caller& caller, std::shared_ptr<WaitQuota::Lease> slot, GoneHook gone, Done done);

  // GET /v1/jobs/{id}: the job as render_job shows it.
  void get(const std::string& id, const Caller& caller, Done done);
  // The same after its final state or `wait`, whichever comes first (holding `slot`); an unknown id answers
  // at once.
  void await(const std::string& id, std::chrono::milliseconds wait, const Caller& caller,
             std::shared_ptr<WaitQuota::Lease> slot, GoneHook gone, Done done);
  // DELETE /v1/jobs/{id}: 200 cancelled, 202 while its worker stops it, 409 already final.
  void cancel(const std::string& id, const Caller& caller, Done done);
  // The same for an owner that wants no answer (a WebRTC session that ended).
  void cancel_quietly(const std::string& id, const Caller& caller);
  // GET /v1/jobs: the `limit` most recently finished jobs the caller may see, newest first.
  void recent(long long limit, const Caller& caller, Done done);
  // GET /v1/jobs/{id}/result: a succeeded job's file; 409 job_failed or not_ready otherwise.
  void result(const std::string& id, const Caller& caller,
              std::function<void(std::variant<ResultFile, ApiError>)> done);

 private:
  std::optional<ApiError> store_refusal() const;
  // The job's record as render_job shows it, or 404 (unknown, or another key's) or Redis's failure.
  void read_job(const std::string& id, const Caller& caller,
                std::function<void(std::variant<nlohmann::json, ApiError>)> done);
  RedisArgs cancel_call(const std::string& id, const Caller& caller) const;

  RedisExecutor& redis_;
  const RedisKeys& keys_;
  EventHub& event_hub_;
  const FileStore& file_store_;
  Settings settings_;
  JobSubmitter submitter_;
  RedisMemory redis_memory_;
  bool store_full_ = false;
};

}  // namespace gpufleet::gateway
