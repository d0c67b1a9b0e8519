#include "store/job_store.hpp"

#include <array>
#include <boost/uuid/detail/sha1.hpp>
#include <charconv>
#include <cstdio>
#include <initializer_list>

namespace gpufleet::job_store {
namespace {

std::string sha1_hex(const std::string& text) {
  boost::uuids::detail::sha1 hash;
  hash.process_bytes(text.data(), text.size());
  boost::uuids::detail::sha1::digest_type digest;
  hash.get_digest(digest);
  std::string hex;
  char buffer[9];
  for (auto word : digest) {
    std::snprintf(buffer, sizeof(buffer), "%08x", static_cast<unsigned>(word));
    hex += buffer;
  }
  return hex;
}

// Every script starts with the same head. KEYS: the store's fixed keys (submissions, queue-models, running,
// completions, webhooks), then the job's own key where the call is about one job. ARGV: what the keys of
// jobs, queues and idempotency keys start with (for the names a script finds only as it runs: the model of a
// job it reads, the jobs of a batch) and the job events channel, then the call's own arguments from ARGV[5].
// All from RedisKeys: no script spells a name. The shebang makes Redis refuse a script that touches a key
// outside its declared keys' slot (Redis Cluster; docs/redis.md#redis-cluster) instead of letting it work on
// one node and fail on several.
constexpr const char* kHead = R"lua(#!lua
local submissions, queue_models, running, completions, webhooks = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5]
local job_prefix, queue_prefix, idem_prefix, job_events = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
)lua";

// Put after the head of the scripts that end jobs only: the others (submit, dispatch: once per job) need not
// build it on every call.
constexpr const char* kFinalize = R"lua(
-- A job reaches a final state: its record (with `...`'s field/value pairs), its expiry, the completions
-- log (capped at about a million entries) and its event, the same way from every script that ends a job.
local function finalize(job, id, state, now, retention, attempt, worker, event, ...)
  redis.call('HSET', job, 'state', state, 'updated_ms', now, 'finished_ms', now, ...)
  if tonumber(retention) > 0 then redis.call('EXPIRE', job, retention) end
  redis.call('XADD', completions, 'MAXLEN', '~', '1000000', '*', 'id', id, 'state', state, 'attempt', attempt,
    'worker', worker)
  redis.call('PUBLISH', job_events, event)
end
)lua";

// Group: id kind model priority input created_ms deadline_ms max_queued idem_key idem_ttl fingerprint event
//        stream_maxlen stages stages_total webhook owner
// Submissions run in batches too (a POST /v1/jobs:batch's jobs), each job checked and recorded in order, so a
// later job of a batch sees the earlier ones (queue depth, idempotency keys) exactly as with one call per
// job. Two values per job, {verdict, value}: a batch of one answers {verdict, value}.
constexpr const char* kSubmitOne = R"lua(
-- Appends values to a list (defined once per script call, not once per job).
local function add(list, ...)
  for _, value in ipairs({...}) do list[#list + 1] = value end
end
local function one(id, job, a)
  local model = a[3]
  local idem = a[9]
  if idem ~= '' then
    local existing = redis.call('GET', idem_prefix .. idem)
    if existing then return 'existing', existing end
  end
  local queue = queue_prefix .. model
  local max = tonumber(a[8])
  local depth = nil
  if max > 0 then
    depth = redis.call('ZCARD', queue)
    if depth >= max then return 'full', tostring(depth) end
  end
  -- One HSET with every field: each redis.call costs the server more than its command does (measured with
  -- gpufleet-bench: about 8 us of Redis CPU per call saved).
  local record = {'id', id, 'kind', a[2], 'model', model, 'state', 'queued', 'priority', a[4], 'input', a[5],
    'created_ms', a[6], 'updated_ms', a[6], 'attempts', '0', 'deadline_ms', a[7]}
  local entry = {'op', 'submit', 'id', id, 'kind', a[2], 'model', model, 'priority', a[4], 'input', a[5],
    'created_ms', a[6], 'deadline_ms', a[7]}
  if a[14] ~= '' then
    add(record, 'stages', a[14], 'stage', '0', 'stage_base', '0', 'stages_total', a[15])
    add(entry, 'stages', a[14])
  end
  if a[16] ~= '' then add(record, 'webhook', a[16]) end
  if a[17] ~= '' then add(record, 'owner', a[17]) end
  redis.call('HSET', job, unpack(record))
  redis.call('ZADD', queue, a[6], id)
  -- The set of queued models only grows, and whatever made a queue (submit, advance) added its model: a
  -- queue known to hold jobs is in it already, so one call per job is saved where the depth was read.
  if depth == nil or depth == 0 then redis.call('SADD', queue_models, model) end
  -- The stream entry carries what the broker needs to queue the job, so it reads nothing else.
  redis.call('XADD', submissions, 'MAXLEN', '~', a[13], '*', unpack(entry))
  redis.call('PUBLISH', job_events, a[12])
  if idem ~= '' then
    redis.call('SET', idem_prefix .. idem, id .. ' ' .. a[11], 'EX', a[10])
  end
  return 'created', id
end
)lua";

