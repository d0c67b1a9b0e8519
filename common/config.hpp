#pragma once
// Reading settings from the environment. Every component takes its ports and paths from here so that two
// stacks can run side by side; each variable and its default is listed in docs/operations.md.

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace gpufleet {

std::optional<std::string> env_value(const char* name);
std::string env_string(const char* name, const std::string& fallback);
// Throws ConfigError when the value is set but is not an integer within [min, max].
int64_t env_int(const char* name, int64_t fallback, int64_t min, int64_t max);
bool env_bool(const char* name, bool fallback);

// Where a Redis server is. REDIS_URL (redis://[:password@]host[:port][/db]) wins over REDIS_HOST/REDIS_PORT.
struct RedisEndpoint {
  std::string host = "127.0.0.1";
  int port = 6379;
  std::string password;
  int db = 0;
  std::string prefix = "gpufleet";  // every key and channel starts with "<prefix>:"

  std::string describe() const;
};

// Throws ConfigError on a malformed URL.
RedisEndpoint parse_redis_url(const std::string& url);
RedisEndpoint redis_endpoint_from_env();

// The broker's ZeroMQ endpoint as seen by gateways and workers (BROKER_URL, else
// tcp://127.0.0.1:BROKER_PORT).
std::string broker_connect_endpoint_from_env();
constexpr int kDefaultBrokerPort = 5555;

// STORAGE_ROOT, default "<temp dir>/gpu-service-output" like the original service.
std::string storage_root_from_env();

// How long a finished job's record stays in Redis (JOB_TTL seconds; JOB_RETENTION_S, its older name, still
// read). Hours by default: every finished job costs Redis memory until then.
inline constexpr int64_t kDefaultJobTtlS = 6 * 3600;
int64_t job_ttl_from_env();

// "a, b,,c" -> {"a", "b", "c"}: a comma-separated setting, spaces around items trimmed, empty items skipped.
std::vector<std::string> split_list(const std::string& text);

}  // namespace gpufleet
