#include "cli/http_client.hpp"

#include <cstdlib>

namespace gpufleet::cli {

HttpResult http_request(const HttpEndpoint& endpoint, const std::string& method, const std::string& target,
                        const std::string& body, const std::string& content_type,
                        std::chrono::milliseconds timeout,
                        const std::map<std::string, std::string>& extra_headers, const std::string& ca_file,
                        std::function<void(std::string_view)> on_body_data) {
  std::map<std::string, std::string> headers;
  // The gateway's API key, for fleets that require one (see common/api_keys.hpp).
  // NOLINTNEXTLINE(concurrency-mt-unsafe): nothing in gpufleet calls setenv
  if (const char* key = std::getenv("GPUFLEET_API_KEY"); key != nullptr && *key != '\0') {
    headers["Authorization"] = std::string("Bearer ") + key;
  }
  if (!body.empty() || method == "POST") headers["Content-Type"] = content_type;
  for (const auto& [name, value] : extra_headers) headers[name] = value;
  HttpCallOptions options;
  options.timeout = timeout;
  options.ca_file = ca_file;
  options.on_body_data = std::move(on_body_data);
  return http_call(endpoint, method, target, {headers.begin(), headers.end()}, body, options);
}

HttpResult http_request(const std::string& method, const std::string& host, uint16_t port,
                        const std::string& target, const std::string& body, const std::string& content_type,
                        std::chrono::milliseconds timeout,
                        const std::map<std::string, std::string>& extra_headers) {
  return http_request(HttpEndpoint{false, host, port}, method, target, body, content_type, timeout,
                      extra_headers);
}

}  // namespace gpufleet::cli
