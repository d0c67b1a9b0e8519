#include "gateway/http/routes.hpp"

#include <array>

namespace gpufleet::gateway {

namespace http = boost::beast::http;

namespace {

constexpr std::array<RouteSpec, 22> kRoutes{{
    {RouteId::kHealth, "/health", kGet | kHead, Access::kOpen},
    {RouteId::kMetrics, "/metrics", kGet, Access::kOpen, false, true},
    {RouteId::kOpenApi, "/openapi.json", kGet | kHead, Access::kOpen, false, true},
    {RouteId::kDashboard, "/dashboard", kGet | kHead, Access::kOpen},
    {RouteId::kTtsGenerate, "/tts/generate", kPost, Access::kKey},
    {RouteId::kVideoGenerate, "/video/generate", kPost, Access::kKey},
    {RouteId::kLipsyncGenerate, "/lipsync/generate", kPost, Access::kKey},
    {RouteId::kJobs, "/v1/jobs", kPost | kGet, Access::kKey},
    {RouteId::kJobBatch, "/v1/jobs:batch", kPost, Access::kKey},
    {RouteId::kJob, "/v1/jobs/{id}", kGet | kDelete, Access::kKey},
    {RouteId::kJobResult, "/v1/jobs/{id}/result", kGet, Access::kKey},
    {RouteId::kJobEvents, "/v1/jobs/{id}/events", kGet, Access::kKey, true},
    {RouteId::kJobStream, "/v1/jobs/{id}/stream", kGet, Access::kKey, true},
    {RouteId::kFiles, "/v1/files", kPost, Access::kKey},
    {RouteId::kFile, "/v1/files/{id}", kGet | kHead, Access::kKey},
    {RouteId::kModels, "/v1/models", kGet, Access::kKey},
    {RouteId::kWorkers, "/v1/workers", kGet, Access::kOperator},
    {RouteId::kEvents, "/v1/events", kGet, Access::kOperator, true},
    {RouteId::kJobWhep, "/v1/jobs/{id}/whep", kPost, Access::kKey, true},
    {RouteId::kWhepSession, "/v1/whep/{id}", kDelete | kPatch, Access::kKey, true},
    {RouteId::kLiveSessions, "/v1/sessions/whep", kPost, Access::kKey, true},
    {RouteId::kUnknown, "other", 0, Access::kKey},
}};

constexpr bool in_id_order() {
  for (size_t i = 0; i < kRoutes.size(); ++i) {
    if (static_cast<size_t>(kRoutes[i].id) != i) return false;
  }
  return true;
}
static_assert(in_id_order(), "kRoutes is indexed by RouteId");

struct MethodName {
  Method bit;
  const char* name;
};
// In the order an Allow header lists them: the main method first.
constexpr std::array<MethodName, 5> kMethodNames{
    {{kPost, "POST"}, {kGet, "GET"}, {kHead, "HEAD"}, {kDelete, "DELETE"}, {kPatch, "PATCH"}}};

struct Suffix {
  std::string_view text;
  RouteId route;
};
constexpr std::array<Suffix, 4> kJobSuffixes{{{"/result", RouteId::kJobResult},
                                              {"/events", RouteId::kJobEvents},
                                              {"/stream", RouteId::kJobStream},
                                              {"/whep", RouteId::kJobWhep}}};

const RouteSpec& spec(RouteId id) {
  return kRoutes[static_cast<size_t>(id)];
}

bool ends_with(std::string_view text, std::string_view suffix) {
  return text.size() >= suffix.size() &&
         text.compare(text.size() - suffix.size(), suffix.size(), suffix) == 0;
}

uint8_t method_bit(http::verb method) {
  switch (method) {
    case http::verb::get:
      return kGet;
    case http::verb::head:
      return kHead;
    case http::verb::post:
      return kPost;
    case http::verb::delete_:
      return kDelete;
    case http::verb::patch:
      return kPatch;
    default:
      return 0;
  }
}

}  // namespace

bool Route::takes(http::verb method) const {
  return (spec->methods & method_bit(method)) != 0;
}

std::string Route::allow() const {
  std::string allow;
  for (const auto& [bit, name] : kMethodNames) {
    if ((spec->methods & bit) == 0) continue;
    if (!allow.empty()) allow += ", ";
    allow += name;
  }
  return allow;
}

bool Route::names_job() const {
  switch (spec->id) {
    case RouteId::kJob:
    case RouteId::kJobResult:
    case RouteId::kJobEvents:
    case RouteId::kJobStream:
    case RouteId::kJobWhep:
      return true;
    default:
      return false;
  }
}

Route match_route(std::string_view path) {
  for (const auto& route : kRoutes) {
    if (route.label.find('{') == std::string_view::npos && route.label == path) return {&route, ""};
  }
  if (path == "/dashboard/") return {&spec(RouteId::kDashboard), ""};
  constexpr std::string_view kJobsPrefix = "/v1/jobs/";
  if (path.substr(0, kJobsPrefix.size()) == kJobsPrefix) {
    const std::string_view rest = path.substr(kJobsPrefix.size());
    // A suffix with nothing before it ("/v1/jobs//result") is no job's: it is taken as the id "/result",
    // which no job has.
    for (const auto& [suffix, route] : kJobSuffixes) {
      if (rest.size() > suffix.size() && ends_with(rest, suffix)) {
        return {&spec(route), std::string(rest.substr(0, rest.size() - suffix.size()))};
      }
    }
    return {&spec(RouteId::kJob), std::string(rest)};
  }
  constexpr std::string_view kFilesPrefix = "/v1/files/";
  if (path.substr(0, kFilesPrefix.size()) == kFilesPrefix) {
    return {&spec(RouteId::kFile), std::string(path.substr(kFilesPrefix.size()))};
  }
  constexpr std::string_view kWhepPrefix = "/v1/whep/";
  if (path.substr(0, kWhepPrefix.size()) == kWhepPrefix) {
    return {&spec(RouteId::kWhepSession), std::string(path.substr(kWhepPrefix.size()))};
  }
  return {&spec(RouteId::kUnknown), ""};
}

std::string method_label(http::verb method) {
  switch (method) {
    case http::verb::get:
    case http::verb::head:
    case http::verb::post:
    case http::verb::put:
    case http::verb::patch:
    case http::verb::delete_:
    case http::verb::options:
      return std::string(http::to_string(method));
    default:
      return "other";
  }
}

}  // namespace gpufleet::gateway
