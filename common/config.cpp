#include "common/config.hpp"

#include <algorithm>
#include <charconv>
#include <cstdlib>
#include <filesystem>

#include "common/error.hpp"

namespace gpufleet {

std::optional<std::string> env_value(const char* name) {
  // Nothing in gpufleet calls setenv, which is what makes getenv unsafe across threads.
  const char* value = std::getenv(name);  // NOLINT(concurrency-mt-unsafe)
  if (value == nullptr || *value == '\0') return std::nullopt;
  return std::string(value);
}

std::string env_string(const char* name, const std::string& fallback) {
  return env_value(name).value_or(fallback);
}

int64_t env_int(const char* name, int64_t fallback, int64_t min, int64_t max) {
  auto text = env_value(name);
  if (!text) return fallback;
  int64_t value = 0;
  const char* end = text->data() + text->size();
  auto [ptr, ec] = std::from_chars(text->data(), end, value);
  if (ec != std::errc() || ptr != end) {
    throw ConfigError(std::string(name) + "='" + *text + "' is not an integer");
  }
  if (value < min || value > max) {
    throw ConfigError(std::string(name) + "=" + *text + " is outside [" + std::to_string(min) + ", " +
                      std::to_string(max) + "]");
  }
  return value;
}

bool env_bool(const char* name, bool fallback) {
  auto text = env_value(name);
  if (!text) return fallback;
  if (*text == "1" || *text == "true" || *text == "yes" || *text == "on") return true;
  if (*text == "0" || *text == "false" || *text == "no" || *text == "off") return false;
  throw ConfigError(std::string(name) + "='" + *text + "' is not a boolean (use 1/0, true/false)");
}

std::string RedisEndpoint::describe() const {
  return host + ":" + std::to_string(port) + "/" + std::to_string(db) + " prefix=" + prefix;
}

namespace {

int parse_port(const std::string& text, const std::string& what) {
  int value = 0;
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || ptr != text.data() + text.size() || value < 1 || value > 65535) {
    throw ConfigError(what + ": bad port '" + text + "'");
  }
  return value;
}

}  // namespace

RedisEndpoint parse_redis_url(const std::string& url) {
  const std::string scheme = "redis://";
  if (url.rfind(scheme, 0) != 0) throw ConfigError("REDIS_URL must start with redis:// (got '" + url + "')");
  std::string rest = url.substr(scheme.size());
  RedisEndpoint endpoint;
  if (auto at = rest.rfind('@'); at != std::string::npos) {
    std::string auth = rest.substr(0, at);
    rest = rest.substr(at + 1);
    auto colon = auth.find(':');
    endpoint.password = colon == std::string::npos ? auth : auth.substr(colon + 1);
  }
  if (auto slash = rest.find('/'); slash != std::string::npos) {
    std::string db = rest.substr(slash + 1);
    rest = rest.substr(0, slash);
    if (!db.empty()) {
      auto [ptr, ec] = std::from_chars(db.data(), db.data() + db.size(), endpoint.db);
      if (ec != std::errc() || ptr != db.data() + db.size() || endpoint.db < 0) {
        throw ConfigError("REDIS_URL: bad database '" + db + "'");
      }
    }
  }
  if (auto colon = rest.rfind(':'); colon != std::string::npos) {
    endpoint.port = parse_port(rest.substr(colon + 1), "REDIS_URL");
    rest = rest.substr(0, colon);
  }
  if (rest.empty()) throw ConfigError("REDIS_URL has no host: '" + url + "'");
  endpoint.host = rest;
  return endpoint;
}

RedisEndpoint redis_endpoint_from_env() {
  RedisEndpoint endpoint;
  if (auto url = env_value("REDIS_URL")) {
    endpoint = parse_redis_url(*url);
  } else {
    endpoint.host = env_string("REDIS_HOST", endpoint.host);
    endpoint.port = static_cast<int>(env_int("REDIS_PORT", endpoint.port, 1, 65535));
  }
  endpoint.prefix = env_string("REDIS_PREFIX", endpoint.prefix);
  return endpoint;
}

std::string broker_connect_endpoint_from_env() {
  if (auto url = env_value("BROKER_URL")) return *url;
  return "tcp://127.0.0.1:" + std::to_string(env_int("BROKER_PORT", kDefaultBrokerPort, 1, 65535));
}

int64_t job_ttl_from_env() {
  const int64_t fallback = env_int("JOB_RETENTION_S", kDefaultJobTtlS, 0, 365LL * 24 * 3600);
  return env_int("JOB_TTL", fallback, 0, 365LL * 24 * 3600);
}

std::string storage_root_from_env() {
  if (auto root = env_value("STORAGE_ROOT")) return *root;
  return (std::filesystem::temp_directory_path() / "gpu-service-output").string();
}

std::vector<std::string> split_list(const std::string& text) {
  std::vector<std::string> items;
  size_t start = 0;
  while (start <= text.size()) {
    const size_t comma = std::min(text.find(',', start), text.size());
    size_t first = start, last = comma;
    while (first < last && text[first] == ' ') ++first;
    while (last > first && text[last - 1] == ' ') --last;
    if (last > first) items.push_back(text.substr(first, last - first));
    start = comma + 1;
  }
  return items;
}

}  // namespace gpufleet
