#include "store/redis_client.hpp"

#include <hiredis/hiredis.h>
#include <poll.h>
#include <sys/time.h>

#include <cerrno>
#include <charconv>

#include "common/error.hpp"
#include "store/job_store.hpp"

namespace gpufleet {

void RedisReply::Deleter::operator()(redisReply* reply) const {
  if (reply != nullptr) freeReplyObject(reply);
}

RedisReply::RedisReply(redisReply* reply) : reply_(reply) {}

bool RedisReply::is_nil() const {
  return !reply_ || reply_->type == REDIS_REPLY_NIL;
}
bool RedisReply::is_error() const {
  return reply_ && reply_->type == REDIS_REPLY_ERROR;
}
bool RedisReply::is_string() const {
  return reply_ && (reply_->type == REDIS_REPLY_STRING || reply_->type == REDIS_REPLY_STATUS);
}
bool RedisReply::is_integer() const {
  return reply_ && reply_->type == REDIS_REPLY_INTEGER;
}
bool RedisReply::is_array() const {
  return reply_ && reply_->type == REDIS_REPLY_ARRAY;
}

std::string RedisReply::str() const {
  if (!reply_) return {};
  if (reply_->type == REDIS_REPLY_STRING || reply_->type == REDIS_REPLY_STATUS ||
      reply_->type == REDIS_REPLY_ERROR) {
    return std::string(reply_->str, reply_->len);
  }
  if (reply_->type == REDIS_REPLY_INTEGER) return std::to_string(reply_->integer);
  return {};
}

long long RedisReply::integer() const {
  return is_integer() ? reply_->integer : 0;
}
size_t RedisReply::size() const {
  return is_array() ? reply_->elements : 0;
}

std::string RedisReply::element_str(size_t index) const {
  if (!is_array() || index >= reply_->elements) return {};
  const redisReply* element = reply_->element[index];
  if (element->type == REDIS_REPLY_STRING || element->type == REDIS_REPLY_STATUS) {
    return std::string(element->str, element->len);
  }
  if (element->type == REDIS_REPLY_INTEGER) return std::to_string(element->integer);
  return {};
}

std::optional<long long> RedisReply::element_integer(size_t index) const {
  if (!is_array() || index >= reply_->elements) return std::nullopt;
  const redisReply* element = reply_->element[index];
  if (element->type != REDIS_REPLY_INTEGER) return std::nullopt;
  return element->integer;
}

std::vector<std::pair<std::string, std::string>> RedisReply::pairs() const {
  std::vector<std::pair<std::string, std::string>> result;
  for (size_t i = 0; i + 1 < size(); i += 2) result.emplace_back(element_str(i), element_str(i + 1));
  return result;
}

std::vector<std::string> RedisReply::strings() const {
  std::vector<std::string> result;
  result.reserve(size());
  for (size_t i = 0; i < size(); ++i) result.push_back(element_str(i));
  return result;
}

namespace {

std::string text_of(const redisReply* element) {
  if (element == nullptr) return {};
  if (element->type == REDIS_REPLY_STRING || element->type == REDIS_REPLY_STATUS) {
    return std::string(element->str, element->len);
  }
  if (element->type == REDIS_REPLY_INTEGER) return std::to_string(element->integer);
  return {};
}

// One entry: [id, [field, value, ...]]. Anything else is skipped.
void append_entry(const redisReply* entry, std::vector<RedisReply::StreamEntry>& out) {
  if (entry == nullptr || entry->type != REDIS_REPLY_ARRAY || entry->elements != 2) return;
  RedisReply::StreamEntry parsed;
  parsed.id = text_of(entry->element[0]);
  const redisReply* fields = entry->element[1];
  if (fields != nullptr && fields->type == REDIS_REPLY_ARRAY) {
    for (size_t i = 0; i + 1 < fields->elements; i += 2) {
      parsed.fields.emplace_back(text_of(fields->element[i]), text_of(fields->element[i + 1]));
    }
  }
  out.push_back(std::move(parsed));
}

}  // namespace

std::vector<RedisReply::StreamEntry> RedisReply::stream_entries() const {
  std::vector<StreamEntry> entries;
  if (!is_array()) return entries;
  // XREAD: [[stream, [entries...]], ...]; XRANGE: [entries...].
  for (size_t i = 0; i < reply_->elements; ++i) {
    const redisReply* item = reply_->element[i];
    if (item->type == REDIS_REPLY_ARRAY && item->elements == 2 &&
        item->element[1]->type == REDIS_REPLY_ARRAY && item->element[0]->type != REDIS_REPLY_ARRAY &&
        (item->element[1]->elements == 0 || item->element[1]->element[0]->type == REDIS_REPLY_ARRAY)) {
      const redisReply* list = item->element[1];
      for (size_t j = 0; j < list->elements; ++j) append_entry(list->element[j], entries);
    } else {
      append_entry(item, entries);
    }
  }
  return entries;
}

std::vector<RedisReply::StreamEntry> RedisReply::stream_entries_at(size_t index) const {
  std::vector<StreamEntry> entries;
  if (!is_array() || index >= reply_->elements) return entries;
  const redisReply* list = reply_->element[index];
  if (list->type != REDIS_REPLY_ARRAY) return entries;
  for (size_t j = 0; j < list->elements; ++j) append_entry(list->element[j], entries);
  return entries;
}

RedisClient::RedisClient(RedisEndpoint endpoint, std::chrono::milliseconds timeout)
    : endpoint_(std::move(endpoint)), timeout_(timeout) {}

RedisClient::~RedisClient() {
  disconnect();
}

void RedisClient::disconnect() {
  if (context_ != nullptr) {
    redisFree(context_);
    context_ = nullptr;
  }
}

namespace {
timeval to_timeval(std::chrono::milliseconds ms) {
  timeval tv{};
  tv.tv_sec = static_cast<time_t>(ms.count() / 1000);
  tv.tv_usec = static_cast<suseconds_t>((ms.count() % 1000) * 1000);
  return tv;
}
}  // namespace

void RedisClient::connect() {
  disconnect();
  redisContext* context =
      redisConnectWithTimeout(endpoint_.host.c_str(), endpoint_.port, to_timeval(timeout_));
  if (context == nullptr) throw RedisError("redis: cannot allocate a context");
  if (context->err != 0) {
    std::string message =
        "redis " + endpoint_.host + ":" + std::to_string(endpoint_.port) + ": " + context->errstr;
    redisFree(context);
    throw RedisError(message);
  }
  redisSetTimeout(context, to_timeval(timeout_));
  context_ = context;
  if (!endpoint_.password.empty()) {
    auto reply = command({"AUTH", endpoint_.password});
    if (reply.is_error()) fail("AUTH refused: " + reply.str());
  }
  if (endpoint_.db != 0) {
    auto reply = command({"SELECT", std::to_string(endpoint_.db)});
    if (reply.is_error()) fail("SELECT refused: " + reply.str());
  }
  if (job_store_scripts_) load_scripts();
}

void RedisClient::load_scripts() {
  for (const auto& script : job_store::scripts()) {
    auto reply = command({"SCRIPT", "LOAD", script.source});
    if (reply.is_error()) fail("cannot load script " + script.name + ": " + reply.str());
    if (reply.str() != script.sha1)
      fail("script " + script.name + " has SHA1 " + reply.str() + ", expected " + script.sha1);
  }
}

void RedisClient::ensure_connected() {
  if (context_ == nullptr) connect();
}

void RedisClient::fail(const std::string& what) {
  std::string message = "redis " + endpoint_.host + ":" + std::to_string(endpoint_.port) + ": " + what;
  disconnect();
  pending_.clear();
  throw RedisError(message);
}

namespace {
void argv_of(const RedisArgs& args, std::vector<const char*>& argv, std::vector<size_t>& lengths) {
  argv.clear();
  lengths.clear();
  for (const auto& arg : args) {
    argv.push_back(arg.data());
    lengths.push_back(arg.size());
  }
}
}  // namespace

RedisReply RedisClient::command(const RedisArgs& args) {
  ensure_connected();
  std::vector<const char*> argv;
  std::vector<size_t> lengths;
  argv_of(args, argv, lengths);
  auto* reply = static_cast<redisReply*>(
      redisCommandArgv(context_, static_cast<int>(argv.size()), argv.data(), lengths.data()));
  if (reply == nullptr) fail(context_->errstr);
  return RedisReply(reply);
}

void RedisClient::append(RedisArgs args) {
  pending_.push_back(std::move(args));
}

std::vector<RedisReply> RedisClient::flush() {
  std::vector<RedisArgs> commands;
  commands.swap(pending_);
  return pipeline(commands);
}

std::vector<RedisReply> RedisClient::pipeline(std::span<const RedisArgs> commands) {
  std::vector<RedisReply> replies;
  if (commands.empty()) return replies;
  ensure_connected();
  std::vector<const char*> argv;
  std::vector<size_t> lengths;
  for (const auto& args : commands) {
    argv_of(args, argv, lengths);
    if (redisAppendCommandArgv(context_, static_cast<int>(argv.size()), argv.data(), lengths.data()) !=
        REDIS_OK) {
      fail("cannot queue a pipelined command");
    }
  }
  replies.reserve(commands.size());
  for (size_t i = 0; i < commands.size(); ++i) {
    void* reply = nullptr;
    if (redisGetReply(context_, &reply) != REDIS_OK || reply == nullptr) fail(context_->errstr);
    replies.emplace_back(static_cast<redisReply*>(reply));
  }
  if (job_store_scripts_) {
    for (size_t i = 0; i < replies.size(); ++i) {
      if (!replies[i].is_error() || replies[i].str().rfind("NOSCRIPT", 0) != 0) continue;
      // The script cache was flushed under us: load again and repeat just the commands that missed.
      load_scripts();
      replies[i] = command(commands[i]);
    }
  }
  return replies;
}

std::optional<RedisReply> RedisClient::read_push(std::chrono::milliseconds wait) {
  ensure_connected();
  void* reply = nullptr;
  // First whatever the reader already holds, then wait on the socket: no blocking read that a timeout
  // would leave half-done.
  if (redisGetReplyFromReader(context_, &reply) != REDIS_OK) fail(context_->errstr);
  if (reply != nullptr) return RedisReply(static_cast<redisReply*>(reply));
  pollfd descriptor{context_->fd, POLLIN, 0};
  int ready = ::poll(&descriptor, 1, static_cast<int>(wait.count()));
  if (ready < 0 && errno == EINTR) return std::nullopt;
  if (ready < 0) fail("poll failed");
  if (ready == 0) return std::nullopt;
  if (redisBufferRead(context_) != REDIS_OK) fail(context_->errstr);
  if (redisGetReplyFromReader(context_, &reply) != REDIS_OK) fail(context_->errstr);
  if (reply == nullptr) return std::nullopt;
  return RedisReply(static_cast<redisReply*>(reply));
}

std::optional<RedisMemory> parse_redis_memory(std::string_view info) {
  // One "name:value" line of INFO; a name must start its line (used_memory: is not used_memory_rss:).
  auto field = [&info](std::string_view name, uint64_t& value) {
    for (size_t at = info.find(name); at != std::string_view::npos; at = info.find(name, at + 1)) {
      if (at != 0 && info[at - 1] != '\n') continue;
      const char* end_of_text = info.data() + info.size();
      auto [end, ec] = std::from_chars(info.data() + at + name.size(), end_of_text, value);
      if (ec == std::errc() && (end == end_of_text || *end == '\r' || *end == '\n')) return true;
    }
    return false;
  };
  RedisMemory memory;
  const bool used = field("used_memory:", memory.used);
  const bool max = field("maxmemory:", memory.max);
  if (!used && !max) return std::nullopt;
  return memory;
}

std::map<std::string, RedisCommandStat> parse_redis_command_stats(std::string_view info) {
  std::map<std::string, RedisCommandStat> stats;
  // "cmdstat_<name>:calls=N,usec=N,usec_per_call=X,rejected_calls=N,failed_calls=N"
  auto number_after = [](std::string_view line, std::string_view key, uint64_t& value) {
    for (size_t at = line.find(key); at != std::string_view::npos; at = line.find(key, at + 1)) {
      if (at != 0 && line[at - 1] != ':' && line[at - 1] != ',') continue;
      const char* begin = line.data() + at + key.size();
      return std::from_chars(begin, line.data() + line.size(), value).ec == std::errc();
    }
    return false;
  };
  constexpr std::string_view kPrefix = "cmdstat_";
  size_t start = 0;
  while (start < info.size()) {
    size_t end = info.find('\n', start);
    if (end == std::string_view::npos) end = info.size();
    std::string_view line = info.substr(start, end - start);
    start = end + 1;
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (line.rfind(kPrefix, 0) != 0) continue;
    const size_t colon = line.find(':');
    if (colon == std::string_view::npos || colon == kPrefix.size()) continue;
    RedisCommandStat stat;
    if (!number_after(line, "calls=", stat.calls) || !number_after(line, "usec=", stat.usec)) continue;
    stats[std::string(line.substr(kPrefix.size(), colon - kPrefix.size()))] = stat;
  }
  return stats;
}

}  // namespace gpufleet
