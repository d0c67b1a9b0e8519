// gpufleet-gateway: the HTTP front of the fleet (port 8001 by default). Settings: docs/operations.md.
#include <spdlog/spdlog.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>

#include "common/logging.hpp"
#include "gateway/gateway.hpp"

int main() {
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
