#include "gateway/http/middleware.hpp"

#include <algorithm>
#include <cmath>

namespace gpufleet::gateway {

void HeadResponder::send(StringResponse response) {
  const auto length = response.body().size();
  response.body().clear();
  response.content_length(length);
  ForwardingResponder::send(std::move(response));
}

void HeadResponder::send_file(FileResponse response) {
  StringResponse head{response.result(), response.version()};
  for (const auto& field : response) head.set(field.name_string(), field.value());
  head.content_length(response.body().size());
  head.keep_alive(response.keep_alive());
  ForwardingResponder::send(std::move(head));
}

std::shared_ptr<BodyStream> HeadResponder::stream(StringResponse head) {
  head.body().clear();
  head.content_length(0);
  ForwardingResponder::send(std::move(head));
  return nullptr;
}

MetricsResponder::MetricsResponder(std::shared_ptr<Responder> inner, MetricsRegistry& metrics,
                                   std::string route, std::string method)
    : ForwardingResponder(std::move(inner)),
      metrics_(metrics),
      route_(std::move(route)),
      method_(std::move(method)),
      start_(std::chrono::steady_clock::now()) {}

void MetricsResponder::declare_metrics(MetricsRegistry& metrics) {
  metrics.counter("gpufleet_http_requests_total", "HTTP responses, by route, method and status code");
  metrics.histogram("gpufleet_http_request_seconds", "Time from a request to its response, by route",
                    MetricsRegistry::duration_buckets());
}

void MetricsResponder::send(StringResponse response) {
  record(response.result_int());
  ForwardingResponder::send(std::move(response));
}

void MetricsResponder::send_file(FileResponse response) {
  record(response.result_int());
  ForwardingResponder::send_file(std::move(response));
}

std::shared_ptr<BodyStream> MetricsResponder::stream(StringResponse head) {
  record(head.result_int());  // the time to the head; the stream lasts as long as the client stays
  return ForwardingResponder::stream(std::move(head));
}

void MetricsResponder::record(unsigned status) {
  metrics_.increment("gpufleet_http_requests_total",
                     {{"route", route_}, {"method", method_}, {"code", std::to_string(status)}});
  metrics_.observe("gpufleet_http_request_seconds", {{"route", route_}},
                   std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count());
}

namespace {

template <typename Response>
Response with_cors(Response response, const std::string& origin) {
  response.set(http::field::access_control_allow_origin, origin);
  response.set(http::field::vary, "Origin");
  response.set(http::field::access_control_expose_headers, "Location, Link, Retry-After");
  return response;
}

}  // namespace

void CorsResponder::send(StringResponse response) {
  ForwardingResponder::send(with_cors(std::move(response), origin_));
}

void CorsResponder::send_file(FileResponse response) {
  ForwardingResponder::send_file(with_cors(std::move(response), origin_));
}

std::shared_ptr<BodyStream> CorsResponder::stream(StringResponse head) {
  return ForwardingResponder::stream(with_cors(std::move(head), origin_));
}

std::optional<std::string> cors_allowed_origin(const std::vector<std::string>& allowed,
                                               std::string_view origin) {
  if (origin.empty() || allowed.empty()) return std::nullopt;
  if (std::find(allowed.begin(), allowed.end(), "*") != allowed.end()) return "*";
  if (std::find(allowed.begin(), allowed.end(), origin) != allowed.end()) return std::string(origin);
  return std::nullopt;
}

StringResponse cors_preflight() {
  StringResponse preflight{http::status::no_content, 11};
  preflight.set(http::field::access_control_allow_methods, "GET, POST, DELETE, PATCH");
  preflight.set(http::field::access_control_allow_headers, "Authorization, Content-Type, Idempotency-Key");
  preflight.set(http::field::access_control_max_age, "600");
  return preflight;
}

std::variant<Caller, StringResponse> admit(ApiKeys& keys, const Route& route, std::string_view authorization,
                                           std::string_view query,
                                           std::chrono::steady_clock::time_point now) {
  Caller caller;  // without keys everyone sees everything (local use)
  if (!keys.enabled() || route.spec->access == Access::kOpen) return caller;
  std::string credentials(authorization);
  if (credentials.empty() && route.spec->token_in_query) {
    if (auto token = query_value(query, "access_token")) credentials = "Bearer " + *token;
  }
  const auto admission = keys.admit(credentials, now);
  switch (admission.verdict) {
    case Admission::Verdict::kAllowed:
      caller.key = admission.key_name;
      caller.sees_all = admission.is_operator;
      return caller;
    case Admission::Verdict::kMissing:
    case Admission::Verdict::kUnknown: {
      auto response = error_response(
          api_error(ErrorCode::kUnauthorized, admission.verdict == Admission::Verdict::kMissing
                                                  ? "send an API key: Authorization: Bearer <token>"
                                                  : "the API key is not known to this gateway"));
      response.set(http::field::www_authenticate, "Bearer");
      return response;
    }
    case Admission::Verdict::kRateLimited: {
      auto response =
          error_response(api_error(ErrorCode::kRateLimited, "API key " + admission.key_name +
                                                                " is over its request rate; retry later"));
      response.set(http::field::retry_after,
                   std::to_string(static_cast<int64_t>(std::ceil(admission.retry_after_s))));
      return response;
    }
  }
  return caller;
}

StringResponse method_not_allowed(const Route& route, std::string_view path) {
  const std::string allow = route.allow();
  auto response =
      error_response(api_error(ErrorCode::kMethodNotAllowed, "use " + allow + " " + std::string(path)));
  response.set(http::field::allow, allow);
  return response;
}

}  // namespace gpufleet::gateway