// KEYS[6]: the job. Own ARGV: id now retention stream_maxlen owner (empty: any owner)
constexpr const char* kCancel = R"lua(
local job = KEYS[6]
local id, now, retention, stream_maxlen, owner = unpack(ARGV, 5, 9)
local f = redis.call('HMGET', job, 'state', 'model', 'kind', 'owner')
local state = f[1]
if not state then return {'missing', ''} end
-- Another key's job does not exist as far as this caller can tell.
if owner ~= '' and f[4] ~= owner then return {'missing', ''} end
if state == 'queued' then
  local message = 'cancelled by a client while queued'
  redis.call('ZREM', queue_prefix .. f[2], id)
  redis.call('XADD', submissions, 'MAXLEN', '~', stream_maxlen, '*', 'op', 'cancel', 'id', id)
  local event = '{"type":"job","id":' .. cjson.encode(id) .. ',"state":"cancelled","kind":' ..
    cjson.encode(f[3]) .. ',"model":' .. cjson.encode(f[2]) .. ',"at_ms":' .. now ..
    ',"error":{"code":"cancelled","message":"' .. message .. '"}}'
  finalize(job, id, 'cancelled', now, retention, '0', '', event, 'error_code', 'cancelled', 'error_message',
    message)
  return {'cancelled', state}
end
if state == 'running' then
  redis.call('HSET', job, 'cancel_requested', now)
  redis.call('XADD', submissions, 'MAXLEN', '~', stream_maxlen, '*', 'op', 'cancel', 'id', id)
  return {'cancelling', state}
end
return {'final', state}
)lua";

// Dispatch and finish run in batches: one script call carries every dispatch (or outcome) of a broker loop
// turn (submit: a batch's jobs), so the gateway and the broker make and read fewer calls. Own ARGV: groups,
// each its length followed by its arguments; the reply has each group's verdict in order, and its second
// value where `one` returns two (submit).
// `one(id, job_key, group)` comes before this loop in each batched script.
constexpr const char* kGroupLoop = R"lua(
local verdicts = {}
local i = 5
while i <= #ARGV do
  local n = tonumber(ARGV[i])
  local a = {unpack(ARGV, i + 1, i + n)}
  local verdict, value = one(a[1], job_prefix .. a[1], a)
  verdicts[#verdicts + 1] = verdict
  if value ~= nil then verdicts[#verdicts + 1] = value end
  i = i + 1 + n
end
return verdicts
)lua";

// Group: id attempt worker now event
constexpr const char* kDispatchOne = R"lua(
local function one(id, job, a)
  local f = redis.call('HMGET', job, 'state', 'model', 'attempts', 'worker')
  -- Sent again after a connection broke before the reply: the first one was applied.
  if f[1] == 'running' and f[3] == a[2] and f[4] == a[3] then return 1 end
  if f[1] ~= 'queued' then return 0 end
  local done = tonumber(f[3] or '0') or 0
  if done + 1 ~= tonumber(a[2]) then return -(done + 1) end
  redis.call('HSET', job, 'state', 'running', 'attempts', a[2], 'worker', a[3], 'started_ms', a[4], 'updated_ms', a[4])
  -- An earlier attempt's progress; a first attempt has none (a pipeline's next stage is cleared by advance).
  if a[2] ~= '1' then redis.call('HDEL', job, 'progress_done', 'progress_total') end
  redis.call('ZREM', queue_prefix .. f[2], id)
  redis.call('ZADD', running, a[4], id)
  redis.call('PUBLISH', job_events, a[5])
  return 1
