#include "gateway/job_submitter.hpp"

#include <memory>

#include "common/clock.hpp"
#include "common/job.hpp"
#include "common/json_text.hpp"
#include "common/pipeline.hpp"
#include "store/redis_schema.hpp"

namespace gpufleet::gateway {

JobSubmitter::JobSubmitter(RedisExecutor& redis, MetricsRegistry& metrics, Settings settings)
    : redis_(redis), keys_(redis.keys()), metrics_(metrics), settings_(settings) {}

job_store::NewJob JobSubmitter::new_job(Submission submission, const Caller& caller) const {
  SubmitRequest& request = submission.request;
  job_store::NewJob job;
  job.id = new_job_id();
  job.kind = request.kind;
  job.model = request.model;
  job.priority = request.priority;
  job.input_json = dump_json(request.input);
  job.webhook = request.webhook;
  if (!request.stages.empty()) {
    job.pipeline = pipeline_to_json(request.stages);
    job.stage_count = request.stages.size();
  }
  job.created_ms = unix_ms();
  if (request.timeout_s) job.deadline_ms = job.created_ms + static_cast<int64_t>(*request.timeout_s * 1000);
  job.max_queued = settings_.max_queued_per_model;
  job.owner = caller.key;
  // Idempotency keys are per API key: another key's identical key names another job (key names hold no '/').
  job.idempotency_key = std::move(submission.idempotency_key);
  if (!job.idempotency_key.empty() && !caller.key.empty())
    job.idempotency_key = caller.key + "/" + job.idempotency_key;
  job.idempotency_ttl_s = settings_.idempotency_ttl_s;
  if (!job.idempotency_key.empty()) job.fingerprint = std::move(submission.fingerprint);
  return job;
}

std::variant<std::monostate, std::string, ApiError> JobSubmitter::chained_result(const SubmitRequest& request,
                                                                                 const Caller& caller) const {
  if (caller.sees_all || !request.input.is_object()) return std::monostate{};
  const auto audio = request.input.find("audio_path");
  if (audio == request.input.end() || !audio->is_string() ||
      !std::filesystem::path(audio->get<std::string>()).is_absolute()) {
    return std::monostate{};
  }
  if (auto id = tts_result_job_id(audio->get<std::string>())) return *id;
  return api_error(ErrorCode::kInvalidInput, "audio_path names no finished TTS result");
}

SubmitOutcome JobSubmitter::verdict(const job_store::NewJob& job, const RedisValue& reply, size_t at) {
  if (reply.error) return redis_down(reply.str);
  auto outcome = reply.elements.size() >= at + 2
                     ? job_store::parse_submit_reply(reply.elements[at], reply.elements[at + 1])
                     : std::nullopt;
  if (!outcome) return api_error(ErrorCode::kInternal, "unexpected reply from the job store");
  switch (outcome->kind) {
    case job_store::SubmitOutcome::Kind::kCreated:
      metrics_.increment("gpufleet_jobs_submitted_total", {{"kind", job.kind}, {"model", job.model}});
      return Created{outcome->job_id, false};
    case job_store::SubmitOutcome::Kind::kExisting:
      if (outcome->fingerprint != job.fingerprint) {
        return api_error(ErrorCode::kIdempotencyConflict,
                         "Idempotency-Key was used for a different request (job " + outcome->job_id + ")");
      }
      return Created{outcome->job_id, true};
    case job_store::SubmitOutcome::Kind::kQueueFull:
      return api_error(ErrorCode::kQueueFull, "the queue of model " + job.model + " holds " +
                                                  std::to_string(outcome->queue_depth) +
                                                  " jobs, its limit; retry later");
  }
  return api_error(ErrorCode::kInternal, "unexpected reply from the job store");
}

void JobSubmitter::submit(Submission submission, const Caller& caller,
                          std::function<void(SubmitOutcome)> done) {
  std::vector<BatchItem> items;
  items.emplace_back(std::move(submission));
  submit_batch(std::move(items), caller, [done = std::move(done)](BatchOutcome outcome) {
    if (auto* error = std::get_if<ApiError>(&outcome)) return done(*error);
    done(std::move(std::get<std::vector<SubmitOutcome>>(outcome).front()));
  });
}

void JobSubmitter::submit_batch(std::vector<BatchItem> items, const Caller& caller,
                                std::function<void(BatchOutcome)> done) {
  std::vector<std::variant<job_store::NewJob, ApiError>> jobs;
  jobs.reserve(items.size());
  std::vector<RedisArgs> owner_reads;
  std::vector<size_t> owner_checked;  // the job each owner read is for
  for (auto& item : items) {
    if (auto* error = std::get_if<ApiError>(&item)) {
      jobs.emplace_back(std::move(*error));
      continue;
    }
    auto& submission = std::get<Submission>(item);
    auto chained = chained_result(submission.request, caller);
    if (auto* error = std::get_if<ApiError>(&chained)) {
      jobs.emplace_back(std::move(*error));
      continue;
    }
    if (auto* id = std::get_if<std::string>(&chained)) {
      owner_reads.push_back({"HGET", keys_.job(*id), std::string(job_field::kOwner)});
      owner_checked.push_back(jobs.size());
    }
    jobs.emplace_back(new_job(std::move(submission), caller));
  }
  if (owner_reads.empty()) return store(std::move(jobs), std::move(done));
  // Only from a result of the caller's own: another key's result is refused as a missing one is.
  auto pending = std::make_shared<std::vector<std::variant<job_store::NewJob, ApiError>>>(std::move(jobs));
  redis_.execute(std::move(owner_reads), [this, pending, owner_checked = std::move(owner_checked),
                                          done = std::move(done)](const RedisBatchResult& owners) mutable {
    if (!owners.ok) return done(redis_down(owners.failure));
    for (size_t i = 0; i < owner_checked.size(); ++i) {
      auto& job = (*pending)[owner_checked[i]];
      const auto& owner = owners.replies[i];
      if (owner.nil || owner.error || owner.str != std::get<job_store::NewJob>(job).owner) {
        job = api_error(ErrorCode::kInvalidInput, "audio_path names no finished TTS result");
      }
    }
    store(std::move(*pending), std::move(done));
  });
}

void JobSubmitter::store(std::vector<std::variant<job_store::NewJob, ApiError>> jobs,
                         std::function<void(BatchOutcome)> done) {
  // The jobs to record, kJobsPerScriptCall to a script call: fewer calls and replies to make and read
  // (Redis's own time per job stays the same, docs/operations.md), and a bounded call stays short for the
  // clients behind it.
  std::vector<RedisArgs> commands;
  std::vector<const job_store::NewJob*> chunk;
  for (const auto& job : jobs) {
    if (const auto* stored = std::get_if<job_store::NewJob>(&job)) {
      chunk.push_back(stored);
      if (chunk.size() == kJobsPerScriptCall) {
        commands.push_back(job_store::submit_command(keys_, chunk));
        chunk.clear();
      }
    }
  }
  if (!chunk.empty()) commands.push_back(job_store::submit_command(keys_, chunk));
  auto finish = [this](std::vector<std::variant<job_store::NewJob, ApiError>>& checked,
                       const RedisBatchResult* result) {
    std::vector<SubmitOutcome> outcomes;
    outcomes.reserve(checked.size());
    size_t stored = 0;  // the stored job's position among the stored ones
    for (auto& job : checked) {
      if (auto* error = std::get_if<ApiError>(&job)) {
        outcomes.emplace_back(std::move(*error));
        continue;
      }
      const auto& reply = result->replies[stored / kJobsPerScriptCall];
      const size_t at = 2 * (stored % kJobsPerScriptCall);
      ++stored;
      outcomes.push_back(verdict(std::get<job_store::NewJob>(job), reply, at));
    }
    return outcomes;
  };
  if (commands.empty()) return done(finish(jobs, nullptr));
  auto pending = std::make_shared<std::vector<std::variant<job_store::NewJob, ApiError>>>(std::move(jobs));
  const size_t expected = commands.size();
  redis_.execute(std::move(commands),
                 [pending, finish, expected, done = std::move(done)](const RedisBatchResult& result) {
                   if (!result.ok) return done(redis_down(result.failure));
                   if (result.replies.size() != expected) {
                     return done(api_error(ErrorCode::kInternal, "unexpected reply from the job store"));
                   }
                   // A call's reply too short for a job is that job's error (verdict).
                   done(finish(*pending, &result));
                 });
}

}  // namespace gpufleet::gateway
