#pragma once
// The job store's atomic operations: every change to a job's state in Redis is one Lua script that checks
// the state it expects before writing, so two parties (gateway and broker, an old and a new broker, a live
// worker's result and a requeue after its lease ran out) can never both win. docs/redis.md lists the keys;
// docs/reliability.md explains why each check exists.
//
// The functions here only build commands and read replies; callers send them on their own connections
// (RedisClient loads the scripts on every connect, see scripts()).

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "common/job.hpp"
#include "store/redis_schema.hpp"

namespace gpufleet::job_store {

// A Lua script with its SHA1, for EVALSHA.
struct Script {
  std::string name;
  std::string source;
  std::string sha1;
};

// All scripts, for loading into Redis when a connection opens.
const std::vector<Script>& scripts();

// The submissions stream is capped at about this many entries. It only tells a running broker what is new:
// a broker that starts (or missed entries) reads the queue sets, which hold every queued job.
inline constexpr int64_t kStreamMaxLen = 100'000;

// --- gateway ----------------------------------------------------------------------------------------------

struct NewJob {
  std::string id;
  std::string kind;
  std::string model;
  int32_t priority = 0;
  std::string input_json;
  int64_t created_ms = 0;
  int64_t deadline_ms = 0;      // 0: no timeout
  int64_t max_queued = 0;       // refuse when the model's queue holds this many; 0: unbounded
  std::string idempotency_key;  // empty: none
  int64_t idempotency_ttl_s = 86400;
  std::string fingerprint;  // of the request, to tell a retry from a different request under the same key
  std::string pipeline;     // pipeline_to_json() of its stages; empty: a job of one stage
  size_t stage_count = 0;   // with a pipeline: its number of stages
  std::string webhook;      // URL to notify when the job ends; empty: none
  std::string owner;        // the API key that created it; empty without keys
};

// Records the job, its queue entry and its stream entry, publishes "queued" — or finds the job an earlier
// request with the same idempotency key created, or refuses because the queue is full.
RedisArgs submit_command(const RedisKeys& keys, const NewJob& job);
// The same for several jobs in one script call, each checked and recorded in order (a later job sees the
// earlier ones' queue entries and idempotency keys); the reply holds two strings per job, {verdict, value},
// which parse_submit_reply reads.
RedisArgs submit_command(const RedisKeys& keys, std::span<const NewJob* const> jobs);

struct SubmitOutcome {
  enum class Kind { kCreated, kExisting, kQueueFull } kind = Kind::kCreated;
  std::string job_id;       // created or existing
  std::string fingerprint;  // kExisting: the fingerprint stored with the key
  int64_t queue_depth = 0;  // kQueueFull
};
// nullopt for a reply this code does not understand.
std::optional<SubmitOutcome> parse_submit_reply(const std::string& status, const std::string& value);

// Cancels a job: a queued one at once; a running one is marked and the broker told through the stream. With
// `owner`, a job of another owner answers "missing", as an unknown id does.
RedisArgs cancel_command(const RedisKeys& keys, const std::string& id, int64_t now_ms, int64_t retention_s,
                         const std::string& owner = "");

// What the cancel script answered ({verdict, state}).
struct CancelOutcome {
  enum class Kind {
    kMissing,       // no such job (or another owner's)
    kCancelled,     // it was queued: cancelled now
    kCancelling,    // it runs: marked, the broker stops it on its worker and the final state follows
    kAlreadyFinal,  // it had ended: `state` says how
  } kind = Kind::kMissing;
  std::string state;
};
// nullopt for a reply this code does not understand.
std::optional<CancelOutcome> parse_cancel_reply(const std::vector<std::string>& elements);

// --- broker -----------------------------------------------------------------------------------------------

// Dispatches and outcomes go to Redis in batches: batch_command() followed by any number of groups, each
// from dispatch_group() or finish_group() (of the batch's kind). The reply holds one verdict per group.
enum class Batch { kDispatch, kFinish };
RedisArgs batch_command(const RedisKeys& keys, Batch batch);

// Write-ahead of a dispatch: marks the job running on `worker` at `attempt` if it is still queued at
// attempt - 1.
std::vector<std::string> dispatch_group(const std::string& id, uint32_t attempt, const std::string& worker,
                                        int64_t now_ms, const std::string& running_event);
struct DispatchVerdict {
  enum class Kind {
    kSend,        // recorded (also when this very dispatch was already: a command sent again after a broken
                  // connection): send the job
    kGone,        // the job is no longer queued (cancelled, expired, done): drop it
    kRecount,     // it is queued but Redis counts `attempts_done` attempts: correct the count and retry
    kUnanswered,  // Redis refused the batch (logged where it happened)
  } kind = Kind::kUnanswered;
  uint32_t attempts_done = 0;  // kRecount
};
// From the script's integer (nullopt: no answer): 1 send, 0 gone, -(n + 1) recount to n.
DispatchVerdict parse_dispatch_verdict(std::optional<long long> reply);

struct Completion {
  std::string id;
  JobState expected =
      JobState::kRunning;  // kRunning: held by worker at attempt; kQueued: expiring in the queue
  uint32_t attempt = 0;
  std::string worker;
  JobState final_state = JobState::kSucceeded;
  int64_t now_ms = 0;
  int64_t retention_s = 0;
  std::string event;
  std::vector<std::pair<std::string, std::string>> fields;
};
// Records a final state.
std::vector<std::string> finish_group(const Completion& completion);
enum class FinishVerdict {
  kRecorded,    // 1
  kRepeated,    // 2: this very outcome was already recorded (a repeated result)
  kStale,       // 0: the job is not in the expected state at that attempt: a stale result, to be refused
  kUnanswered,  // no answer from Redis
};
FinishVerdict parse_finish_verdict(std::optional<long long> reply);

// Puts a running job back on its queue after its worker was lost or its lease ran out, unless a client
// asked to cancel it meanwhile (RequeueVerdict).
RedisArgs requeue_command(const RedisKeys& keys, const std::string& id, uint32_t attempt, int64_t now_ms,
                          const std::string& queued_event, const std::string& cancelled_event,
                          int64_t retention_s, const std::string& error_code,
                          const std::string& error_message);
enum class RequeueVerdict {
  kRequeued,    // 1
  kCancelled,   // 2: a client had asked to cancel: cancelled instead
  kNotRunning,  // 0: not running at that attempt
  kUnanswered,  // no answer from Redis
};
RequeueVerdict parse_requeue_verdict(std::optional<long long> reply);

// A running job's progress (e.g. video frames done of total), recorded and published only while the job
// runs at that attempt. Reply 1: recorded. 0: not running at that attempt (finished, requeued): ignored.
RedisArgs progress_command(const RedisKeys& keys, const std::string& id, uint32_t attempt, uint64_t done,
                           uint64_t total, const std::string& event);

// A pipeline's stage `stage` succeeded on `worker` at `attempt`: keeps its result and queues the job as the
// next stage (AdvanceVerdict).
struct Advance {
  std::string id;
  uint32_t attempt = 0;
  std::string worker;
  uint32_t stage = 0;
  int64_t now_ms = 0;
  std::string next_kind;
  std::string next_model;
  std::string next_input;
  std::string stage_result;
  std::string queued_event;
  std::string cancelled_event;
  int64_t retention_s = 0;
};
RedisArgs advance_command(const RedisKeys& keys, const Advance& advance);
enum class AdvanceVerdict {
  kAdvanced,    // 1: queued as the next stage
  kRepeated,    // 2: this very step was already applied (a command sent again)
  kCancelled,   // 3: a client had asked to cancel, so the job is cancelled instead
  kNotRunning,  // 0: not running that stage at that attempt
  kUnanswered,  // no answer from Redis
};
AdvanceVerdict parse_advance_verdict(std::optional<long long> reply);

// Whether a worker's result counts: the job store took it (or had taken this very result before). A worker
// told "no" removes the attempt's output files.
bool result_accepted(FinishVerdict verdict);
bool result_accepted(AdvanceVerdict verdict);
bool result_accepted(RequeueVerdict verdict);  // an attempt that ran out of memory, put back on its queue

// --- webhooks (gateway/webhook_sender.hpp)
// -------------------------------------------------------------------

// The consumer group on the completions stream that turns final states into webhook deliveries.
inline constexpr const char* kWebhookGroup = "webhooks";

// A final state read from the completions stream (entry `entry_id`): when the job has a webhook that was not
// scheduled yet, schedules its first delivery at `now_ms`; acknowledges the entry either way, in one step.
RedisArgs webhook_schedule_command(const RedisKeys& keys, const std::string& entry_id, const std::string& id,
                                   int64_t now_ms);

// Takes the earliest due delivery, leasing it until `lease_until_ms` (a sender that dies mid-delivery leaves
// it to be taken again then). Reply {id, ""}: deliver job `id`; {"", next_due_ms or ""}: nothing due yet.
RedisArgs webhook_claim_command(const RedisKeys& keys, int64_t now_ms, int64_t lease_until_ms);

struct WebhookOutcome {
  enum class Kind { kDelivered, kRetry, kFailed } kind = Kind::kDelivered;
  std::string id;
  int64_t lease_until_ms = 0;  // from the claim: only the lease holder settles
  int64_t now_ms = 0;
  int64_t next_due_ms = 0;  // kRetry
  int attempts = 0;
  int last_status = 0;  // the receiver's HTTP status; 0: no answer
  std::string last_error;
};
// Records a delivery's outcome in the job record and reschedules or drops it. Reply 1: recorded; 0: the lease
// was lost (it ran out and another sender took the delivery): nothing changed.
RedisArgs webhook_settle_command(const RedisKeys& keys, const WebhookOutcome& outcome);

// --- reading records back (broker) ------------------------------------------------------------------------

// The fields of a job's record the broker rebuilds a job from: at start (recovery), when reconciling, and
// from a submissions stream entry (which carries the same names).
struct JobRecord {
  std::string state;  // empty: no record
  std::string kind;
  std::string model;
  int32_t priority = 0;
  std::string input_json;
  int64_t created_ms = 0;
  int64_t deadline_ms = 0;
  uint32_t attempts = 0;
  std::string worker;  // running: the worker that holds it
  bool cancel_requested = false;
  std::string stages_json;
  uint32_t stage = 0;
  uint32_t stage_base = 0;
  uint32_t worker_losses = 0;
};

// HMGET of a JobRecord's fields of job `id`; record_from_hmget() reads its reply.
RedisArgs read_record_command(const RedisKeys& keys, const std::string& id);
JobRecord record_from_hmget(const std::vector<std::string>& values);
// From field/value pairs (HGETALL, a submissions stream entry). Unknown fields are passed over; a number that
// does not parse is 0.
JobRecord record_from_fields(const std::vector<std::pair<std::string, std::string>>& fields);

}  // namespace gpufleet::job_store