end
)lua";

// Group: id expected attempt worker final now retention event, then field/value pairs
constexpr const char* kFinishOne = R"lua(
local function one(id, job, a)
  local f = redis.call('HMGET', job, 'state', 'attempts', 'worker', 'model', 'stage', 'stages_total')
  local current = f[1] == a[2] and (a[2] == 'queued' or (f[2] == a[3] and f[3] == a[4]))
  -- A pipeline succeeds only with its last stage: an earlier stage's success is an advance, never an end.
  if current and a[5] == 'succeeded' and f[6] and tonumber(f[5]) + 1 < tonumber(f[6]) then return 0 end
  if not current then
    if f[1] == a[5] and f[2] == a[3] and (f[3] or '') == a[4] then return 2 end
    return 0
  end
  if a[2] == 'running' then
    redis.call('ZREM', running, id)
  else
    redis.call('ZREM', queue_prefix .. f[4], id)
  end
  finalize(job, id, a[5], a[6], a[7], a[3], a[4], a[8], unpack(a, 9))
  return 1
end
)lua";

// KEYS[6]: the job. Own ARGV: id attempt now queued_event cancelled_event retention code message
constexpr const char* kRequeue = R"lua(
local job = KEYS[6]
local id, attempt, now, queued_event, cancelled_event, retention, code, message = unpack(ARGV, 5, 12)
local f = redis.call('HMGET', job, 'state', 'attempts', 'model', 'created_ms', 'cancel_requested')
if f[1] ~= 'running' or f[2] ~= attempt then return 0 end
redis.call('ZREM', running, id)
if f[5] then
  finalize(job, id, 'cancelled', now, retention, attempt, '', cancelled_event, 'worker', '', 'error_code',
    'cancelled', 'error_message', 'cancelled by a client; its worker stopped answering')
  return 2
end
redis.call('HSET', job, 'state', 'queued', 'updated_ms', now, 'worker', '', 'last_error_code', code,
  'last_error_message', message)
-- Counted in the record so that a broker restart still knows how many workers the job has taken down.
if code == 'worker_lost' then redis.call('HINCRBY', job, 'worker_losses', 1) end
redis.call('ZADD', queue_prefix .. f[3], f[4] or now, id)
redis.call('PUBLISH', job_events, queued_event)
return 1
)lua";

// KEYS[6]: the job. Own ARGV: id attempt done total event
constexpr const char* kProgress = R"lua(
local job = KEYS[6]
local id, attempt, done, total, event = unpack(ARGV, 5, 9)
local f = redis.call('HMGET', job, 'state', 'attempts')
if f[1] ~= 'running' or f[2] ~= attempt then return 0 end
redis.call('HSET', job, 'progress_done', done, 'progress_total', total)
redis.call('PUBLISH', job_events, event)
return 1
)lua";

// A pipeline's stage succeeded: its result is kept, and the job goes back to the queue as the next stage,
// with that stage's kind, model and input, in one step, so that a broker restart finds it in the right queue.
// KEYS[6]: the job. Own ARGV: id attempt worker stage now next_kind next_model next_input stage_result
//                             queued_event cancelled_event retention
constexpr const char* kAdvance = R"lua(
local job = KEYS[6]
local id, attempt, worker, stage_arg, now, next_kind, next_model, next_input, stage_result, queued_event,
  cancelled_event, retention = unpack(ARGV, 5, 16)
local f = redis.call('HMGET', job, 'state', 'attempts', 'worker', 'stage', 'stage_base', 'cancel_requested',
  'created_ms')
local stage = tonumber(stage_arg)
if f[1] == 'queued' and f[2] == attempt and tonumber(f[4] or '-1') == stage + 1 and f[5] == attempt then
  return 2  -- sent again after a connection broke before the reply: the first one was applied
end
if f[1] ~= 'running' or f[2] ~= attempt or f[3] ~= worker or tonumber(f[4] or '-1') ~= stage then return 0 end
redis.call('ZREM', running, id)
redis.call('HSET', job, 'stage_result_' .. stage, stage_result, 'updated_ms', now)
redis.call('HDEL', job, 'progress_done', 'progress_total')
if f[6] then
  finalize(job, id, 'cancelled', now, retention, attempt, worker, cancelled_event, 'worker', '', 'error_code',
    'cancelled', 'error_message', 'cancelled by a client')
  return 3
