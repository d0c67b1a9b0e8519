#pragma once
// The blocking HTTP client of the command line tool, tests and tools (common/http_client.hpp), with the
// gateway's API key: one request, one answer.

#include <chrono>
#include <functional>
#include <map>
#include <string>
#include <string_view>

#include "common/http_client.hpp"

namespace gpufleet::cli {

using gpufleet::HttpResult;

// Sends GPUFLEET_API_KEY, when set, as the bearer token (extra_headers may override it). https is verified
// against `ca_file` (PEM), or the system's CAs when it is empty. `on_body_data`: HttpCallOptions' (a
// chunked answer's pieces as they arrive).
HttpResult http_request(const HttpEndpoint& endpoint, const std::string& method, const std::string& target,
                        const std::string& body = "", const std::string& content_type = "application/json",
                        std::chrono::milliseconds timeout = std::chrono::milliseconds(30000),
                        const std::map<std::string, std::string>& extra_headers = {},
                        const std::string& ca_file = "",
                        std::function<void(std::string_view)> on_body_data = {});

// Plain HTTP to host:port.
HttpResult http_request(const std::string& method, const std::string& host, uint16_t port,
                        const std::string& target, const std::string& body = "",
                        const std::string& content_type = "application/json",
                        std::chrono::milliseconds timeout = std::chrono::milliseconds(30000),
                        const std::map<std::string, std::string>& extra_headers = {});

}  // namespace gpufleet::cli
