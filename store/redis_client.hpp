#pragma once
// A small synchronous Redis client over hiredis: RAII for the context and every reply, pipelining, and
// reconnection on the next call after a failure. Not thread-safe: one owner thread per client.

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "common/config.hpp"
#include "store/redis_schema.hpp"

struct redisContext;
struct redisReply;

namespace gpufleet {

// Owns one hiredis reply.
class RedisReply {
 public:
  RedisReply() = default;
  explicit RedisReply(redisReply* reply);

  bool is_nil() const;
  bool is_error() const;
  bool is_string() const;  // bulk or status string
  bool is_integer() const;
  bool is_array() const;
  std::string str() const;  // string, status or error text
  long long integer() const;
  size_t size() const;  // array elements
  std::string element_str(size_t index) const;
  // An array element that is an integer; nullopt otherwise.
  std::optional<long long> element_integer(size_t index) const;
  // An HGETALL-style array as field/value pairs.
  std::vector<std::pair<std::string, std::string>> pairs() const;
  // An array's elements as strings (nil elements as empty strings, integers in decimal).
  std::vector<std::string> strings() const;

  // The entries of an XREAD reply for one stream (or of XRANGE): id and field/value pairs.
  struct StreamEntry {
    std::string id;
    std::vector<std::pair<std::string, std::string>> fields;
  };
  std::vector<StreamEntry> stream_entries() const;
  // The entries in array element `index` (XAUTOCLAIM's second element).
  std::vector<StreamEntry> stream_entries_at(size_t index) const;

 private:
  struct Deleter {
    void operator()(redisReply* reply) const;
  };
  std::unique_ptr<redisReply, Deleter> reply_;
};

class RedisClient {
 public:
  explicit RedisClient(RedisEndpoint endpoint,
                       std::chrono::milliseconds timeout = std::chrono::milliseconds(2000));
  ~RedisClient();
  RedisClient(const RedisClient&) = delete;
  RedisClient& operator=(const RedisClient&) = delete;

  const RedisEndpoint& endpoint() const { return endpoint_; }
  RedisKeys keys() const { return RedisKeys(endpoint_.prefix); }

  // Connects (or reconnects); throws RedisError. With job-store scripts enabled, loads them as well.
  void connect();
  // Loads the job-store scripts (store/job_store.hpp) on every connect, and once more when Redis answers
  // NOSCRIPT (after a SCRIPT FLUSH), so that EVALSHA commands always find them.
  void enable_job_store_scripts() { job_store_scripts_ = true; }
  bool connected() const { return context_ != nullptr; }
  void disconnect();

  // One command, one round trip. Throws RedisError on I/O failure; a Redis error reply is returned as is.
  RedisReply command(const RedisArgs& args);

  // Pipelining: queue commands, then send them all and read every reply in one round trip.
  void append(RedisArgs args);
  size_t pending() const { return pending_.size(); }
  std::vector<RedisReply> flush();
  // Sends `commands` (left untouched, so a caller can keep them for a retry) in one round trip.
  std::vector<RedisReply> pipeline(std::span<const RedisArgs> commands);

  // The next pushed message (after SUBSCRIBE), waiting at most `wait`; nullopt when none came.
  std::optional<RedisReply> read_push(std::chrono::milliseconds wait);

 private:
  void ensure_connected();
  void load_scripts();
  [[noreturn]] void fail(const std::string& what);

  RedisEndpoint endpoint_;
  std::chrono::milliseconds timeout_;
  redisContext* context_ = nullptr;
  std::vector<RedisArgs> pending_;
  bool job_store_scripts_ = false;
};

// Redis's memory as INFO memory reports it: used_memory and maxmemory (0: no limit). Nothing if the text
// holds neither.
struct RedisMemory {
  uint64_t used = 0;
  uint64_t max = 0;
};
std::optional<RedisMemory> parse_redis_memory(std::string_view info);

// One command's line of INFO commandstats: calls and microseconds spent since the last CONFIG RESETSTAT.
struct RedisCommandStat {
  uint64_t calls = 0;
  uint64_t usec = 0;
};
// INFO commandstats by command name ("evalsha", "hset", "config|get" for subcommands); lines that do not
// parse are skipped.
std::map<std::string, RedisCommandStat> parse_redis_command_stats(std::string_view info);

}  // namespace gpufleet
