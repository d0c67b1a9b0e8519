#pragma once
// A small blocking HTTP/1.1 client for the command line tool, tests and tools: one request, one answer.

#include <chrono>
#include <map>
#include <string>

namespace gpufleet::cli {

struct HttpResult {
  int status = 0;  // 0: no answer (connection refused, timeout); `error` says why
  std::string body;
  std::map<std::string, std::string> headers;  // lower-case names
  std::string error;
};

// Sends GPUFLEET_API_KEY, when set, as the bearer token (extra_headers may override it).
HttpResult http_request(const std::string& method, const std::string& host, uint16_t port, const std::string& target,
                        const std::string& body = "", const std::string& content_type = "application/json",
                        std::chrono::milliseconds timeout = std::chrono::milliseconds(30000),
                        const std::map<std::string, std::string>& extra_headers = {});

}  // namespace gpufleet::cli
