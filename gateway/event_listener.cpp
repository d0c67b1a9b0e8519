#include "gateway/event_listener.hpp"

#include <spdlog/spdlog.h>

#include <boost/asio/post.hpp>

#include "common/error.hpp"
#include "store/redis_client.hpp"

namespace gpufleet::gateway {

EventListener::EventListener(RedisEndpoint endpoint, std::vector<std::string> channels,
                             boost::asio::any_io_executor executor, MessageHandler on_message,
                             ResyncHandler on_resync, Filter filter)
    : endpoint_(std::move(endpoint)),
      channels_(std::move(channels)),
      executor_(std::move(executor)),
      on_message_(std::move(on_message)),
      on_resync_(std::move(on_resync)),
      filter_(std::move(filter)),
      thread_([this] { loop(); }) {}

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
      std::vector<std::pair<std::string, std::string>> batch;
      while (!stopping_.load()) {
        // Take everything already received, then hand it over in one post: one wake-up of the event loop
        // per burst instead of one per message.
        auto wait = std::chrono::milliseconds(200);
        while (auto reply = redis.read_push(wait)) {
          wait = std::chrono::milliseconds(0);
          if (!reply->is_array() || reply->size() != 3 || reply->element_str(0) != "message") continue;
          std::string message = reply->element_str(2);
          if (filter_ && !filter_(message)) continue;
          batch.emplace_back(reply->element_str(1), std::move(message));
          if (batch.size() >= 1024) break;
        }
        if (batch.empty()) continue;
        boost::asio::post(executor_, [this, messages = std::move(batch)]() mutable {
          for (auto& [channel, message] : messages) on_message_(std::move(channel), std::move(message));
        });
        batch.clear();
      }
    } catch (const RedisError& error) {
      if (subscribed_.exchange(false)) spdlog::warn("event subscription lost: {}", error.what());
      for (int i = 0; i < 5 && !stopping_.load(); ++i)
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
  }
}

}  // namespace gpufleet::gateway