end
redis.call('HSET', job, 'state', 'queued', 'kind', next_kind, 'model', next_model, 'input', next_input,
  'stage', tostring(stage + 1), 'stage_base', attempt, 'worker', '')
redis.call('HDEL', job, 'last_error_code', 'last_error_message')
redis.call('ZADD', queue_prefix .. next_model, f[7] or now, id)
redis.call('SADD', queue_models, next_model)
redis.call('PUBLISH', job_events, queued_event)
return 1
)lua";

// A final state from the completions stream: schedules the job's first webhook delivery, once.
// KEYS[6]: the job. Own ARGV: entry_id id now group
constexpr const char* kWebhookSchedule = R"lua(
local job = KEYS[6]
local entry_id, id, now, group = unpack(ARGV, 5, 8)
local f = redis.call('HMGET', job, 'webhook', 'webhook_state')
if f[1] and not f[2] then
  redis.call('HSET', job, 'webhook_state', 'pending', 'webhook_attempts', '0')
  redis.call('ZADD', webhooks, 'NX', now, id)
end
redis.call('XACK', completions, group, entry_id)
return 1
)lua";

// Own ARGV: now lease_until
constexpr const char* kWebhookClaim = R"lua(
local now, lease_until = ARGV[5], ARGV[6]
local due = redis.call('ZRANGEBYSCORE', webhooks, '-inf', now, 'LIMIT', 0, 1)
if #due == 0 then
  local first = redis.call('ZRANGE', webhooks, 0, 0, 'WITHSCORES')
  return {'', first[2] or ''}
end
redis.call('ZADD', webhooks, lease_until, due[1])
return {due[1], ''}
)lua";

// KEYS[6]: the job. Own ARGV: id lease_until outcome(delivered|retry|failed) now next_due attempts status
// error
constexpr const char* kWebhookSettle = R"lua(
local job = KEYS[6]
local id, lease_until, outcome, now, next_due, attempts, last_status, last_error = unpack(ARGV, 5, 12)
local score = redis.call('ZSCORE', webhooks, id)
if not score or tonumber(score) ~= tonumber(lease_until) then return 0 end
if outcome == 'retry' then redis.call('ZADD', webhooks, next_due, id) else redis.call('ZREM', webhooks, id) end
if redis.call('EXISTS', job) == 1 then
  local state = outcome
  if state == 'retry' then state = 'retrying' end
  redis.call('HSET', job, 'webhook_state', state, 'webhook_attempts', attempts, 'webhook_last_status',
    last_status, 'webhook_last_error', last_error)
  if state == 'delivered' then redis.call('HSET', job, 'webhook_delivered_ms', now) end
end
return 1
)lua";

// A script's source: the head, then `parts` in order.
Script make(const char* name, std::initializer_list<const char*> parts) {
  std::string source = kHead;
  for (const char* part : parts) source += part;
  return Script{name, source, sha1_hex(source)};
}

// Positions in scripts().
enum class ScriptId : size_t {
  kSubmit,
  kCancel,
  kDispatch,
  kFinish,
  kRequeue,
  kProgress,
  kAdvance,
  kWebhookSchedule,
  kWebhookClaim,
  kWebhookSettle
};

const Script& script(ScriptId id) {
  return scripts().at(static_cast<size_t>(id));
}

// The head of every script call (see kHead): the declared keys, the job's own where `job_id` is given, and
// the key prefixes and channel.
RedisArgs call(const Script& script, const RedisKeys& keys, const std::string* job_id, size_t own_args) {
  RedisArgs command;
  command.reserve(13 + own_args);
  command.insert(command.end(), {"EVALSHA", script.sha1, job_id ? "6" : "5", keys.submissions(),
                                 keys.queue_models(), keys.running(), keys.completions(), keys.webhooks()});
  if (job_id) command.push_back(keys.job(*job_id));
  command.insert(command.end(),
                 {keys.job_prefix(), keys.queue_prefix(), keys.idempotency_prefix(), keys.job_events()});
  return command;
}

// A call about one job, with its own arguments.
RedisArgs call_for_job(const Script& script, const RedisKeys& keys, const std::string& id,
                       std::initializer_list<std::string> args) {
  RedisArgs command = call(script, keys, &id, args.size());
  command.insert(command.end(), args.begin(), args.end());
  return command;
}

}  // namespace

