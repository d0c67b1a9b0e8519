// gpufleet-gateway: the HTTP front of the fleet (port 8001 by default). Settings: docs/operations.md.
#include <spdlog/spdlog.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <string>
#include <string_view>

#include "common/logging.hpp"
#include "common/usage.hpp"
#include "gateway/gateway.hpp"

namespace {

constexpr std::string_view kUsage =
    "usage: gpufleet-gateway [-h|--help]\n"
    "  The fleet's HTTP API (GET /health, POST /tts/generate, /v1/jobs, ...), on HOST:PORT (0.0.0.0:8001).\n"
    "  Takes no arguments: every setting comes from the environment (docs/operations.md), chiefly\n"
    "    HOST PORT REDIS_URL (or REDIS_HOST REDIS_PORT) REDIS_PREFIX STORAGE_ROOT INPUT_ROOT\n"
    "    API_KEYS_FILE TLS_CERT_FILE TLS_KEY_FILE CORS_ORIGINS WEBHOOK_SECRET MAX_BODY_BYTES MAX_TEXT_CHARS\n"
    "    MAX_UPLOAD_BYTES MAX_QUEUED_PER_MODEL MAX_WAIT_S JOB_TTL LOG_LEVEL LOG_FORMAT\n"
    "  Stops on SIGINT or SIGTERM.\n";

}  // namespace

int main(int argc, char** argv) {
  if (gpufleet::asks_for_help(argc, argv)) return gpufleet::print_usage(kUsage);
  if (argc > 1)
    return gpufleet::usage_error("gpufleet-gateway", std::string("unknown argument ") + argv[1], kUsage);
  gpufleet::init_logging("gateway");
  try {
    boost::asio::io_context io(1);
    gpufleet::gateway::Gateway gateway(io, gpufleet::gateway::GatewayConfig::from_env());
    boost::asio::signal_set signals(io, SIGINT, SIGTERM);
    signals.async_wait([&](boost::system::error_code, int signal) {
      spdlog::info("signal {}: stopping", signal);
      gateway.stop();
      io.stop();
    });
    gateway.start();
    // No exception ends the event loop: a completion that throws is logged and the loop goes on serving (the
    // request it served, if still unanswered, gets a 500 when its responder is dropped).
    while (true) {
      try {
        io.run();
        break;
      } catch (const std::exception& error) {
        spdlog::error("event loop: a completion threw, serving on: {}", error.what());
      }
    }
  } catch (const std::exception& error) {
    spdlog::critical("gateway failed: {}", error.what());
    return 1;
  }
  return 0;
}
