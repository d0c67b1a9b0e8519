#pragma once
#include <string>
#include <string_view>

namespace gpufleet {

// Sets up spdlog for a component: one line per event on stderr. LOG_LEVEL (trace, debug, info, warn, error)
// picks the level; LOG_FORMAT=json writes each line as a JSON object for log collectors (see json_log_line).
void init_logging(const std::string& component);

// One log event as a JSON line: {"ts","level","component","msg"} plus "job_id" and "worker_id" where the
// message names them ("job <32 hex>", "worker <id>"), so a collector can follow one job across components.
// `process_worker`: the worker id of the process writing the line (a worker's own), used where the message
// names none.
std::string json_log_line(std::string_view timestamp, std::string_view level, std::string_view component,
                          std::string_view message, std::string_view process_worker = {});

// A worker process names itself once its id is known, so that its JSON lines carry it (call before threads).
void set_log_worker_id(std::string worker_id);

enum class LogLevel { kInfo, kWarn };

// One already-formatted line through spdlog's default logger, for code that must not include spdlog: the
// translation units that see a PyTorch wheel's LibTorch headers, which carry their own fmt (v12) ahead of
// Debian's on the include path, while spdlog here is built on Debian's fmt 9 (scripts/check-layers.sh keeps
// spdlog out of every file that includes LibTorch).
void log_line(LogLevel level, std::string_view message);

}  // namespace gpufleet
