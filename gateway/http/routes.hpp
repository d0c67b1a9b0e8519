#pragma once
// The gateway's routes in one table: which paths exist, which methods each takes, who may call it, and the
// label its metrics carry. The only place a request path is taken apart; the gateway dispatches on the
// RouteId this answers. Pure: tested without sockets (tests/unit/routes_test.cpp).

// Boost 1.74's beast/http/verb.hpp uses std::ostream without including it: <ostream> first.
// clang-format off
#include <ostream>
#include <boost/beast/http/verb.hpp>
// clang-format on
#include <cstdint>
#include <string>
#include <string_view>

namespace gpufleet::gateway {

enum class RouteId {
  kHealth,           // GET /health
  kMetrics,          // GET /metrics
  kOpenApi,          // GET /openapi.json
  kDashboard,        // GET /dashboard (and /dashboard/)
  kTtsGenerate,      // POST /tts/generate
  kVideoGenerate,    // POST /video/generate
  kLipsyncGenerate,  // POST /lipsync/generate
  kJobs,             // POST, GET /v1/jobs
  kJobBatch,         // POST /v1/jobs:batch
  kJob,              // GET, DELETE /v1/jobs/{id}
  kJobResult,        // GET /v1/jobs/{id}/result
  kJobEvents,        // GET /v1/jobs/{id}/events
  kJobStream,        // GET /v1/jobs/{id}/stream
  kFiles,            // POST /v1/files
  kFile,             // GET /v1/files/{id}
  kModels,           // GET /v1/models
  kWorkers,          // GET /v1/workers
  kEvents,           // GET /v1/events
  kJobWhep,          // POST /v1/jobs/{id}/whep (WebRTC, whep_service.hpp)
  kWhepSession,      // DELETE /v1/whep/{id}
  kLiveSessions,     // POST /v1/sessions/whep (a live WebRTC session, live_speaker.hpp)
  kUnknown,          // anything else: 404
};

// Who may call a route when the gateway has API keys (without keys every route is open).
enum class Access {
  kOpen,      // probes, the API's description, the dashboard's page (which holds no data), metrics
  kKey,       // any known key; it sees its own jobs and uploads
  kOperator,  // an operator key: the route shows every tenant's work
};

// The methods a route takes, as bits.
enum Method : uint8_t { kGet = 1, kHead = 2, kPost = 4, kDelete = 8, kPatch = 16 };

struct RouteSpec {
  RouteId id;
  // The path as metrics label it: ids folded to {id}, so that clients cannot grow the number of series.
  std::string_view label;
  uint8_t methods;  // Method bits
  Access access;
  // Browsers' EventSource and <audio> cannot send headers: these take the key as ?access_token= too.
  bool token_in_query = false;
  // Answered before CORS and API keys: the route describes the gateway and holds no tenant's data.
  bool before_middleware = false;
};

struct Route {
  const RouteSpec* spec;
  std::string id;  // the {id} segment, as sent (not validated); empty for fixed paths

  RouteId route() const { return spec->id; }
  bool takes(boost::beast::http::verb method) const;
  // The Allow header of a 405: the methods this route takes, e.g. "GET, DELETE".
  std::string allow() const;
  // Whether the {id} names a job (and must look like a job id before anything else is looked at).
  bool names_job() const;
};

// The route `path` (the target without its query) belongs to; RouteId::kUnknown (label "other") when none.
Route match_route(std::string_view path);

// The method as a metric label: the methods HTTP defines for this API, every other name one label, so that a
// client sending made-up methods cannot grow the number of series.
std::string method_label(boost::beast::http::verb method);

}  // namespace gpufleet::gateway
