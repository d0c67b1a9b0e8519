#include "gateway/event_listener.hpp"

#include <spdlog/spdlog.h>

#include <boost/asio/post.hpp>

#include "common/error.hpp"
#include "common/redis_client.hpp"

namespace gpufleet::gateway {

EventListener::EventListener(RedisEndpoint endpoint, std::vector<std::string> channels,
                             boost::asio::any_io_executor executor, MessageHandler on_message,
                             ResyncHandler on_resync)
    : endpoint_(std::move(endpoint)), channels_(std::move(channels)), executor_(std::move(executor)),
      on_message_(std::move(on_message)), on_resync_(std::move(on_resync)), thread_([this] { loop(); }) {}

EventListener::~EventListener() {
  stopping_.store(true);
  thread_.join();
}

void EventListener::loop() {
  bool was_subscribed = false;
  while (!stopping_.load()) {
    try {
      RedisClient redis(endpoint_, std::chrono::milliseconds(1000));
      redis.connect();
      RedisArgs subscribe{"SUBSCRIBE"};
      subscribe.insert(subscribe.end(), channels_.begin(), channels_.end());
      redis.append(subscribe);
      redis.flush();  // the replies are the first subscription confirmations
      for (size_t i = 1; i < channels_.size(); ++i) redis.read_push(std::chrono::milliseconds(1000));
      subscribed_.store(true);
      if (was_subscribed) {
        spdlog::info("event subscription restored");
        boost::asio::post(executor_, on_resync_);
      }
      was_subscribed = true;
      while (!stopping_.load()) {
        auto reply = redis.read_push(std::chrono::milliseconds(200));
        if (!reply || !reply->is_array() || reply->size() != 3 || reply->element_str(0) != "message") continue;
        boost::asio::post(executor_, [this, channel = reply->element_str(1), message = reply->element_str(2)]() mutable {
          on_message_(std::move(channel), std::move(message));
        });
      }
    } catch (const RedisError& error) {
      if (subscribed_.exchange(false)) spdlog::warn("event subscription lost: {}", error.what());
      for (int i = 0; i < 5 && !stopping_.load(); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
  }
}

}  // namespace gpufleet::gateway