const std::vector<Script>& scripts() {
  // A batched script is its per-group function followed by the loop over the groups.
  static const std::vector<Script> all{
      make("submit", {kSubmitOne, kGroupLoop}),     make("cancel", {kFinalize, kCancel}),
      make("dispatch", {kDispatchOne, kGroupLoop}), make("finish", {kFinalize, kFinishOne, kGroupLoop}),
      make("requeue", {kFinalize, kRequeue}),       make("progress", {kProgress}),
      make("advance", {kFinalize, kAdvance}),       make("webhook_schedule", {kWebhookSchedule}),
      make("webhook_claim", {kWebhookClaim}),       make("webhook_settle", {kWebhookSettle})};
  return all;
}

RedisArgs submit_command(const RedisKeys& keys, const NewJob& job) {
  return submit_command(keys, std::span<const NewJob* const>(std::array<const NewJob*, 1>{&job}));
}

RedisArgs submit_command(const RedisKeys& keys, std::span<const NewJob* const> jobs) {
  constexpr size_t kArgsPerJob = 17;
  RedisArgs command = call(script(ScriptId::kSubmit), keys, nullptr, jobs.size() * (kArgsPerJob + 1));
  const std::string stream_maxlen = std::to_string(kStreamMaxLen);
  for (const NewJob* job : jobs) {
    JobEvent queued{job->id, JobState::kQueued, job->kind, job->model, job->created_ms, 0, {}, {}, {}, {}};
    if (!job->pipeline.empty()) queued.stage = 0;
    command.insert(command.end(),
                   {std::to_string(kArgsPerJob), job->id, job->kind, job->model,
                    std::to_string(job->priority), job->input_json, std::to_string(job->created_ms),
                    std::to_string(job->deadline_ms), std::to_string(job->max_queued), job->idempotency_key,
                    std::to_string(job->idempotency_ttl_s), job->fingerprint, to_json(queued), stream_maxlen,
                    job->pipeline, std::to_string(job->stage_count), job->webhook, job->owner});
  }
  return command;
}

std::optional<SubmitOutcome> parse_submit_reply(const std::string& status, const std::string& value) {
  SubmitOutcome outcome;
  if (status == "created") {
    outcome.kind = SubmitOutcome::Kind::kCreated;
    outcome.job_id = value;
  } else if (status == "existing") {
    outcome.kind = SubmitOutcome::Kind::kExisting;
    const auto space = value.find(' ');
    outcome.job_id = value.substr(0, space);
    outcome.fingerprint = space == std::string::npos ? "" : value.substr(space + 1);
  } else if (status == "full") {
    outcome.kind = SubmitOutcome::Kind::kQueueFull;
    outcome.queue_depth = std::strtoll(value.c_str(), nullptr, 10);
  } else {
    return std::nullopt;
  }
  return outcome;
}

std::optional<CancelOutcome> parse_cancel_reply(const std::vector<std::string>& elements) {
  if (elements.size() != 2) return std::nullopt;
  CancelOutcome outcome;
  outcome.state = elements[1];
  const std::string& verdict = elements[0];
  if (verdict == "missing") {
    outcome.kind = CancelOutcome::Kind::kMissing;
  } else if (verdict == "cancelled") {
    outcome.kind = CancelOutcome::Kind::kCancelled;
  } else if (verdict == "cancelling") {
    outcome.kind = CancelOutcome::Kind::kCancelling;
  } else if (verdict == "final") {
    outcome.kind = CancelOutcome::Kind::kAlreadyFinal;
  } else {
    return std::nullopt;
  }
  return outcome;
}

DispatchVerdict parse_dispatch_verdict(std::optional<long long> reply) {
  DispatchVerdict verdict;
  if (!reply) return verdict;
  if (*reply == 1) {
    verdict.kind = DispatchVerdict::Kind::kSend;
  } else if (*reply < 0 && *reply >= -(static_cast<long long>(UINT32_MAX) + 1)) {
    verdict.kind = DispatchVerdict::Kind::kRecount;
    verdict.attempts_done = static_cast<uint32_t>(-*reply - 1);
  } else {
    verdict.kind = DispatchVerdict::Kind::kGone;
  }
  return verdict;
}

