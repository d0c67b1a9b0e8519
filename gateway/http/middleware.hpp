#pragma once
// What the gateway does to every request before a route's handler runs, and to every response after:
// metrics per route, HEAD answered from GET, CORS for allowed browser origins, API-key admission. Each is a
// Responder wrapper or a pure decision; the gateway chains them in handle().

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "common/api_keys.hpp"
#include "common/metrics.hpp"
#include "gateway/api.hpp"
#include "gateway/http/http_server.hpp"
#include "gateway/http/routes.hpp"

namespace gpufleet::gateway {

// A Responder that passes everything on to `inner`; the wrappers below override what they change.
class ForwardingResponder : public Responder {
 public:
  explicit ForwardingResponder(std::shared_ptr<Responder> inner) : inner_(std::move(inner)) {}
  void send(StringResponse response) override { inner_->send(std::move(response)); }
  void send_file(FileResponse response) override { inner_->send_file(std::move(response)); }
  std::shared_ptr<BodyStream> stream(StringResponse head) override { return inner_->stream(std::move(head)); }
  bool connection_open() const override { return inner_->connection_open(); }
  void on_client_gone(std::function<void()> gone) override { inner_->on_client_gone(std::move(gone)); }

 private:
  std::shared_ptr<Responder> inner_;
};

// HEAD: the headers GET would send, Content-Length included, and no body.
class HeadResponder final : public ForwardingResponder {
 public:
  using ForwardingResponder::ForwardingResponder;
  void send(StringResponse response) override;
  void send_file(FileResponse response) override;
  std::shared_ptr<BodyStream> stream(StringResponse head) override;
};

// Counts each response by route, method and status, and times it, when it is sent.
class MetricsResponder final : public ForwardingResponder {
 public:
  MetricsResponder(std::shared_ptr<Responder> inner, MetricsRegistry& metrics, std::string route,
                   std::string method);
  // Declares the series it writes.
  static void declare_metrics(MetricsRegistry& metrics);
  void send(StringResponse response) override;
  void send_file(FileResponse response) override;
  std::shared_ptr<BodyStream> stream(StringResponse head) override;

 private:
  void record(unsigned status);
  MetricsRegistry& metrics_;
  std::string route_, method_;
  std::chrono::steady_clock::time_point start_;
};

// Adds the CORS headers of an allowed origin to whatever the routes answer.
class CorsResponder final : public ForwardingResponder {
 public:
  CorsResponder(std::shared_ptr<Responder> inner, std::string origin)
      : ForwardingResponder(std::move(inner)), origin_(std::move(origin)) {}
  void send(StringResponse response) override;
  void send_file(FileResponse response) override;
  std::shared_ptr<BodyStream> stream(StringResponse head) override;

 private:
  std::string origin_;
};

// The Access-Control-Allow-Origin a request from `origin` gets: "*" when any origin is allowed, the origin
// itself when it is listed, nothing when it is not (or the request sent none, or CORS is off).
std::optional<std::string> cors_allowed_origin(const std::vector<std::string>& allowed,
                                               std::string_view origin);

// The answer to an allowed origin's preflight (OPTIONS): browsers send no credentials with it.
StringResponse cors_preflight();

// Who is calling, from the Authorization header (or ?access_token= where the route takes it), or the 401/429
// that refuses the request. Routes of Access::kOpen and a gateway without keys admit everyone as a caller
// who sees all.
std::variant<Caller, StringResponse> admit(ApiKeys& keys, const Route& route, std::string_view authorization,
                                           std::string_view query, std::chrono::steady_clock::time_point now);

// 405 with the route's Allow header.
StringResponse method_not_allowed(const Route& route, std::string_view path);

}  // namespace gpufleet::gateway
