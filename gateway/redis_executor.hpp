#pragma once
// Runs Redis commands for the gateway's event loop on a thread of its own: callers hand over a batch of
// commands and get the replies back on their executor. Every batch queued while a round trip is under way
// goes out in the next pipeline, so under load one round trip serves many requests.

#include <boost/asio/any_io_executor.hpp>
#include <condition_variable>
#include <deque>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "store/redis_client.hpp"

namespace gpufleet::gateway {

// A reply copied out of hiredis, so it can cross threads.
struct RedisValue {
  bool error = false;
  bool nil = false;
  std::string str;
  long long integer = 0;
  std::vector<std::string> elements;
  std::vector<RedisReply::StreamEntry> entries;  // stream replies (XRANGE, XREVRANGE, XREAD)

  std::vector<std::pair<std::string, std::string>> pairs() const;
  const std::vector<RedisReply::StreamEntry>& stream_entries() const { return entries; }
};

struct RedisBatchResult {
  bool ok = false;  // false: Redis unreachable; `failure` says why
  std::string failure;
  std::vector<RedisValue> replies;  // one per command, in order
};

class RedisExecutor {
 public:
  using Callback = std::function<void(RedisBatchResult)>;

  RedisExecutor(RedisEndpoint endpoint, boost::asio::any_io_executor callbacks);
  ~RedisExecutor();
  RedisExecutor(const RedisExecutor&) = delete;
  RedisExecutor& operator=(const RedisExecutor&) = delete;

  void execute(std::vector<RedisArgs> commands, Callback callback);
  RedisKeys keys() const { return RedisKeys(endpoint_.prefix); }

 private:
  struct Batch {
    std::vector<RedisArgs> commands;
    Callback callback;
  };
  void loop();

  RedisEndpoint endpoint_;
  boost::asio::any_io_executor callbacks_;
  std::mutex mutex_;
  std::condition_variable wake_;
  std::deque<Batch> queue_;
  bool stopping_ = false;
  std::thread thread_;
};

}  // namespace gpufleet::gateway
