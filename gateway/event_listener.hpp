#pragma once
// Subscribes to the fleet's job events in Redis on a thread of its own and hands each message to the
// gateway's event loop. After a reconnect it calls `on_resync` so that waiters can catch up on events
// that went by while the subscription was down.

#include <atomic>
#include <boost/asio/any_io_executor.hpp>
#include <functional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "common/config.hpp"

namespace gpufleet::gateway {

class EventListener {
 public:
  using MessageHandler = std::function<void(std::string channel, std::string message)>;
  using ResyncHandler = std::function<void()>;
  // Runs on the listener's thread; messages it rejects never reach the event loop.
  using Filter = std::function<bool(const std::string& message)>;

  EventListener(RedisEndpoint endpoint, std::vector<std::string> channels,
                boost::asio::any_io_executor executor, MessageHandler on_message, ResyncHandler on_resync,
                Filter filter = nullptr);
  ~EventListener();
  EventListener(const EventListener&) = delete;
  EventListener& operator=(const EventListener&) = delete;

  bool subscribed() const { return subscribed_.load(); }

 private:
  void loop();

  RedisEndpoint endpoint_;
  std::vector<std::string> channels_;
  boost::asio::any_io_executor executor_;
  MessageHandler on_message_;
  ResyncHandler on_resync_;
  Filter filter_;
  std::atomic<bool> stopping_{false};
  std::atomic<bool> subscribed_{false};
  std::thread thread_;
};

}  // namespace gpufleet::gateway
