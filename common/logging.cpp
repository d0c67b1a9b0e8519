#include "common/logging.hpp"

#include <spdlog/pattern_formatter.h>
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

#include <cctype>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <memory>

#include "common/config.hpp"
#include "common/json_text.hpp"

namespace gpufleet {
namespace {

std::string& process_worker_id() {
  static std::string id;
  return id;
}

// The word after `marker` in `message` when it looks like an id (letters, digits, '-', '_', '.').
std::string_view id_after(std::string_view message, std::string_view marker) {
  size_t at = 0;
  while ((at = message.find(marker, at)) != std::string_view::npos) {
    const bool word_start = at == 0 || message[at - 1] == ' ' || message[at - 1] == '(';
    const size_t begin = at + marker.size();
    size_t end = begin;
    while (end < message.size() && (std::isalnum(static_cast<unsigned char>(message[end])) ||
                                    message[end] == '-' || message[end] == '_' || message[end] == '.')) {
      ++end;
    }
    while (end > begin && message[end - 1] == '.') --end;  // the sentence's full stop
    if (word_start && end > begin) return message.substr(begin, end - begin);
    at = begin;
  }
  return {};
}

// spdlog's formatter for LOG_FORMAT=json: the whole line from the message and its metadata.
class JsonFormatter final : public spdlog::formatter {
 public:
  void format(const spdlog::details::log_msg& msg, spdlog::memory_buf_t& dest) override {
    const auto time = std::chrono::system_clock::to_time_t(msg.time);
    const auto millis =
        std::chrono::duration_cast<std::chrono::milliseconds>(msg.time.time_since_epoch()).count() % 1000;
    std::tm utc{};
    gmtime_r(&time, &utc);
    char stamp[40];
    const size_t length = std::strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%S", &utc);
    std::snprintf(stamp + length, sizeof(stamp) - length, ".%03dZ", static_cast<int>(millis));
    const auto level = spdlog::level::to_string_view(msg.level);
    const std::string line =
        json_log_line(stamp, std::string_view(level.data(), level.size()),
                      std::string_view(msg.logger_name.data(), msg.logger_name.size()),
                      std::string_view(msg.payload.data(), msg.payload.size()), process_worker_id());
    dest.append(line.data(), line.data() + line.size());
    dest.push_back('\n');
  }
  std::unique_ptr<spdlog::formatter> clone() const override { return std::make_unique<JsonFormatter>(); }
};

}  // namespace

void set_log_worker_id(std::string worker_id) {
  process_worker_id() = std::move(worker_id);
}

std::string json_log_line(std::string_view timestamp, std::string_view level, std::string_view component,
                          std::string_view message, std::string_view process_worker) {
  std::string out = "{\"ts\":";
  append_json_string(out, timestamp);
  out += ",\"level\":";
  append_json_string(out, level);
  out += ",\"component\":";
  append_json_string(out, component);
  out += ",\"msg\":";
  append_json_string(out, message);
  const auto job = id_after(message, "job ");
  if (job.size() == 32) {
    out += ",\"job_id\":";
    append_json_string(out, job);
  }
  auto worker = id_after(message, "worker ");
  if (worker.empty()) worker = process_worker;
  if (!worker.empty()) {
    out += ",\"worker_id\":";
    append_json_string(out, worker);
  }
  out += '}';
  return out;
}

void init_logging(const std::string& component) {
  auto logger = spdlog::stderr_logger_mt(component);
  const std::string format = env_string("LOG_FORMAT", "text");
  if (format == "json") {
    logger->set_formatter(std::make_unique<JsonFormatter>());
  } else {
    logger->set_pattern("%Y-%m-%dT%H:%M:%S.%e %n %^%l%$ %v");
  }
  logger->set_level(spdlog::level::from_str(env_string("LOG_LEVEL", "info")));
  logger->flush_on(spdlog::level::info);
  spdlog::set_default_logger(logger);
}

void log_line(LogLevel level, std::string_view message) {
  switch (level) {
    case LogLevel::kInfo:
      spdlog::info("{}", message);
      return;
    case LogLevel::kWarn:
      spdlog::warn("{}", message);
      return;
  }
}

}  // namespace gpufleet
