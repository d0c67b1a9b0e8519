#include "cli/local_stack.hpp"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <csignal>
#include <cstring>
#include <filesystem>
#include <set>
#include <stdexcept>
#include <thread>

#include "cli/http_client.hpp"
#include "common/config.hpp"
#include "common/error.hpp"
#include "store/redis_client.hpp"

namespace gpufleet::cli {

namespace fs = std::filesystem;

namespace {

// The built-in models the stack's worker serves unless WORKER_MODELS names others: all this build can run.
#ifdef GPUFLEET_HAVE_VIDEO
constexpr const char* kBuiltModels = "espeak,portrait";
#else
constexpr const char* kBuiltModels = "espeak";
#endif
bool redis_answers(uint16_t port) {
  RedisEndpoint endpoint;
  endpoint.port = port;
  try {
    RedisClient redis(endpoint, std::chrono::milliseconds(200));
    return redis.command({"PING"}).str() == "PONG";
  } catch (const RedisError&) {
    return false;
  }
}
}  // namespace

std::vector<std::string> gpu_devices(const std::string& list) {
  std::vector<std::string> devices;
  std::set<int> seen;
  size_t start = 0;
  while (start <= list.size()) {
    const size_t comma = std::min(list.find(',', start), list.size());
    const std::string item = list.substr(start, comma - start);
    int index = -1;
    auto [end, ec] = std::from_chars(item.data(), item.data() + item.size(), index);
    if (item.empty() || ec != std::errc() || end != item.data() + item.size() || index < 0 || index > 63) {
      throw ConfigError("GPUS='" + list + "': expected GPU indexes such as 0,1,3");
    }
    if (!seen.insert(index).second) throw ConfigError("GPUS='" + list + "' lists GPU " + item + " twice");
    devices.push_back("cuda:" + std::to_string(index));
    start = comma + 1;
  }
  return devices;
}

StackConfig StackConfig::from_env(const std::string& bin_dir) {
  StackConfig config;
  config.bin_dir = bin_dir;
  config.host = env_string("HOST", "0.0.0.0");
  config.http_port = static_cast<uint16_t>(env_int("PORT", 8001, 1, 65535));
  config.broker_port = static_cast<uint16_t>(env_int("BROKER_PORT", kDefaultBrokerPort, 1, 65535));
  config.redis_port = static_cast<uint16_t>(env_int("REDIS_PORT", 6379, 1, 65535));
  config.broker_metrics_port = static_cast<uint16_t>(env_int("BROKER_METRICS_PORT", 9101, 0, 65535));
  config.worker_metrics_port = static_cast<uint16_t>(env_int("WORKER_METRICS_PORT", 0, 0, 65535));
  config.redis_url = env_value("REDIS_URL");
  config.redis_prefix = env_string("REDIS_PREFIX", "gpufleet");
  config.storage_root = storage_root_from_env();
  config.state_dir = env_string(
      "STATE_DIR", (fs::temp_directory_path() / ("gpufleet-" + std::to_string(config.http_port))).string());
  config.workers = static_cast<int>(env_int("WORKERS", 1, 0, 256));
  config.worker_models = env_string("WORKER_MODELS", kBuiltModels);
  config.worker_slots = static_cast<int>(env_int("WORKER_SLOTS", 1, 1, 1024));
  config.device = env_string("DEVICE", "auto");
  if (auto gpus = env_value("GPUS"); gpus && !gpus->empty()) {
    config.worker_devices = gpu_devices(*gpus);
    config.workers = static_cast<int>(config.worker_devices.size());
  }
  config.redis_appendfsync = env_string("REDIS_APPENDFSYNC", "everysec");
  if (config.redis_appendfsync != "everysec" && config.redis_appendfsync != "always") {
    throw ConfigError("REDIS_APPENDFSYNC must be everysec or always");
  }
  config.redis_maxmemory = env_string("REDIS_MAXMEMORY", "");
  const bool size =
      !config.redis_maxmemory.empty() &&
      std::all_of(config.redis_maxmemory.begin(), config.redis_maxmemory.end(), [](char c) {
        return std::isdigit(static_cast<unsigned char>(c)) || std::strchr("kmgbKMGB", c) != nullptr;
      });
  if (!config.redis_maxmemory.empty() && !size) {
    throw ConfigError("REDIS_MAXMEMORY must be a size such as 2gb or 500mb");
  }
  return config;
}

LocalStack::LocalStack(StackConfig config) : config_(std::move(config)) {}

LocalStack::~LocalStack() {
  stop();
}

std::string LocalStack::log_path(const std::string& component) const {
  return (fs::path(config_.state_dir) / "logs" / (component + ".log")).string();
}

std::map<std::string, std::string> LocalStack::component_env() const {
  std::map<std::string, std::string> env = config_.env;
  if (config_.redis_url) {
    env["REDIS_URL"] = *config_.redis_url;
  } else {
    env["REDIS_HOST"] = "127.0.0.1";
    env["REDIS_PORT"] = std::to_string(config_.redis_port);
  }
  env["REDIS_PREFIX"] = config_.redis_prefix;
  env["BROKER_PORT"] = std::to_string(config_.broker_port);
  env["STORAGE_ROOT"] = config_.storage_root;
  return env;
}

StackConfig StackConfig::private_on_free_ports(const std::string& bin_dir, const std::string& dir) {
  StackConfig config;
  config.bin_dir = bin_dir;
  config.host = "127.0.0.1";
  config.http_port = free_port();
  config.broker_port = free_port();
  config.redis_port = free_port();
  config.broker_metrics_port = free_port();
  config.storage_root = (fs::path(dir) / "storage").string();
  config.state_dir = (fs::path(dir) / "state").string();
  config.device = "cpu";
  return config;
}

Process LocalStack::start_component(const std::string& binary, const std::string& log_name,
                                    const std::map<std::string, std::string>& extra) {
  auto env = component_env();
  for (auto& [key, value] : extra) env[key] = value;
  return Process::spawn({(fs::path(config_.bin_dir) / binary).string()}, env, log_path(log_name));
}

void LocalStack::start() {
  fs::create_directories(fs::path(config_.state_dir) / "logs");
  fs::create_directories(config_.storage_root);
  if (!config_.redis_url) {
    // Debian's redis-server package starts a system Redis on 6379: say so instead of failing obscurely.
    if (redis_answers(config_.redis_port)) {
      throw std::runtime_error("a Redis already answers on port " + std::to_string(config_.redis_port) +
                               " (Debian's redis-server service?): use it with REDIS_URL=redis://127.0.0.1:" +
                               std::to_string(config_.redis_port) + ", or choose another REDIS_PORT");
    }
    own_redis_ = true;
    start_redis();
  }
  start_broker();
  for (int i = 0; i < config_.workers; ++i) add_worker();
  gateway_ = start_gateway();
}

void LocalStack::start_redis() {
  const fs::path data = fs::path(config_.state_dir) / "redis";
  fs::create_directories(data);
  // Job records keep Redis's compact hash encoding (a listpack, about half the memory of a hash table) while
  // every field is at most 1 KiB; Redis's default of 64 bytes converts nearly every finished record.
  // noeviction: a job store must refuse writes, not drop records; the gateway stops short of maxmemory.
  std::vector<std::string> arguments{env_string("REDIS_SERVER", "redis-server"),
                                     "--port",
                                     std::to_string(config_.redis_port),
                                     "--bind",
                                     "127.0.0.1",
                                     "--dir",
                                     data.string(),
                                     "--appendonly",
                                     "yes",
                                     "--appendfsync",
                                     config_.redis_appendfsync,
                                     "--save",
                                     "",
                                     "--daemonize",
                                     "no",
                                     "--hash-max-listpack-value",
                                     "1024",
                                     "--maxmemory-policy",
                                     "noeviction"};
  if (!config_.redis_maxmemory.empty()) {
    arguments.push_back("--maxmemory");
    arguments.push_back(config_.redis_maxmemory);
  }
  if (config_.redis_cluster) {
    arguments.insert(arguments.end(), {"--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf"});
  }
  redis_ = Process::spawn(arguments, {}, log_path("redis"));
  // Redis must answer before the others start, or their first writes fail needlessly.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (true) {
    if (!redis_.running()) throw std::runtime_error("redis-server exited; see " + log_path("redis"));
    if (redis_answers(config_.redis_port)) break;
    if (std::chrono::steady_clock::now() > deadline) throw std::runtime_error("redis-server did not answer");
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  if (config_.redis_cluster) take_every_slot(deadline);
}

void LocalStack::take_every_slot(std::chrono::steady_clock::time_point deadline) {
  RedisEndpoint endpoint;
  endpoint.port = config_.redis_port;
  RedisClient redis(endpoint);
  // A restart finds its slots in nodes.conf; a first start has none.
  if (redis.command({"CLUSTER", "INFO"}).str().find("cluster_slots_assigned:16384") == std::string::npos) {
    auto added = redis.command({"CLUSTER", "ADDSLOTSRANGE", "0", "16383"});
    if (added.is_error()) throw std::runtime_error("CLUSTER ADDSLOTSRANGE: " + added.str());
  }
  while (redis.command({"CLUSTER", "INFO"}).str().find("cluster_state:ok") == std::string::npos) {
    if (std::chrono::steady_clock::now() > deadline)
      throw std::runtime_error("the Redis Cluster did not come up");
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
}

bool LocalStack::restart_redis(std::chrono::milliseconds down_for) {
  if (!own_redis_) return false;
  redis_.stop(std::chrono::milliseconds(10000));
  std::this_thread::sleep_for(down_for);
  start_redis();
  return true;
}

void LocalStack::start_broker() {
  broker_ = start_component(
      "gpufleet-broker", "broker",
      {{"BROKER_HOST", "127.0.0.1"}, {"BROKER_METRICS_PORT", std::to_string(config_.broker_metrics_port)}});
}

void LocalStack::stop_broker(int signal) {
  broker_.signal(signal);
  broker_.wait(std::chrono::seconds(10));
}

void LocalStack::restart_broker(int signal) {
  stop_broker(signal);
  start_broker();
}

Process LocalStack::start_gateway() {
  return start_component("gpufleet-gateway", "gateway",
                         {{"HOST", config_.host}, {"PORT", std::to_string(config_.http_port)}});
}

void LocalStack::restart_gateway(int signal) {
  stop_gateway(signal);
  resume_gateway();
}

void LocalStack::stop_gateway(int signal) {
  gateway_.signal(signal);
  gateway_.wait(std::chrono::seconds(10));
}

void LocalStack::resume_gateway() {
  gateway_ = start_gateway();
}

Process LocalStack::start_worker(size_t index) {
  const std::string name = "worker-" + std::to_string(index + 1);
  return start_component(
      "gpufleet-worker", name,
      {{"WORKER_MODELS", config_.worker_models},
       {"WORKER_SLOTS", std::to_string(config_.worker_slots)},
       {"DEVICE", config_.worker_devices.empty()
                      ? config_.device
                      : config_.worker_devices[index % config_.worker_devices.size()]},
       {"WORKER_ID", name + "-" + std::to_string(config_.http_port)},
       {"WORKER_METRICS_PORT", config_.worker_metrics_port == 0
                                   ? std::string("0")
                                   : std::to_string(config_.worker_metrics_port + index)}});
}

void LocalStack::add_worker() {
  workers_.push_back(start_worker(workers_.size()));
}

void LocalStack::restart_worker(size_t index, int signal) {
  workers_.at(index).signal(signal);
  workers_.at(index).wait(std::chrono::seconds(40));
  workers_.at(index) = start_worker(index);
}

bool LocalStack::wait_healthy(std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  const std::string host = config_.host == "0.0.0.0" ? "127.0.0.1" : config_.host;
  while (std::chrono::steady_clock::now() < deadline) {
    auto response =
        http_request("GET", host, config_.http_port, "/health", "", "", std::chrono::milliseconds(1000));
    if (response.status == 200) return true;
    if (exited_component()) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  return false;
}

std::optional<std::string> LocalStack::exited_component() {
  if (own_redis_ && redis_.pid() > 0 && !redis_.running()) return "redis";
  if (broker_.pid() > 0 && !broker_.running()) return "broker";
  if (gateway_.pid() > 0 && !gateway_.running()) return "gateway";
  for (size_t i = 0; i < workers_.size(); ++i) {
    if (workers_[i].pid() > 0 && !workers_[i].running()) return "worker-" + std::to_string(i + 1);
  }
  return std::nullopt;
}

std::vector<std::pair<std::string, pid_t>> LocalStack::components() const {
  std::vector<std::pair<std::string, pid_t>> parts;
  if (own_redis_ && redis_.pid() > 0) parts.emplace_back("redis", redis_.pid());
  if (broker_.pid() > 0) parts.emplace_back("broker", broker_.pid());
  if (gateway_.pid() > 0) parts.emplace_back("gateway", gateway_.pid());
  for (size_t i = 0; i < workers_.size(); ++i) {
    if (workers_[i].pid() > 0) parts.emplace_back("worker-" + std::to_string(i + 1), workers_[i].pid());
  }
  return parts;
}

void LocalStack::stop() {
  gateway_.stop(std::chrono::milliseconds(5000));
  for (auto& worker : workers_) worker.signal(SIGTERM);
  for (auto& worker : workers_) worker.stop(std::chrono::milliseconds(35000));
  broker_.stop(std::chrono::milliseconds(5000));
  if (own_redis_) redis_.stop(std::chrono::milliseconds(10000));
}

}  // namespace gpufleet::cli