FinishVerdict parse_finish_verdict(std::optional<long long> reply) {
  if (!reply) return FinishVerdict::kUnanswered;
  if (*reply == 1) return FinishVerdict::kRecorded;
  if (*reply == 2) return FinishVerdict::kRepeated;
  return FinishVerdict::kStale;
}

RequeueVerdict parse_requeue_verdict(std::optional<long long> reply) {
  if (!reply) return RequeueVerdict::kUnanswered;
  if (*reply == 1) return RequeueVerdict::kRequeued;
  if (*reply == 2) return RequeueVerdict::kCancelled;
  return RequeueVerdict::kNotRunning;
}

AdvanceVerdict parse_advance_verdict(std::optional<long long> reply) {
  if (!reply) return AdvanceVerdict::kUnanswered;
  if (*reply == 1) return AdvanceVerdict::kAdvanced;
  if (*reply == 2) return AdvanceVerdict::kRepeated;
  if (*reply == 3) return AdvanceVerdict::kCancelled;
  return AdvanceVerdict::kNotRunning;
}

bool result_accepted(FinishVerdict verdict) {
  return verdict == FinishVerdict::kRecorded || verdict == FinishVerdict::kRepeated;
}

bool result_accepted(RequeueVerdict verdict) {
  return verdict == RequeueVerdict::kRequeued || verdict == RequeueVerdict::kCancelled;
}

bool result_accepted(AdvanceVerdict verdict) {
  return verdict == AdvanceVerdict::kAdvanced || verdict == AdvanceVerdict::kRepeated ||
         verdict == AdvanceVerdict::kCancelled;
}

RedisArgs cancel_command(const RedisKeys& keys, const std::string& id, int64_t now_ms, int64_t retention_s,
                         const std::string& owner) {
  return call_for_job(
      script(ScriptId::kCancel), keys, id,
      {id, std::to_string(now_ms), std::to_string(retention_s), std::to_string(kStreamMaxLen), owner});
}

namespace {

std::vector<std::string> group(std::initializer_list<std::string> args) {
  std::vector<std::string> out{std::to_string(args.size())};
  out.insert(out.end(), args.begin(), args.end());
  return out;
}

}  // namespace

RedisArgs batch_command(const RedisKeys& keys, Batch batch) {
  const ScriptId id = batch == Batch::kDispatch ? ScriptId::kDispatch : ScriptId::kFinish;
  return call(script(id), keys, nullptr, 0);
}

std::vector<std::string> dispatch_group(const std::string& id, uint32_t attempt, const std::string& worker,
                                        int64_t now_ms, const std::string& running_event) {
  return group({id, std::to_string(attempt), worker, std::to_string(now_ms), running_event});
}

std::vector<std::string> finish_group(const Completion& completion) {
  std::vector<std::string> out =
      group({completion.id, std::string(to_string(completion.expected)), std::to_string(completion.attempt),
             completion.worker, std::string(to_string(completion.final_state)),
             std::to_string(completion.now_ms), std::to_string(completion.retention_s), completion.event});
  for (const auto& [field, value] : completion.fields) {
    out.push_back(field);
    out.push_back(value);
  }
  out[0] = std::to_string(out.size() - 1);
  return out;
}

RedisArgs requeue_command(const RedisKeys& keys, const std::string& id, uint32_t attempt, int64_t now_ms,
                          const std::string& queued_event, const std::string& cancelled_event,
                          int64_t retention_s, const std::string& error_code,
                          const std::string& error_message) {
  return call_for_job(script(ScriptId::kRequeue), keys, id,
                      {id, std::to_string(attempt), std::to_string(now_ms), queued_event, cancelled_event,
                       std::to_string(retention_s), error_code, error_message});
}

RedisArgs progress_command(const RedisKeys& keys, const std::string& id, uint32_t attempt, uint64_t done,
                           uint64_t total, const std::string& event) {
  return call_for_job(script(ScriptId::kProgress), keys, id,
                      {id, std::to_string(attempt), std::to_string(done), std::to_string(total), event});
}

RedisArgs advance_command(const RedisKeys& keys, const Advance& advance) {
  return call_for_job(script(ScriptId::kAdvance), keys, advance.id,
                      {advance.id, std::to_string(advance.attempt), advance.worker,
                       std::to_string(advance.stage), std::to_string(advance.now_ms), advance.next_kind,
                       advance.next_model, advance.next_input, advance.stage_result, advance.queued_event,
                       advance.cancelled_event, std::to_string(advance.retention_s)});
}

