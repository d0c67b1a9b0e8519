// gpufleet-broker: queues jobs and dispatches them to workers. Settings: docs/operations.md.
#include <spdlog/spdlog.h>

#include <atomic>
#include <csignal>
#include <string>
#include <string_view>

#include "broker/broker.hpp"
#include "common/logging.hpp"
#include "common/usage.hpp"

namespace {
std::atomic<bool> g_stop{false};
void on_signal(int) {
  g_stop.store(true);
}

constexpr std::string_view kUsage =
    "usage: gpufleet-broker [-h|--help]\n"
    "  Queues the fleet's jobs per model and dispatches them to workers over ZeroMQ (tcp://127.0.0.1:5555).\n"
    "  Takes no arguments: every setting comes from the environment (docs/operations.md), chiefly\n"
    "    BROKER_HOST BROKER_PORT BROKER_BIND BROKER_CURVE_SECRET_KEY BROKER_CURVE_CLIENTS_FILE\n"
    "    BROKER_ALLOW_PLAINTEXT BROKER_METRICS_PORT REDIS_URL (or REDIS_HOST REDIS_PORT) REDIS_PREFIX\n"
    "    HEARTBEAT_MS HEARTBEAT_LIVENESS MAX_ATTEMPTS POISON_AFTER LEASE_MS RECONCILE_MS JOB_TTL LOG_LEVEL\n"
    "  Stops on SIGINT or SIGTERM.\n";
}  // namespace

int main(int argc, char** argv) {
  if (gpufleet::asks_for_help(argc, argv)) return gpufleet::print_usage(kUsage);
  if (argc > 1)
    return gpufleet::usage_error("gpufleet-broker", std::string("unknown argument ") + argv[1], kUsage);
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
