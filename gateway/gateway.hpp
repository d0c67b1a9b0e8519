#pragma once
// The gateway's composition root and its route handlers. A handler parses its request and sends what the
// service it calls answers: jobs (JobService), files (FileStore), events (EventHub), WebRTC (WhepService),
// fleet summaries (fleet_status.hpp).
// Runs on one event loop; Redis and the event subscription run on helper threads that post back to it.

#include <atomic>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <unordered_map>
#include <variant>
#include <vector>

#include "common/api_keys.hpp"
#include "common/config.hpp"
#include "common/metrics.hpp"
#include "gateway/api.hpp"
#include "gateway/catalog.hpp"
#include "gateway/event_hub.hpp"
#include "gateway/event_listener.hpp"
#include "gateway/file_store.hpp"
#include "gateway/http/http_server.hpp"
#include "gateway/job_service.hpp"
#include "gateway/redis_executor.hpp"
#include "gateway/shared_read.hpp"
#include "gateway/wait_quota.hpp"
#include "gateway/webhook_sender.hpp"
#include "gateway/whep_service.hpp"
#include "store/job_store.hpp"

namespace gpufleet::gateway {

struct GatewayConfig {
  std::string host = "0.0.0.0";
  uint16_t port = 8001;
  HttpLimits http;
  Limits api;
  std::chrono::milliseconds sync_timeout{600000};  // POST /tts/generate waits this long at most
  double max_wait_s = 60;                          // ?wait= is clamped to this
  // Long-polls, synchronous generates, event and audio streams one API key may hold open at once
  // (MAX_WAITS_PER_KEY); past it they answer 429 too_many_waits.
  size_t max_waits_per_key = 256;
  RedisEndpoint redis;
  std::string storage_root;
  size_t max_upload_bytes = 32 << 20;  // POST /v1/files
  // What one key's uploads may hold in all (UPLOAD_QUOTA_BYTES); past it an upload answers 413. 0: no quota.
  uint64_t upload_quota_bytes = 1ULL << 30;
  // Shared storage is swept every sweep_interval (SWEEP_INTERVAL_S): result files older than result_ttl_s
  // (RESULT_TTL_S, default JOB_TTL: a result goes with its record) and uploads unused for upload_ttl_s
  // (UPLOAD_TTL_S) are deleted. 0: kept forever.
  int64_t result_ttl_s = kDefaultJobTtlS;
  int64_t upload_ttl_s = 86400;
  std::chrono::seconds sweep_interval{300};
  int64_t max_queued_per_model = 100000;  // past it submissions answer 429; 0: unbounded
  // Submissions answer 503 while Redis holds this share of its maxmemory or more (REDIS_MEMORY_HIGH_WATER,
  // percent; checked every second). 100: only Redis's own limit.
  int redis_memory_high_water = 90;
  int64_t idempotency_ttl_s = 86400;      // how long an Idempotency-Key maps to its job
  int64_t retention_s = kDefaultJobTtlS;  // how long a cancelled job's record is kept (JOB_TTL)
  // API keys (API_KEYS_FILE, else API_KEYS; format in api_keys.hpp). None: every request is admitted.
  std::string api_keys;
  // Origins a browser may call from (CORS_ORIGINS, comma-separated, or "*"); empty: no CORS headers.
  std::vector<std::string> cors_origins;
  WebhookConfig webhooks;
  // HTTPS on `port` (TLS_CERT_FILE: PEM chain, TLS_KEY_FILE: its key); both empty: plain HTTP.
  std::string tls_cert_file;
  std::string tls_key_file;
  WhepConfig whep;  // WebRTC delivery (WEBRTC_*)

  static GatewayConfig from_env();
};

class Gateway {
 public:
  Gateway(boost::asio::io_context& io, GatewayConfig config);
  ~Gateway();
  void start();
  void stop();
  uint16_t port() const { return server_.port(); }

 private:
  // What GET /health answers: its status and JSON body.
  struct HealthAnswer {
    unsigned status = 503;
    std::string body;
  };

  using Respond = std::shared_ptr<Responder>;

  // Matches the route (http/routes.hpp), runs the middleware (http/middleware.hpp) and calls the route's
  // handler below.
  void handle(Request request, Respond responder);
  enum class StaticPage { kOpenApi, kDashboard };
  // Pages compiled in, which hold no tenant's data: the OpenAPI description and the dashboard's page.
  void send_static(StaticPage page, Respond responder);
  void send_metrics(Respond responder);
  void health(Respond responder);
  // The three records /health reports on, read from Redis and summed up (health_'s reader).
  void read_health(SharedRead<HealthAnswer>::Done done);
  void list_models(Respond responder);
  void list_workers(Respond responder);
  // The job routes: each parses its request, asks job_service_ and sends the answer.
  void recent_jobs(const std::string& query, const Caller& caller, Respond responder);
  void submit_job(const Request& request, const Caller& caller, const Limits& limits, Respond responder);
  void submit_batch(const Request& request, const Caller& caller, const Limits& limits, Respond responder);
  // /tts/generate and /video/generate: the original service's shape, the result file under `path_field`
  // (audio_path, video_path).
  void generate(SubmitParse parsed, const std::string& path_field, const Request& request,
                const Caller& caller, Respond responder);
  void get_job(const std::string& id, double wait_s, const Caller& caller, Respond responder);
  void get_result(const std::string& id, const Caller& caller, Respond responder);
  void cancel_job(const std::string& id, const Caller& caller, Respond responder);
  void upload_file(Request request, const Caller& caller, Respond responder);
  // Another key's upload answers 404, as an unknown one does.
  void describe_file(const std::string& id, const Caller& caller, Respond responder);

  // A live WebRTC session's utterance: a job made from a JSON body as POST /v1/jobs makes it (no
  // Idempotency-Key).
  void submit_spoken(const std::string& body, const Caller& caller, std::function<void(SubmitOutcome)> done);
  // The request limits of `caller`: its own uploads folder for a key that sees only its own.
  Limits limits_for(const Caller& caller) const;
  // A wait slot of the caller's (WaitQuota), or nothing after answering `responder` 429 too_many_waits.
  std::shared_ptr<WaitQuota::Lease> take_wait_slot(const Caller& caller, const Respond& responder);
  // GET /v1/jobs/{id}/events and GET /v1/events (`job_id` empty), each holding a wait slot of the caller's.
  void stream_events(const std::string& job_id, const Caller& caller, Respond responder);
  void refresh_catalog();

  boost::asio::io_context& io_;
  GatewayConfig config_;
  MetricsRegistry metrics_;  // GET /metrics
  RedisKeys keys_;
  RedisExecutor redis_;
  HttpServer server_;
  Catalog catalog_;
  // GET /health's answer: one Redis read shared by the requests that arrive while it is in flight, and
  // reused for kHealthMaxAge (shared_read.hpp).
  SharedRead<HealthAnswer> health_;
  boost::asio::steady_timer catalog_timer_;
  WaitQuota wait_quota_;
  EventHub event_hub_;  // waiters and streams, fed by `events_`
  std::unique_ptr<EventListener> events_;
  ApiKeys api_keys_;
  std::unique_ptr<WebhookSender> webhooks_;  // with a WEBHOOK_SECRET
  // Uploads, results and the sweeper; its storage thread goes first when the gateway does.
  FileStore file_store_;
  JobService job_service_;
  WhepService whep_;  // WebRTC sessions; its media thread stops before the event hub and metrics go
};

}  // namespace gpufleet::gateway
