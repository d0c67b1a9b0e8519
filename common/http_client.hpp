#pragma once
// A small HTTP/1.1 client, blocking for its caller: one request, one answer, and one deadline for all of it
// (resolve, connect, TLS handshake, request, answer). https verifies the server against the system's CAs (or
// a given file) and the host name. Redirects are not followed. Used by the `gpufleet` command, the tests and
// the gateway's webhook sender.

#include <atomic>
#include <boost/asio/ip/address.hpp>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace gpufleet {

struct HttpEndpoint {
  bool tls = false;
  std::string host;  // a name, an IPv4 address, or an IPv6 address without brackets
  uint16_t port = 80;
};

struct HttpCallOptions {
  std::chrono::milliseconds timeout{30000};
  std::string ca_file;                        // https: PEM bundle to trust instead of the system's CAs
  uint64_t max_body_bytes = 1ULL << 32;       // a longer answer is an error
  const std::atomic<bool>* cancel = nullptr;  // gives up at once when it turns true
  // Set: only resolved addresses it accepts are connected to (the very addresses it was shown, so a name
  // that resolves differently a moment later cannot slip past it). None accepted: no answer, nothing sent.
  std::function<bool(const boost::asio::ip::address&)> address_allowed;
  // Set: a chunked answer's body is handed here piece by piece as it arrives (a stream's time to first
  // audio), and still collected in HttpResult::body. Answers of a known length are not split.
  std::function<void(std::string_view)> on_body_data;
};

struct HttpResult {
  int status = 0;  // 0: no answer (refused, timed out, TLS failure); `error` says why
  std::string body;
  std::map<std::string, std::string> headers;  // lower-case names
  std::string error;
};

HttpResult http_call(const HttpEndpoint& endpoint, std::string_view method, std::string_view target,
                     const std::vector<std::pair<std::string, std::string>>& headers, std::string body,
                     const HttpCallOptions& options = {});

}  // namespace gpufleet
