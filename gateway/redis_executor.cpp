#include "gateway/redis_executor.hpp"

#include <spdlog/spdlog.h>

#include <boost/asio/post.hpp>

#include "common/clock.hpp"
#include "common/error.hpp"

namespace gpufleet::gateway {

std::vector<std::pair<std::string, std::string>> RedisValue::pairs() const {
  std::vector<std::pair<std::string, std::string>> result;
  for (size_t i = 0; i + 1 < elements.size(); i += 2) result.emplace_back(elements[i], elements[i + 1]);
  return result;
}

namespace {

RedisValue copy_reply(const RedisReply& reply) {
  RedisValue value;
  value.error = reply.is_error();
  value.nil = reply.is_nil();
  if (reply.is_integer()) value.integer = reply.integer();
  if (reply.is_array()) {
    value.elements.reserve(reply.size());
    for (size_t i = 0; i < reply.size(); ++i) value.elements.push_back(reply.element_str(i));
    // Nested arrays (streams) are kept as entries; a flat array has none.
    if (reply.size() > 0 && value.elements.front().empty()) value.entries = reply.stream_entries();
  } else {
    value.str = reply.str();
  }
  return value;
}

}  // namespace

RedisExecutor::RedisExecutor(RedisEndpoint endpoint, boost::asio::any_io_executor callbacks)
    : endpoint_(std::move(endpoint)), callbacks_(std::move(callbacks)), thread_([this] { loop(); }) {}

RedisExecutor::~RedisExecutor() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_one();
  thread_.join();
}

void RedisExecutor::execute(std::vector<RedisArgs> commands, Callback callback) {
  {
    std::lock_guard lock(mutex_);
    queue_.push_back(Batch{std::move(commands), std::move(callback)});
  }
  wake_.notify_one();
}

void RedisExecutor::loop() {
  // A short connect timeout: while Redis is down, requests must fail fast with 503, not hang.
  RedisClient redis(endpoint_, std::chrono::milliseconds(1000));
  redis.enable_job_store_scripts();
  auto next_connect = SteadyClock::now();
  std::deque<Batch> batches;
  while (true) {
    {
      std::unique_lock lock(mutex_);
      wake_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
      if (stopping_ && queue_.empty()) return;
      batches.swap(queue_);
    }
    RedisBatchResult shared;
    std::vector<RedisReply> replies;
    if (!redis.connected() && SteadyClock::now() < next_connect) {
      // Between connection attempts requests fail at once; the next attempt is not pushed back by them.
      shared.failure = "redis unreachable (retrying shortly)";
    } else {
      try {
        for (const auto& batch : batches) {
          for (const auto& command : batch.commands) redis.append(command);
        }
        replies = redis.flush();
        shared.ok = true;
      } catch (const RedisError& error) {
        next_connect = SteadyClock::now() + std::chrono::milliseconds(250);
        shared.failure = error.what();
        spdlog::warn("redis: {}", error.what());
      }
    }
    size_t next_reply = 0;
    for (auto& batch : batches) {
      RedisBatchResult result;
      result.ok = shared.ok;
      result.failure = shared.failure;
      if (shared.ok) {
        result.replies.reserve(batch.commands.size());
        for (size_t i = 0; i < batch.commands.size(); ++i)
          result.replies.push_back(copy_reply(replies[next_reply++]));
      }
      boost::asio::post(callbacks_,
                        [callback = std::move(batch.callback), result = std::move(result)]() mutable {
                          // A reply the completion cannot handle (bytes it did not expect) costs that one
                          // request, not the loop.
                          try {
                            callback(std::move(result));
                          } catch (const std::exception& error) {
                            spdlog::error("a Redis completion threw: {}", error.what());
                          }
                        });
    }
    batches.clear();
  }
}

}  // namespace gpufleet::gateway
