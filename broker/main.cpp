// gpufleet-broker: queues jobs and dispatches them to workers. Settings: docs/operations.md.
#include <spdlog/spdlog.h>

#include <atomic>
#include <csignal>

#include "broker/broker.hpp"
#include "common/logging.hpp"

namespace {
std::atomic<bool> g_stop{false};
void on_signal(int) {
  g_stop.store(true);
}
}  // namespace

int main() {
  gpufleet::init_logging("broker");
  std::signal(SIGINT, on_signal);
  std::signal(SIGTERM, on_signal);
  try {
    gpufleet::broker::Broker broker(gpufleet::broker::BrokerConfig::from_env());
    broker.run(g_stop);
  } catch (const std::exception& error) {
    spdlog::critical("broker failed: {}", error.what());
    return 1;
  }
  return 0;
}
