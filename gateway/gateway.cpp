#include "gateway/gateway.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <boost/asio/post.hpp>
#include <cmath>
#include <filesystem>

#include "common/clock.hpp"
#include "common/config.hpp"
#include "common/files.hpp"
#include "common/job.hpp"
#include "common/json_text.hpp"
#include "common/utf8.hpp"
#include "gateway/audio_tail.hpp"
#include "gateway/dashboard.hpp"
#include "gateway/event_hub.hpp"
#include "gateway/file_store.hpp"
#include "gateway/fleet_status.hpp"
#include "gateway/http/middleware.hpp"
#include "gateway/http/routes.hpp"
#include "gateway/openapi.hpp"
#include "store/job_store.hpp"
#include "store/redis_schema.hpp"

namespace gpufleet::gateway {

namespace asio = boost::asio;
using nlohmann::json;

GatewayConfig GatewayConfig::from_env() {
  GatewayConfig config;
  config.host = env_string("HOST", config.host);
  config.port = static_cast<uint16_t>(env_int("PORT", config.port, 0, 65535));
  config.http.max_body_bytes = static_cast<size_t>(env_int("MAX_BODY_BYTES", 1 << 20, 1024, 1LL << 30));
  config.http.max_connections = static_cast<size_t>(env_int("MAX_CONNECTIONS", 10000, 1, 1 << 24));
  config.http.max_stream_queued_bytes =
      static_cast<size_t>(env_int("SSE_MAX_QUEUED_BYTES", 1 << 20, 4096, 1LL << 30));
  config.http.header_timeout = std::chrono::milliseconds(env_int("HEADER_TIMEOUT_MS", 10000, 100, 600000));
  config.http.body_timeout = std::chrono::milliseconds(env_int("BODY_TIMEOUT_MS", 30000, 100, 600000));
  config.api.max_text_chars = static_cast<size_t>(env_int("MAX_TEXT_CHARS", 5000, 1, 10'000'000));
  config.api.default_tts_model = env_string("DEFAULT_TTS_MODEL", "espeak");
  config.api.default_video_model = env_string("DEFAULT_VIDEO_MODEL", "portrait");
  config.api.max_image_pixels = static_cast<uint64_t>(env_int("MAX_IMAGE_PIXELS", 16777216, 4096, 1LL << 32));
  config.api.max_video_s = static_cast<double>(env_int("MAX_VIDEO_S", 600, 1, 86400));
  config.sync_timeout =
      std::chrono::milliseconds(env_int("SYNC_TIMEOUT_MS", 600000, 100, 24LL * 3600 * 1000));
  config.max_wait_s = static_cast<double>(env_int("MAX_WAIT_S", 60, 0, 3600));
  config.max_waits_per_key = static_cast<size_t>(env_int("MAX_WAITS_PER_KEY", 256, 1, 1 << 20));
  config.redis = redis_endpoint_from_env();
  config.storage_root = storage_root_from_env();
  config.api.input_root =
      env_string("INPUT_ROOT", (std::filesystem::path(config.storage_root) / "inputs").string());
  config.api.tts_results = std::filesystem::path(config.storage_root) / "tts";
  config.max_upload_bytes = static_cast<size_t>(env_int("MAX_UPLOAD_BYTES", 32 << 20, 1024, 1LL << 32));
  config.upload_quota_bytes = static_cast<uint64_t>(env_int("UPLOAD_QUOTA_BYTES", 1LL << 30, 0, 1LL << 50));
  config.upload_ttl_s = env_int("UPLOAD_TTL_S", config.upload_ttl_s, 0, 3650LL * 24 * 3600);
  config.sweep_interval = std::chrono::seconds(env_int("SWEEP_INTERVAL_S", 300, 1, 24LL * 3600));
  config.http.body_bytes_by_path["/v1/files"] = config.max_upload_bytes;
  // A batch of up to 1,000 jobs: its own bound, never below a single job's.
  config.http.body_bytes_by_path["/v1/jobs:batch"] =
      std::max(config.http.max_body_bytes,
               static_cast<size_t>(env_int("MAX_BATCH_BODY_BYTES", 8 << 20, 1024, 1LL << 30)));
  config.redis_memory_high_water = static_cast<int>(env_int("REDIS_MEMORY_HIGH_WATER", 90, 1, 100));
  config.max_queued_per_model = env_int("MAX_QUEUED_PER_MODEL", config.max_queued_per_model, 0, 1LL << 40);
  config.idempotency_ttl_s = env_int("IDEMPOTENCY_TTL_S", config.idempotency_ttl_s, 1, 365LL * 24 * 3600);
  config.retention_s = job_ttl_from_env();
  config.result_ttl_s = env_int("RESULT_TTL_S", config.retention_s, 0, 3650LL * 24 * 3600);
  if (auto file = env_value("API_KEYS_FILE")) {
    auto text = read_file(*file, 16 << 20);
    if (!text) throw ConfigError("API_KEYS_FILE: cannot read " + *file);
    config.api_keys = std::move(*text);
  } else {
    config.api_keys = env_string("API_KEYS", "");
  }
  config.cors_origins = split_list(env_string("CORS_ORIGINS", ""));
  config.tls_cert_file = env_string("TLS_CERT_FILE", "");
  config.tls_key_file = env_string("TLS_KEY_FILE", "");
  if (config.tls_cert_file.empty() != config.tls_key_file.empty()) {
    throw ConfigError("TLS_CERT_FILE and TLS_KEY_FILE go together: set both for HTTPS, or neither");
  }
  config.webhooks = WebhookConfig::from_env();
  config.api.webhooks_enabled = config.webhooks.enabled();
  config.api.webhook_hosts = config.webhooks.allowed_hosts;
  config.whep = WhepConfig::from_env();
  return config;
}

namespace {

// How long GET /health reuses its last read (SharedRead): well under a probe's interval and the broker's
// one-second refresh of its own record.
constexpr std::chrono::milliseconds kHealthMaxAge{50};

StringResponse json_ok(unsigned status, const json& body) {
  return json_response(status, dump_json(body), 11, true);
}

std::string_view header(const Request& request, http::field field) {
  auto value = request[field];
  return {value.data(), value.size()};
}

std::string_view content_type(const Request& request) {
  return header(request, http::field::content_type);
}

// What an Idempotency-Key of `request` covers.
RequestIdentity identity_of(const Request& request) {
  RequestIdentity identity{std::nullopt,
                           {request.target().data(), request.target().size()},
                           {request.body().data(), request.body().size()}};
  if (auto field = request.find("Idempotency-Key"); field != request.end()) {
    identity.idempotency_key.emplace(field->value().data(), field->value().size());
  }
  return identity;
}

// Sends a JobService answer: its JSON with its status, or the error (with Retry-After where it has one).
JobService::Done answer_with(std::shared_ptr<Responder> responder) {
  return [responder = std::move(responder)](std::variant<JsonAnswer, ApiError> answer) {
    if (auto* error = std::get_if<ApiError>(&answer)) return responder->send(error_response(*error));
    auto& json_answer = std::get<JsonAnswer>(answer);
    responder->send(json_ok(json_answer.status, json_answer.body));
  };
}

// A wait held for an HTTP exchange ends when its client closes the connection.
JobService::GoneHook gone_hook(const std::shared_ptr<Responder>& responder) {
  return [responder](std::function<void()> end_wait) { responder->on_client_gone(std::move(end_wait)); };
}

}  // namespace

Gateway::Gateway(asio::io_context& io, GatewayConfig config)
    : io_(io),
      config_(std::move(config)),
      keys_(config_.redis.prefix),
      redis_(config_.redis, io.get_executor()),
      server_(
          io, config_.host, config_.port, config_.http,
          [this](Request request, Respond responder) { handle(std::move(request), std::move(responder)); },
          config_.tls_cert_file.empty() ? nullptr
                                        : make_server_tls(config_.tls_cert_file, config_.tls_key_file)),
      health_([this](SharedRead<HealthAnswer>::Done done) { read_health(std::move(done)); }, kHealthMaxAge),
      catalog_timer_(io),
      wait_quota_(config_.max_waits_per_key),
      event_hub_(io, redis_, keys_, metrics_),
      api_keys_(ApiKeys::parse(config_.api_keys)),
      file_store_(io,
                  FileStoreConfig{config_.storage_root, config_.api.input_root, config_.upload_quota_bytes,
                                  config_.upload_ttl_s, config_.result_ttl_s, config_.sweep_interval},
                  metrics_),
      job_service_(
          redis_, keys_, metrics_, event_hub_, file_store_,
          JobService::Settings{config_.sync_timeout, config_.retention_s, config_.max_queued_per_model,
                               config_.idempotency_ttl_s, config_.redis_memory_high_water}),
      whep_(io, redis_, config_.storage_root, config_.whep, metrics_, event_hub_,
            LiveJobs{[this](const std::string& body, const Caller& caller,
                            std::function<void(SubmitOutcome)> done) {
                       submit_spoken(body, caller, std::move(done));
                     },
                     [this](const std::string& id, const Caller& caller) {
                       job_service_.cancel_quietly(id, caller);
                     }},
            [this](const std::string& id, const nlohmann::json& result, std::string_view kind) {
              return file_store_.result_file(id, result, kind);
            }) {
  MetricsResponder::declare_metrics(metrics_);
  metrics_.counter("gpufleet_jobs_submitted_total",
                   "Jobs accepted, by kind and model (a pipeline by its first stage)");
  metrics_.gauge("gpufleet_gateway_open_waits",
                 "Long-polls, synchronous waits and streams held open, all keys");
  metrics_.gauge("gpufleet_gateway_job_waiters",
                 "Waits on jobs' final states in progress (long-polls, synchronous generates, WebRTC video "
                 "sessions whose job has not finished)");
  metrics_.counter("gpufleet_gateway_waits_refused_total",
                   "Waits refused with 429: the key held its MAX_WAITS_PER_KEY");
  WebhookSender::declare_metrics(metrics_);
  if (api_keys_.enabled()) {
    spdlog::info("gateway: {} API key(s); every endpoint but /health needs one", api_keys_.size());
  } else {
    spdlog::warn("gateway: no API keys configured (API_KEYS_FILE): every request is admitted");
  }
  config_.api.reference_exists = [this](const std::filesystem::path& relative) {
    return file_store_.reference_exists(relative);
  };
  config_.api.tts_result_exists = [this](const std::filesystem::path& relative) {
    return file_store_.tts_result_exists(relative);
  };
}

Gateway::~Gateway() = default;

void Gateway::start() {
  events_ = std::make_unique<EventListener>(
      config_.redis, std::vector<std::string>{keys_.job_events(), keys_.worker_events()}, io_.get_executor(),
      [this](const std::string& channel, const std::string& message) {
        event_hub_.on_event(channel, message);
      },
      [this] { event_hub_.resync(); },
      [this](const std::string& message) { return event_hub_.wants(message); });
  event_hub_.start();
  refresh_catalog();
  file_store_.start();
  if (config_.webhooks.enabled()) {
    webhooks_ = std::make_unique<WebhookSender>(config_.webhooks, config_.redis, metrics_);
    webhooks_->start();
    spdlog::info("gateway: webhooks on ({} senders, {} attempts at most)", config_.webhooks.concurrency,
                 config_.webhooks.retry.max_attempts);
  }
  server_.start();
  spdlog::info("gateway listening on {}:{} ({}), redis {}, storage {}", config_.host, server_.port(),
               config_.tls_cert_file.empty() ? "http" : "https", config_.redis.describe(),
               config_.storage_root);
}

void Gateway::stop() {
  server_.stop();
  catalog_timer_.cancel();
  file_store_.stop();
  event_hub_.stop();
  events_.reset();
  if (webhooks_) webhooks_->stop();
}

void Gateway::refresh_catalog() {
  redis_.execute({{"HGETALL", keys_.models()}, {"INFO", "memory"}}, [this](RedisBatchResult result) {
    if (result.ok) {
      catalog_ = Catalog::from_redis_hash(result.replies[0].pairs());
      const auto memory = result.replies[1].error ? std::nullopt : parse_redis_memory(result.replies[1].str);
      job_service_.note_redis_memory(memory.value_or(RedisMemory{}));
    }
    catalog_timer_.expires_after(std::chrono::seconds(1));
    catalog_timer_.async_wait([this](boost::system::error_code ec) {
      if (!ec) refresh_catalog();
    });
  });
}

void Gateway::handle(Request request, Respond responder) {
  const std::string target(request.target());
  const auto method = request.method();
  if (method == http::verb::head) responder = std::make_shared<HeadResponder>(std::move(responder));
  // Paths end up in error messages, logs and Redis: bytes that are not UTF-8 go no further than here.
  if (!utf8_valid(target)) {
    responder =
        std::make_shared<MetricsResponder>(std::move(responder), metrics_, "other", method_label(method));
    return responder->send(
        error_response(api_error(ErrorCode::kInvalidRequest, "the request target is not UTF-8")));
  }
  const auto question = target.find('?');
  const std::string path = target.substr(0, question);
  const std::string query = question == std::string::npos ? "" : target.substr(question + 1);
  const Route route = match_route(path);
  responder = std::make_shared<MetricsResponder>(std::move(responder), metrics_,
                                                 std::string(route.spec->label), method_label(method));
  if (route.spec->before_middleware) {
    if (!route.takes(method)) return responder->send(method_not_allowed(route, path));
    return route.route() == RouteId::kMetrics ? send_metrics(std::move(responder))
                                              : send_static(StaticPage::kOpenApi, std::move(responder));
  }
  if (auto origin = cors_allowed_origin(config_.cors_origins, header(request, http::field::origin))) {
    responder = std::make_shared<CorsResponder>(std::move(responder), std::move(*origin));
    if (method == http::verb::options) return responder->send(cors_preflight());
  }
  auto admitted = admit(api_keys_, route, header(request, http::field::authorization), query,
                        std::chrono::steady_clock::now());
  if (auto* refusal = std::get_if<StringResponse>(&admitted)) return responder->send(std::move(*refusal));
  const Caller caller = std::get<Caller>(std::move(admitted));
  if (route.route() == RouteId::kUnknown) {
    return responder->send(error_response(api_error(ErrorCode::kNotFound, "no route for " + path)));
  }
  if (route.names_job() && !is_valid_job_id(route.id)) {
    return responder->send(
        error_response(api_error(ErrorCode::kNotFound, "no job with id '" + route.id + "'")));
  }
  if (!route.takes(method)) return responder->send(method_not_allowed(route, path));
  if (route.spec->access == Access::kOperator && !caller.sees_all) {
    return responder->send(error_response(
        api_error(ErrorCode::kForbidden, path + " shows every tenant's work: it needs an operator key")));
  }
  // The shared limits, or a copy with the caller's own uploads folder.
  std::optional<Limits> own_limits;
  if (!caller.sees_all) own_limits = limits_for(caller);
  const Limits* limits = own_limits ? &*own_limits : &config_.api;
  switch (route.route()) {
    case RouteId::kHealth:
      return health(std::move(responder));
    case RouteId::kDashboard:
      return send_static(StaticPage::kDashboard, std::move(responder));
    case RouteId::kTtsGenerate:
      return generate(parse_tts_generate(content_type(request), request.body(), catalog_, *limits),
                      "audio_path", request, caller, std::move(responder));
    case RouteId::kVideoGenerate:
      return generate(parse_video_generate(content_type(request), request.body(), catalog_, *limits),
                      "video_path", request, caller, std::move(responder));
    case RouteId::kLipsyncGenerate:
      return generate(parse_lipsync_generate(content_type(request), request.body(), catalog_, *limits),
                      "video_path", request, caller, std::move(responder));
    case RouteId::kJobs:
      if (method == http::verb::get) return recent_jobs(query, caller, std::move(responder));
      return submit_job(request, caller, *limits, std::move(responder));
    case RouteId::kJobBatch:
      return submit_batch(request, caller, *limits, std::move(responder));
    case RouteId::kJob: {
      if (method == http::verb::delete_) return cancel_job(route.id, caller, std::move(responder));
      auto wait = parse_wait(query, config_.max_wait_s);
      if (auto* error = std::get_if<ApiError>(&wait)) return responder->send(error_response(*error));
      return get_job(route.id, std::get<double>(wait), caller, std::move(responder));
    }
    case RouteId::kJobResult:
      return get_result(route.id, caller, std::move(responder));
    case RouteId::kJobEvents:
      return stream_events(route.id, caller, std::move(responder));
    case RouteId::kJobStream: {
      auto slot = take_wait_slot(caller, responder);
      if (!slot) return;
      auto tail = std::make_shared<AudioTail>(io_, redis_, config_.storage_root, route.id,
                                              std::make_shared<HttpAudioOutput>(std::move(responder)),
                                              config_.sync_timeout, caller, std::move(slot));
      event_hub_.watch_tail(route.id, tail);
      return tail->start();
    }
    case RouteId::kFiles:
      return upload_file(std::move(request), caller, std::move(responder));
    case RouteId::kFile:
      return describe_file(route.id, caller, std::move(responder));
    case RouteId::kModels:
      return list_models(std::move(responder));
    case RouteId::kWorkers:
      return list_workers(std::move(responder));
    case RouteId::kEvents:
      return stream_events("", caller, std::move(responder));
    case RouteId::kJobWhep:
      return whep_.open(route.id, request, caller, std::move(responder));
    case RouteId::kWhepSession:
      if (request.method() == http::verb::patch)
        return whep_.trickle(route.id, request, caller, std::move(responder));
      return whep_.close(route.id, caller, std::move(responder));
    case RouteId::kLiveSessions:
      return whep_.open_live(request, caller, std::move(responder));
    case RouteId::kMetrics:
    case RouteId::kOpenApi:
    case RouteId::kUnknown:
      break;
  }
  responder->send(error_response(api_error(ErrorCode::kNotFound, "no route for " + path)));
}

void Gateway::send_metrics(Respond responder) {
  StringResponse response{http::status::ok, 11};
  response.set(http::field::content_type, "text/plain; version=0.0.4; charset=utf-8");
  metrics_.set("gpufleet_gateway_open_waits", {}, static_cast<double>(wait_quota_.open_total()));
  metrics_.set("gpufleet_gateway_job_waiters", {}, static_cast<double>(event_hub_.waiters()));
  response.body() = metrics_.render();
  response.prepare_payload();
  responder->send(std::move(response));
}

void Gateway::send_static(StaticPage page, Respond responder) {
  StringResponse response{http::status::ok, 11};
  response.set(http::field::server, "gpufleet");
  if (page == StaticPage::kOpenApi) {
    response.set(http::field::content_type, "application/json");
    response.body() = std::string(openapi_json());
  } else {
    response.set(http::field::content_type, "text/html; charset=utf-8");
    response.set(http::field::cache_control, "no-cache");
    response.set("Content-Security-Policy",
                 "default-src 'self'; script-src 'unsafe-inline'; style-src 'unsafe-inline'");
    response.body() = std::string(dashboard_html());
  }
  response.prepare_payload();
  responder->send(std::move(response));
}

void Gateway::health(Respond responder) {
  health_.get([responder](const HealthAnswer& answer) {
    responder->send(json_response(answer.status, answer.body, 11, true));
  });
}

void Gateway::read_health(SharedRead<HealthAnswer>::Done done) {
  redis_.execute({{"HGETALL", keys_.workers()}, {"HGETALL", keys_.queues()}, {"HGETALL", keys_.broker()}},
                 [this, done = std::move(done)](RedisBatchResult result) {
                   FleetRecords records;
                   records.redis_ok = result.ok;
                   records.redis_failure = result.failure;
                   if (result.ok) {
                     records.workers = result.replies[0].pairs();
                     records.queues = result.replies[1].pairs();
                     records.broker = result.replies[2].pairs();
                   }
                   const auto report = health_report(records, catalog_, unix_ms());
                   done(HealthAnswer{report.status_code(), dump_json(report.body)});
                 });
}

void Gateway::list_models(Respond responder) {
  responder->send(
      json_ok(200, models_listing(catalog_, config_.api.default_tts_model, config_.api.default_video_model)));
}

// The workers as the broker last recorded them (keys().workers()), with their queues' depths and the age of
// each queue's oldest job: for the CLI and dashboards, which have no Redis credentials.
void Gateway::list_workers(Respond responder) {
  redis_.execute({{"HGETALL", keys_.workers()}, {"HGETALL", keys_.queues()}}, [this, responder](
                                                                                  RedisBatchResult result) {
    if (!result.ok) return responder->send(error_response(redis_down(result.failure)));
    auto workers = std::make_shared<json>(json::array());
    for (const auto& [id, value] : result.replies[0].pairs()) {
      auto worker = parse_json_or_discarded(value);
      if (worker.is_object()) workers->push_back(std::move(worker));
    }
    auto models = result.replies[1].pairs();
    std::vector<RedisArgs> oldest;
    // The depth the queue set has now (the broker's snapshot can be a heartbeat old) and its oldest entry.
    for (const auto& [model, depth] : models) {
      oldest.push_back({"ZCARD", keys_.queue(model)});
      oldest.push_back({"ZRANGE", keys_.queue(model), "0", "0", "WITHSCORES"});
    }
    auto answer = [responder, workers, models](const std::vector<RedisValue>* heads) {
      std::vector<QueueHead> queues;
      for (size_t i = 0; i < models.size(); ++i) {
        QueueHead queue{models[i].first, std::strtoll(models[i].second.c_str(), nullptr, 10), std::nullopt};
        if (heads != nullptr && 2 * i + 1 < heads->size()) {
          queue.depth = (*heads)[2 * i].integer;
          const auto head = (*heads)[2 * i + 1].pairs();
          if (!head.empty()) queue.oldest_created_ms = std::strtod(head[0].second.c_str(), nullptr);
        }
        queues.push_back(std::move(queue));
      }
      responder->send(json_ok(200, {{"workers", *workers}, {"queues", queues_summary(queues, unix_ms())}}));
    };
    if (oldest.empty()) return answer(nullptr);
    redis_.execute(std::move(oldest),
                   [answer](RedisBatchResult heads) { answer(heads.ok ? &heads.replies : nullptr); });
  });
}

void Gateway::recent_jobs(const std::string& query, const Caller& caller, Respond responder) {
  auto limit = parse_recent_limit(query);
  if (auto* error = std::get_if<ApiError>(&limit)) return responder->send(error_response(*error));
  job_service_.recent(std::get<long long>(limit), caller, answer_with(std::move(responder)));
}

Limits Gateway::limits_for(const Caller& caller) const {
  Limits limits = config_.api;
  // A key that sees only its own may reference only its own uploads.
  if (!caller.sees_all) limits.reference_folder = upload_folder(caller);
  return limits;
}

void Gateway::submit_spoken(const std::string& body, const Caller& caller,
                            std::function<void(SubmitOutcome)> done) {
  auto parsed = parse_job_submission("application/json", body, catalog_, limits_for(caller));
  if (auto* error = std::get_if<ApiError>(&parsed)) return done(*error);
  job_service_.create(std::get<SubmitRequest>(std::move(parsed)), RequestIdentity{}, caller, std::move(done));
}

void Gateway::submit_job(const Request& request, const Caller& caller, const Limits& limits,
                         Respond responder) {
  auto parsed = parse_job_submission(content_type(request), request.body(), catalog_, limits);
  if (auto* error = std::get_if<ApiError>(&parsed)) return responder->send(error_response(*error));
  job_service_.create(std::get<SubmitRequest>(std::move(parsed)), identity_of(request), caller,
                      [responder](SubmitOutcome created) {
                        if (auto* error = std::get_if<ApiError>(&created))
                          return responder->send(error_response(*error));
                        const auto& job = std::get<Created>(created);
                        auto response = json_ok(202, accepted_json(job));
                        response.set(http::field::location, "/v1/jobs/" + job.id);
                        if (job.replayed) response.set("Idempotent-Replayed", "true");
                        responder->send(std::move(response));
                      });
}

void Gateway::submit_batch(const Request& request, const Caller& caller, const Limits& limits,
                           Respond responder) {
  if (request.find("Idempotency-Key") != request.end()) {
    return responder->send(error_response(
        api_error(ErrorCode::kInvalidRequest,
                  "a batch takes no Idempotency-Key header: give each job an idempotency_key")));
  }
  auto parsed = parse_job_batch(content_type(request), request.body(), catalog_, limits);
  if (auto* error = std::get_if<ApiError>(&parsed)) return responder->send(error_response(*error));
  job_service_.create_batch(
      std::get<std::vector<BatchItem>>(std::move(parsed)), caller,
      [responder](JobSubmitter::BatchOutcome outcome) {
        if (auto* error = std::get_if<ApiError>(&outcome)) return responder->send(error_response(*error));
        responder->send(json_ok(200, batch_answer(std::get<std::vector<SubmitOutcome>>(outcome))));
      });
}

void Gateway::upload_file(Request request, const Caller& caller, Respond responder) {
  auto parsed = parse_upload(content_type(request), request.body(), config_.api.max_image_pixels,
                             config_.api.max_video_s);
  if (auto* error = std::get_if<ApiError>(&parsed)) return responder->send(error_response(*error));
  file_store_.store_upload(std::get<Upload>(std::move(parsed)), std::move(request.body()), caller,
                           [responder](std::variant<bool, ApiError> stored, const Upload& upload) {
                             if (auto* error = std::get_if<ApiError>(&stored)) {
                               return responder->send(error_response(*error));
                             }
                             const bool existed = std::get<bool>(stored);
                             auto response = json_ok(existed ? 200 : 201, upload_json(upload));
                             response.set(http::field::location, "/v1/files/" + upload.id);
                             responder->send(std::move(response));
                           });
}

void Gateway::describe_file(const std::string& id, const Caller& caller, Respond responder) {
  if (auto described = file_store_.describe_upload(id, caller))
    return responder->send(json_ok(200, *described));
  responder->send(error_response(api_error(ErrorCode::kNotFound, "no uploaded file '" + id + "'")));
}

void Gateway::generate(SubmitParse parsed, const std::string& path_field, const Request& request,
                       const Caller& caller, Respond responder) {
  if (auto* error = std::get_if<ApiError>(&parsed)) {
    json body = parse_json_or_discarded(error_body(*error));
    body["success"] = false;
    return responder->send(json_response(static_cast<unsigned>(error->status), dump_json(body), 11, true));
  }
  // The slot first: a caller at its limit must not leave a job behind that nobody waits for.
  auto slot = take_wait_slot(caller, responder);
  if (!slot) return;
  job_service_.generate(std::get<SubmitRequest>(std::move(parsed)), path_field, identity_of(request), caller,
                        std::move(slot), gone_hook(responder), answer_with(responder));
}

void Gateway::cancel_job(const std::string& id, const Caller& caller, Respond responder) {
  job_service_.cancel(id, caller, answer_with(std::move(responder)));
}

void Gateway::get_job(const std::string& id, double wait_s, const Caller& caller, Respond responder) {
  if (wait_s <= 0) return job_service_.get(id, caller, answer_with(std::move(responder)));
  auto slot = take_wait_slot(caller, responder);
  if (!slot) return;
  job_service_.await(id, std::chrono::milliseconds(static_cast<int64_t>(wait_s * 1000)), caller,
                     std::move(slot), gone_hook(responder), answer_with(responder));
}

void Gateway::get_result(const std::string& id, const Caller& caller, Respond responder) {
  job_service_.result(id, caller, [responder](std::variant<ResultFile, ApiError> file) {
    if (auto* error = std::get_if<ApiError>(&file)) return responder->send(error_response(*error));
    const auto& [path, served_type] = std::get<ResultFile>(file);
    FileResponse response{http::status::ok, 11};
    boost::beast::error_code ec;
    response.body().open(path.c_str(), boost::beast::file_mode::scan, ec);
    if (ec)
      return responder->send(
          error_response(api_error(ErrorCode::kStorageError, "cannot open the result file")));
    response.set(http::field::server, "gpufleet");
    response.set(http::field::content_type, served_type);
    response.set(http::field::content_disposition, "inline; filename=\"" + path.filename().string() + "\"");
    response.prepare_payload();
    responder->send_file(std::move(response));
  });
}

std::shared_ptr<WaitQuota::Lease> Gateway::take_wait_slot(const Caller& caller, const Respond& responder) {
  auto slot = wait_quota_.acquire(caller.key);
  if (slot) return slot;
  metrics_.increment("gpufleet_gateway_waits_refused_total");
  responder->send(error_response(
      api_error(ErrorCode::kTooManyWaits,
                (caller.key.empty() ? std::string("this gateway's callers hold ")
                                    : "API key " + caller.key + " holds ") +
                    std::to_string(wait_quota_.per_key()) +
                    " open waits (long-polls, synchronous generates, streams), its limit: close one, or "
                    "poll without ?wait=")));
  return nullptr;
}

void Gateway::stream_events(const std::string& job_id, const Caller& caller, Respond responder) {
  auto slot = take_wait_slot(caller, responder);
  if (!slot) return;
  event_hub_.stream_events(job_id, caller, std::move(responder), std::move(slot));
}

}  // namespace gpufleet::gateway
