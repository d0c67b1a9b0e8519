#include "gateway/job_service.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>

#include "common/clock.hpp"
#include "common/job.hpp"

namespace gpufleet::gateway {

using nlohmann::json;

namespace {

using Fields = std::vector<std::pair<std::string, std::string>>;

ApiError no_such_job(const std::string& id) {
  return api_error(ErrorCode::kNotFound, "no job with id " + id);
}

}  // namespace

json accepted_json(const Created& job) {
  json body{{"id", job.id},
            {"state", "queued"},
            {"links", {{"self", "/v1/jobs/" + job.id}, {"result", "/v1/jobs/" + job.id + "/result"}}}};
  // A replay says nothing of the state: the job may have moved on since it was created.
  if (job.replayed) body.erase("state");
  return body;
}

json batch_answer(const std::vector<SubmitOutcome>& outcomes) {
  json jobs = json::array();
  size_t accepted = 0;
  for (const auto& item : outcomes) {
    if (const auto* error = std::get_if<ApiError>(&item)) {
      jobs.push_back({{"status", error->status},
                      {"error", {{"code", to_string(error->code)}, {"message", error->message}}}});
      continue;
    }
    const auto& job = std::get<Created>(item);
    json accepted_job = accepted_json(job);
    accepted_job["status"] = 202;
    if (job.replayed) accepted_job["replayed"] = true;
    jobs.push_back(std::move(accepted_job));
    ++accepted;
  }
  return {{"accepted", accepted}, {"refused", outcomes.size() - accepted}, {"jobs", std::move(jobs)}};
}

JsonAnswer generate_answer(const std::string& job_id, const std::string& model, const std::string& path_field,
                           const FinalOutcome* outcome) {
  JsonAnswer answer{200, {{"job_id", job_id}, {"model", model}}};
  json& body = answer.body;
  if (outcome == nullptr) {
    body["success"] = false;
    body["error"] = {{"code", "timeout"},
                     {"message", "the job did not finish in time; poll /v1/jobs/" + job_id}};
    answer.status = 504;
  } else if (outcome->state == to_string(JobState::kSucceeded)) {
    body["success"] = true;
    body[path_field] = outcome->result.value(path_field, json());
    body["duration_s"] = outcome->result.value("duration_s", 0.0);
    body["generation_time_ms"] = outcome->result.value("generation_time_ms", 0.0);
  } else {
    body["success"] = false;
    const auto code = parse_error_code(outcome->error_code).value_or(ErrorCode::kJobFailed);
    body["error"] = {{"code", outcome->error_code.empty() ? outcome->state : outcome->error_code},
                     {"message", outcome->error_message}};
    answer.status = static_cast<unsigned>(http_status_for(code));
  }
  return answer;
}

std::variant<JsonAnswer, ApiError> cancel_answer(const std::string& job_id,
                                                 const job_store::CancelOutcome& outcome) {
  switch (outcome.kind) {
    case job_store::CancelOutcome::Kind::kMissing:
      return no_such_job(job_id);
    case job_store::CancelOutcome::Kind::kCancelled:
      return JsonAnswer{200, {{"id", job_id}, {"state", "cancelled"}}};
    case job_store::CancelOutcome::Kind::kCancelling:
      // Running: the broker stops it on its worker; the final state follows as an event.
      return JsonAnswer{202, {{"id", job_id}, {"state", "running"}, {"cancel_requested", true}}};
    case job_store::CancelOutcome::Kind::kAlreadyFinal:
      break;
  }
  return api_error(ErrorCode::kAlreadyFinal, "job " + job_id + " has already ended: " + outcome.state);
}

std::variant<long long, ApiError> parse_recent_limit(std::string_view query) {
  long long limit = 50;
  if (auto value = query_value(query, "limit")) {
    char* end = nullptr;
    limit = std::strtoll(value->c_str(), &end, 10);
    if (value->empty() || *end != '\0' || limit < 1 || limit > 500) {
      return api_error(ErrorCode::kInvalidRequest, "limit must be 1 to 500");
    }
  }
  return limit;
}

JobService::JobService(RedisExecutor& redis, const RedisKeys& keys, MetricsRegistry& metrics,
                       EventHub& event_hub, const FileStore& file_store, Settings settings)
    : redis_(redis),
      keys_(keys),
      event_hub_(event_hub),
      file_store_(file_store),
      settings_(settings),
      submitter_(redis, metrics, {settings.max_queued_per_model, settings.idempotency_ttl_s}) {}

void JobService::note_redis_memory(const RedisMemory& memory) {
  redis_memory_ = memory;
  const bool full = job_store_full(memory, settings_.redis_memory_high_water);
  if (full != store_full_) {
    spdlog::warn("gateway: Redis holds {} of its maxmemory {} bytes: {}", memory.used, memory.max,
                 full ? "new jobs are refused (503)" : "new jobs are accepted again");
  }
  store_full_ = full;
}

std::optional<ApiError> JobService::store_refusal() const {
  if (!store_full_) return std::nullopt;
  return api_error(ErrorCode::kUnavailable, "the job store is nearly full (Redis at " +
                                                std::to_string(redis_memory_.used * 100 / redis_memory_.max) +
                                                "% of its maxmemory): retry later");
}

void JobService::create(SubmitRequest request, const RequestIdentity& identity, const Caller& caller,
                        std::function<void(SubmitOutcome)> done) {
  auto key = parse_idempotency_key(identity.idempotency_key);
  if (auto* error = std::get_if<ApiError>(&key)) return done(*error);
  if (auto refused = store_refusal()) return done(*refused);
  Submission submission{std::move(request), std::get<std::string>(std::move(key)), {}};
  if (!submission.idempotency_key.empty()) {
    submission.fingerprint = request_fingerprint(identity.target, identity.body);
  }
  submitter_.submit(std::move(submission), caller, std::move(done));
}

void JobService::create_batch(std::vector<BatchItem> items, const Caller& caller,
                              std::function<void(JobSubmitter::BatchOutcome)> done) {
  if (auto refused = store_refusal()) return done(*refused);
  submitter_.submit_batch(std::move(items), caller, std::move(done));
}

void JobService::generate(SubmitRequest request, const std::string& path_field,
                          const RequestIdentity& identity, const Caller& caller,
                          std::shared_ptr<WaitQuota::Lease> slot, GoneHook gone, Done done) {
  // The model that makes the answer's file (a text-to-video job's last stage): a mode such as "liveportrait"
  // chooses it, so the caller is told which one it got.
  std::string model = request.stages.empty() ? request.model : request.stages.back().model;
  create(std::move(request), identity, caller,
         [this, slot = std::move(slot), gone = std::move(gone), done = std::move(done),
          model = std::move(model), path_field](SubmitOutcome created) mutable {
           if (auto* error = std::get_if<ApiError>(&created)) return done(*error);
           const std::string id = std::get<Created>(created).id;
           auto end_wait = event_hub_.await_final(id, settings_.sync_timeout, std::move(slot),
                                                  [done, id, model, path_field](const FinalOutcome* outcome) {
                                                    done(generate_answer(id, model, path_field, outcome));
                                                  });
           if (gone) gone(std::move(end_wait));
         });
}

void JobService::read_job(const std::string& id, const Caller& caller,
                          std::function<void(std::variant<json, ApiError>)> done) {
  redis_.execute({{"HGETALL", keys_.job(id)}}, [id, caller, done = std::move(done)](RedisBatchResult result) {
    if (!result.ok) return done(redis_down(result.failure));
    auto fields = result.replies[0].pairs();
    if (fields.empty() || !caller.owns(job_owner(fields))) return done(no_such_job(id));
    done(render_job(fields));
  });
}

void JobService::get(const std::string& id, const Caller& caller, Done done) {
  read_job(id, caller, [done = std::move(done)](std::variant<json, ApiError> job) {
    if (auto* error = std::get_if<ApiError>(&job)) return done(std::move(*error));
    done(JsonAnswer{200, std::get<json>(std::move(job))});
  });
}

void JobService::await(const std::string& id, std::chrono::milliseconds wait, const Caller& caller,
                       std::shared_ptr<WaitQuota::Lease> slot, GoneHook gone, Done done) {
  // Existence first: an unknown id answers 404 at once instead of after the wait.
  redis_.execute({{"HMGET", keys_.job(id), std::string(job_field::kState), std::string(job_field::kOwner)}},
                 [this, id, wait, caller, slot = std::move(slot), gone = std::move(gone),
                  done = std::move(done)](RedisBatchResult result) mutable {
                   if (!result.ok) return done(redis_down(result.failure));
                   const auto& fields = result.replies[0].elements;
                   if (fields.size() != 2 || fields[0].empty() || !caller.owns(fields[1]))
                     return done(no_such_job(id));
                   auto state = parse_job_state(fields[0]);
                   if (state && is_final(*state)) return get(id, caller, std::move(done));
                   auto end_wait = event_hub_.await_final(
                       id, wait, std::move(slot),
                       [this, id, caller, done](const FinalOutcome*) { get(id, caller, done); });
                   if (gone) gone(std::move(end_wait));
                 });
}

RedisArgs JobService::cancel_call(const std::string& id, const Caller& caller) const {
  // A key that sees only its own may cancel only its own: the script answers "missing" for another's.
  return job_store::cancel_command(keys_, id, unix_ms(), settings_.retention_s,
                                   caller.sees_all ? "" : caller.key);
}

void JobService::cancel(const std::string& id, const Caller& caller, Done done) {
  redis_.execute({cancel_call(id, caller)}, [id, done = std::move(done)](RedisBatchResult result) {
    if (!result.ok) return done(redis_down(result.failure));
    const auto& reply = result.replies[0];
    const auto outcome = reply.error ? std::nullopt : job_store::parse_cancel_reply(reply.elements);
    if (!outcome) return done(redis_down(reply.error ? reply.str : "unexpected reply"));
    done(cancel_answer(id, *outcome));
  });
}

void JobService::cancel_quietly(const std::string& id, const Caller& caller) {
  redis_.execute({cancel_call(id, caller)}, [](const RedisBatchResult&) {});
}

void JobService::recent(long long limit, const Caller& caller, Done done) {
  // A key that sees only its own jobs looks further back for them (bounded: this is a recent list, not a
  // search).
  const long long scan = caller.sees_all ? limit : std::min<long long>(limit * 20, 5000);
  redis_.execute({{"XREVRANGE", keys_.completions(), "+", "-", "COUNT", std::to_string(scan)}},
                 [this, caller, limit, done = std::move(done)](RedisBatchResult result) mutable {
                   if (!result.ok) return done(redis_down(result.failure));
                   std::vector<std::string> ids;
                   for (const auto& entry : result.replies[0].stream_entries()) {
                     for (const auto& [field, value] : entry.fields) {
                       if (field == "id" && std::find(ids.begin(), ids.end(), value) == ids.end())
                         ids.push_back(value);
                     }
                   }
                   if (ids.empty()) return done(JsonAnswer{200, {{"jobs", json::array()}}});
                   std::vector<RedisArgs> reads;
                   reads.reserve(ids.size());
                   for (const auto& id : ids) reads.push_back({"HGETALL", keys_.job(id)});
                   redis_.execute(std::move(reads),
                                  [caller, limit, done = std::move(done)](const RedisBatchResult& records) {
                                    if (!records.ok) return done(redis_down(records.failure));
                                    json jobs = json::array();
                                    for (const auto& record : records.replies) {
                                      auto fields = record.pairs();
                                      // Records that expired, and other keys' jobs, are left out.
                                      if (fields.empty() || !caller.owns(job_owner(fields))) continue;
                                      jobs.push_back(render_job(fields));
                                      if (static_cast<long long>(jobs.size()) >= limit) break;
                                    }
                                    done(JsonAnswer{200, {{"jobs", std::move(jobs)}}});
                                  });
                 });
}

void JobService::result(const std::string& id, const Caller& caller,
                        std::function<void(std::variant<ResultFile, ApiError>)> done) {
  read_job(id, caller, [this, id, done = std::move(done)](std::variant<json, ApiError> read) {
    if (auto* error = std::get_if<ApiError>(&read)) return done(std::move(*error));
    const json& job = std::get<json>(read);
    const std::string state = job.value("state", "");
    if (state == "failed" || state == "cancelled" || state == "expired") {
      return done(api_error(ErrorCode::kJobFailed,
                            "job " + id + " " + state +
                                (job.contains("error") ? ": " + job["error"].value("message", "") : "")));
    }
    if (state != "succeeded") return done(api_error(ErrorCode::kNotReady, "job " + id + " is " + state));
    done(file_store_.result_file(id, job.value("result", json::object()), job.value("kind", "")));
  });
}

}  // namespace gpufleet::gateway