RedisArgs webhook_schedule_command(const RedisKeys& keys, const std::string& entry_id, const std::string& id,
                                   int64_t now_ms) {
  return call_for_job(script(ScriptId::kWebhookSchedule), keys, id,
                      {entry_id, id, std::to_string(now_ms), kWebhookGroup});
}

RedisArgs webhook_claim_command(const RedisKeys& keys, int64_t now_ms, int64_t lease_until_ms) {
  RedisArgs command = call(script(ScriptId::kWebhookClaim), keys, nullptr, 2);
  command.insert(command.end(), {std::to_string(now_ms), std::to_string(lease_until_ms)});
  return command;
}

RedisArgs webhook_settle_command(const RedisKeys& keys, const WebhookOutcome& outcome) {
  const char* kind = outcome.kind == WebhookOutcome::Kind::kDelivered ? "delivered"
                     : outcome.kind == WebhookOutcome::Kind::kRetry   ? "retry"
                                                                      : "failed";
  return call_for_job(
      script(ScriptId::kWebhookSettle), keys, outcome.id,
      {outcome.id, std::to_string(outcome.lease_until_ms), kind, std::to_string(outcome.now_ms),
       std::to_string(outcome.next_due_ms), std::to_string(outcome.attempts),
       std::to_string(outcome.last_status), outcome.last_error});
}

namespace {

template <typename T>
T record_number(const std::string& text) {
  T value{};
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  return ec == std::errc() && end == text.data() + text.size() ? value : T{};
}

// Each JobRecord field: its name in the record, and how its text is kept.
struct RecordField {
  std::string_view name;
  void (*set)(JobRecord&, const std::string&);
};
const RecordField kRecordFields[] = {
    {job_field::kState, [](JobRecord& r, const std::string& v) { r.state = v; }},
    {job_field::kKind, [](JobRecord& r, const std::string& v) { r.kind = v; }},
    {job_field::kModel, [](JobRecord& r, const std::string& v) { r.model = v; }},
    {job_field::kPriority,
     [](JobRecord& r, const std::string& v) { r.priority = record_number<int32_t>(v); }},
    {job_field::kInput, [](JobRecord& r, const std::string& v) { r.input_json = v; }},
    {job_field::kCreatedMs,
     [](JobRecord& r, const std::string& v) { r.created_ms = record_number<int64_t>(v); }},
    {job_field::kDeadlineMs,
     [](JobRecord& r, const std::string& v) { r.deadline_ms = record_number<int64_t>(v); }},
    {job_field::kAttempts,
     [](JobRecord& r, const std::string& v) { r.attempts = record_number<uint32_t>(v); }},
    {job_field::kWorker, [](JobRecord& r, const std::string& v) { r.worker = v; }},
    {job_field::kCancelRequested,
     [](JobRecord& r, const std::string& v) { r.cancel_requested = !v.empty(); }},
    {job_field::kStages, [](JobRecord& r, const std::string& v) { r.stages_json = v; }},
    {job_field::kStage, [](JobRecord& r, const std::string& v) { r.stage = record_number<uint32_t>(v); }},
    {job_field::kStageBase,
     [](JobRecord& r, const std::string& v) { r.stage_base = record_number<uint32_t>(v); }},
    {job_field::kWorkerLosses,
     [](JobRecord& r, const std::string& v) { r.worker_losses = record_number<uint32_t>(v); }},
};

}  // namespace

RedisArgs read_record_command(const RedisKeys& keys, const std::string& id) {
  RedisArgs command{"HMGET", keys.job(id)};
  for (const auto& field : kRecordFields) command.emplace_back(field.name);
  return command;
}

JobRecord record_from_hmget(const std::vector<std::string>& values) {
  JobRecord record;
  if (values.size() != std::size(kRecordFields)) return record;  // not this command's reply: no record
  for (size_t i = 0; i < values.size(); ++i) kRecordFields[i].set(record, values[i]);
  return record;
}

JobRecord record_from_fields(const std::vector<std::pair<std::string, std::string>>& fields) {
  JobRecord record;
  for (const auto& [name, value] : fields) {
    for (const auto& field : kRecordFields) {
      if (field.name == name) field.set(record, value);
    }
  }
  return record;
}

}  // namespace gpufleet::job_store
