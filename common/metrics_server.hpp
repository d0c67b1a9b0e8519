#pragma once
// The metrics endpoint of a process without an HTTP server of its own (broker, worker): one thread answering
// `GET /metrics` with the registry's text, and 404 to anything else. Requests are tiny and answered at once;
// a client that sends nothing is dropped after two seconds, so it cannot hold the thread.

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <thread>

#include "common/metrics.hpp"

namespace gpufleet {

class MetricsServer {
 public:
  // Binds host:port (port 0: any free port, see port()); throws ConfigError when it cannot.
  MetricsServer(const MetricsRegistry& registry, const std::string& host, uint16_t port);
  ~MetricsServer();
  MetricsServer(const MetricsServer&) = delete;
  MetricsServer& operator=(const MetricsServer&) = delete;

  uint16_t port() const { return port_; }

 private:
  void serve();

  const MetricsRegistry& registry_;
  int listener_ = -1;
  uint16_t port_ = 0;
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

// Starts the endpoint when `port` is not 0. Metrics are for watching, not for serving: a port that cannot be
// bound is logged (naming `setting`, the variable that chose it) and the process goes on without metrics.
std::unique_ptr<MetricsServer> start_metrics_server(const MetricsRegistry& registry, const std::string& host,
                                                    uint16_t port, const std::string& setting);

}  // namespace gpufleet
