#include "tests/support/fleet_fixture.hpp"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <cstdlib>
#include <fstream>
#include <iostream>

#include "cli/process.hpp"
#include "common/error.hpp"
#include "common/wav.hpp"

namespace gpufleet::testing {

namespace fs = std::filesystem;

std::string bin_dir() {
  if (const char* dir = std::getenv("GPUFLEET_BIN_DIR")) return dir;
  // Run by hand: the binaries are in build/bin beside build/tests.
  return (fs::read_symlink("/proc/self/exe").parent_path().parent_path() / "bin").string();
}

Fleet::Fleet(FleetOptions options) : storage_(dir_.path() / "storage") {
  auto config = cli::StackConfig::private_on_free_ports(bin_dir(), dir_.path().string());
  config.workers = options.workers;
  config.worker_models = options.models;
  config.worker_slots = options.slots;
  if (options.worker_metrics) config.worker_metrics_port = cli::free_port();
  config.redis_prefix = options.redis_prefix;
  config.redis_cluster = options.redis_cluster;
  // The noop model's failure drills are the tests' way to make a model hang or fail.
  config.env = {
      {"HEARTBEAT_MS", "100"}, {"HEARTBEAT_LIVENESS", "3"}, {"LOG_LEVEL", "info"}, {"NOOP_DRILLS", "1"}};
  for (const auto& [key, value] : options.env) config.env[key] = value;
  stack_ = std::make_unique<cli::LocalStack>(config);
  stack_->start();
  if (!stack_->wait_healthy(std::chrono::seconds(30))) {
    dump_logs();
    throw std::runtime_error("the test fleet did not become healthy");
  }
  // Healthy means one worker serves TTS; tests count on all of them having registered.
  if (!wait_workers(options.workers, std::chrono::seconds(30))) {
    dump_logs();
    throw std::runtime_error("not every worker of the test fleet registered");
  }
}

bool Fleet::wait_workers(int count, std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (true) {
    auto health = nlohmann::json::parse(get("/health").body, nullptr, false);
    if (health.is_object() && health["fleet"].value("workers", 0) == count) return true;
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
}

std::string write_model_registry(const std::filesystem::path& dir, const std::string& json_text) {
  const auto path = dir / "models.json";
  std::ofstream(path) << json_text;
  return path.string();
}

Fleet::~Fleet() {
  if (::testing::Test::HasFailure()) dump_logs();
  stack_->stop();
}

RedisEndpoint Fleet::redis_endpoint() const {
  RedisEndpoint endpoint;
  endpoint.host = "127.0.0.1";
  endpoint.port = stack_->config().redis_port;
  endpoint.prefix = stack_->config().redis_prefix;
  return endpoint;
}

cli::HttpResult Fleet::get(const std::string& target, std::chrono::milliseconds timeout) {
  return cli::http_request("GET", "127.0.0.1", stack_->config().http_port, target, "", "", timeout);
}

cli::HttpResult Fleet::post(const std::string& target, const std::string& body,
                            const std::string& content_type) {
  return cli::http_request("POST", "127.0.0.1", stack_->config().http_port, target, body, content_type);
}

cli::HttpResult Fleet::request(const std::string& method, const std::string& target, const std::string& body,
                               const std::map<std::string, std::string>& headers) {
  return cli::http_request(method, "127.0.0.1", stack_->config().http_port, target, body,
                           body.empty() ? "" : "application/json", std::chrono::milliseconds(30000), headers);
}

std::string Fleet::submit(const nlohmann::json& request) {
  auto response = post("/v1/jobs", request.dump());
  EXPECT_EQ(response.status, 202) << response.body << response.error;
  auto json = nlohmann::json::parse(response.body, nullptr, false);
  if (!json.is_object() || !json.contains("id")) return {};
  return json["id"];
}

nlohmann::json Fleet::wait_job(const std::string& id, double wait_s) {
  auto response = get("/v1/jobs/" + id + "?wait=" + std::to_string(wait_s),
                      std::chrono::milliseconds(static_cast<int64_t>(wait_s * 1000) + 10000));
  EXPECT_EQ(response.status, 200) << response.body << response.error;
  return nlohmann::json::parse(response.body, nullptr, false);
}

void Fleet::dump_logs() {
  for (const std::string component :
       {"redis", "broker", "gateway", "worker-1", "worker-2", "worker-3", "worker-4"}) {
    std::ifstream log(stack_->log_path(component));
    if (!log) continue;
    std::cerr << "----- " << component << " log -----\n" << log.rdbuf() << "\n";
  }
}

EventRecorder::EventRecorder(const RedisEndpoint& endpoint, const std::string& channel)
    : thread_([this, endpoint, channel] {
        try {
          RedisClient redis(endpoint);
          redis.append({"SUBSCRIBE", channel});
          redis.flush();
          ready_.store(true);
          while (!stop_.load()) {
            auto reply = redis.read_push(std::chrono::milliseconds(50));
            if (!reply || reply->size() != 3) continue;
            auto event = nlohmann::json::parse(reply->element_str(2), nullptr, false);
            std::lock_guard lock(mutex_);
            events_.push_back(std::move(event));
          }
        } catch (const std::exception& error) {
          ready_.store(true);
          ADD_FAILURE() << "event recorder: " << error.what();
        }
      }) {
  while (!ready_.load()) std::this_thread::sleep_for(std::chrono::milliseconds(5));
}

EventRecorder::~EventRecorder() {
  stop_.store(true);
  thread_.join();
}

std::vector<nlohmann::json> EventRecorder::events_for(const std::string& job_id) {
  std::lock_guard lock(mutex_);
  std::vector<nlohmann::json> result;
  for (const auto& event : events_) {
    if (event.is_object() && event.value("id", "") == job_id) result.push_back(event);
  }
  return result;
}

bool EventRecorder::wait_final(const std::string& job_id, std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    for (const auto& event : events_for(job_id)) {
      const std::string state = event.value("state", "");
      if (state == "succeeded" || state == "failed" || state == "cancelled") return true;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return false;
}

AudioCheck check_wav_bytes(const std::string& bytes) {
  AudioCheck check;
  auto info = parse_wav(bytes);
  EXPECT_TRUE(info) << "not a WAV file (" << bytes.size() << " bytes)";
  if (!info) return check;
  check.sample_rate = info->sample_rate;
  check.duration_s = info->duration_s();
  auto samples = wav_samples_pcm16(bytes, *info);
  double energy = 0;
  for (auto sample : samples) energy += static_cast<double>(sample) * sample;
  check.rms = samples.empty() ? 0 : std::sqrt(energy / samples.size());
  return check;
}

}  // namespace gpufleet::testing
