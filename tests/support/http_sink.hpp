#pragma once
// A small HTTP(S) server for tests that receive calls from the fleet (webhooks): records every request and
// answers each with the next status of a script (then a default). Runs on a thread of its own.

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

namespace gpufleet::testing {

struct ReceivedRequest {
  std::string method;
  std::string target;
  std::map<std::string, std::string> headers;  // names in lower case
  std::string body;
  std::chrono::steady_clock::time_point at;
};

struct SinkTls {
  std::filesystem::path certificate;  // PEM
  std::filesystem::path private_key;  // PEM
};

// Makes a self-signed certificate for 127.0.0.1 (with the openssl command), valid for a day.
SinkTls make_self_signed_certificate(const std::filesystem::path& dir, const std::string& name);

class HttpSink {
 public:
  // Listens on 127.0.0.1:`port` (0: a free port). Answers the i-th request with statuses[i], later ones with
  // `otherwise`.
  explicit HttpSink(std::vector<int> statuses = {}, int otherwise = 200,
                    std::optional<SinkTls> tls = std::nullopt, uint16_t port = 0);
  ~HttpSink();
  HttpSink(const HttpSink&) = delete;
  HttpSink& operator=(const HttpSink&) = delete;

  uint16_t port() const { return port_; }
  std::vector<ReceivedRequest> requests();
  // Waits until at least `count` requests arrived.
  bool wait_requests(size_t count, std::chrono::milliseconds timeout);

 private:
  struct State;
  std::shared_ptr<State> state_;
  uint16_t port_ = 0;
  std::thread thread_;
};

}  // namespace gpufleet::testing
