// gpufleet: the operator's command. `gpufleet up` runs the local fleet; `gpufleet demo` starts it, speaks a
// sentence through it and shows where the audio landed and how long each stage took.
#include <signal.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <iostream>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>

#include "cli/client_commands.hpp"
#include "cli/http_client.hpp"
#include "cli/local_stack.hpp"
#include "common/config.hpp"
#include "common/curve.hpp"
#include "gateway/api_keys.hpp"

namespace {

using namespace gpufleet;
namespace fs = std::filesystem;

std::string own_bin_dir() {
  std::error_code ec;
  auto self = fs::read_symlink("/proc/self/exe", ec);
  return ec ? std::string(".") : self.parent_path().string();
}

void usage() {
  std::cout
      << "usage: gpufleet <command>\n"
         "  up                 start the local fleet (Redis, broker, workers, gateway) until Ctrl-C\n"
         "  demo [TEXT]        start the fleet, synthesise TEXT through it, report, stop\n"
         "  keys new NAME [RATE [BURST]] [--operator]\n"
         "                     make an API key: prints the token (give it to the client) and the line for\n"
         "                     the gateway's API_KEYS_FILE (it holds only the token's SHA-256)\n"
         "  keys curve NAME [MODELS]\n"
         "                     make a CURVE key pair (broker: BROKER_CURVE_SECRET_KEY, its public key to "
         "the\n"
         "                     workers; worker: WORKER_CURVE_SECRET_KEY, and its line for the broker's\n"
         "                     BROKER_CURVE_CLIENTS_FILE, MODELS a,b or * for the models it may serve)\n"
         "environment: HOST PORT BROKER_PORT REDIS_PORT REDIS_URL STORAGE_ROOT STATE_DIR WORKERS\n"
         "             WORKER_MODELS WORKER_SLOTS DEVICE (see docs/operations.md)\n";
  cli::client_usage();
}

// Blocks SIGINT/SIGTERM and returns when one arrives or `check` reports a dead component.
int wait_for_signal(cli::LocalStack& stack) {
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  timespec poll_interval{0, 500'000'000};
  while (true) {
    int received = sigtimedwait(&signals, nullptr, &poll_interval);
    if (received > 0) return received;
    if (auto exited = stack.exited_component()) {
      std::cerr << "gpufleet: " << *exited << " exited; see " << stack.log_path(*exited) << "\n";
      return 0;
    }
  }
}

void describe(const cli::StackConfig& config) {
  std::cout << "gpufleet: starting "
            << (config.redis_url ? "(Redis " + *config.redis_url + ")"
                                 : "redis :" + std::to_string(config.redis_port))
            << ", broker :" << config.broker_port << ", " << config.workers << " worker(s) ["
            << config.worker_models << "], gateway " << config.host << ":" << config.http_port << "\n"
            << "          storage " << config.storage_root << ", logs " << config.state_dir << "/logs\n";
}

int run_up() {
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  sigprocmask(SIG_BLOCK, &signals, nullptr);
  auto config = cli::StackConfig::from_env(own_bin_dir());
  cli::LocalStack stack(config);
  describe(config);
  stack.start();
  if (!stack.wait_healthy(std::chrono::seconds(60))) {
    std::cerr << "gpufleet: the fleet did not become healthy; see the logs in " << config.state_dir
              << "/logs\n";
    stack.stop();
    return 1;
  }
  std::cout << "gpufleet: fleet up at http://" << (config.host == "0.0.0.0" ? "localhost" : config.host)
            << ":" << config.http_port << "  (Ctrl-C stops it)" << std::endl;
  int signal_number = wait_for_signal(stack);
  std::cout << "gpufleet: stopping"
            << (signal_number > 0 ? " on signal " + std::to_string(signal_number) : "") << std::endl;
  stack.stop();
  std::cout << "gpufleet: stopped" << std::endl;
  return signal_number > 0 ? 0 : 1;
}

double ms_between(const nlohmann::json& job, const char* from, const char* to) {
  if (!job.contains(from) || !job.contains(to)) return -1;
  return job[to].get<double>() - job[from].get<double>();
}

int run_demo(const std::string& text) {
  auto config = cli::StackConfig::from_env(own_bin_dir());
  if (config.host == "0.0.0.0") config.host = "127.0.0.1";
  cli::LocalStack stack(config);
  describe(config);
  const auto boot = std::chrono::steady_clock::now();
  stack.start();
  if (!stack.wait_healthy(std::chrono::seconds(60))) {
    std::cerr << "gpufleet: the fleet did not become healthy; see the logs in " << config.state_dir
              << "/logs\n";
    return 1;
  }
  auto seconds_since = [](auto start) {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  };
  std::printf("gpufleet: fleet healthy after %.2f s\n", seconds_since(boot));
  auto health = nlohmann::json::parse(cli::http_request("GET", config.host, config.http_port, "/health").body,
                                      nullptr, false);
  if (health.is_object()) {
    std::printf("gpufleet: /health says %s, device %s, %d worker(s)\n", health.value("status", "?").c_str(),
                health.value("device", "?").c_str(), health["fleet"].value("workers", 0));
  }

  nlohmann::json request{{"kind", "tts"}, {"input", {{"text", text}, {"language", "en"}}}};
  const auto submitted = std::chrono::steady_clock::now();
  auto created = cli::http_request("POST", config.host, config.http_port, "/v1/jobs", request.dump());
  const double submit_ms = seconds_since(submitted) * 1000;
  if (created.status != 202) {
    std::cerr << "gpufleet: submit failed (" << created.status << "): " << created.body << created.error
              << "\n";
    return 1;
  }
  const std::string id = nlohmann::json::parse(created.body)["id"];
  auto waited = cli::http_request("GET", config.host, config.http_port, "/v1/jobs/" + id + "?wait=60", "", "",
                                  std::chrono::seconds(70));
  const double client_ms = seconds_since(submitted) * 1000;
  auto job = nlohmann::json::parse(waited.body, nullptr, false);
  if (waited.status != 200 || !job.is_object() || job.value("state", "") != "succeeded") {
    std::cerr << "gpufleet: job " << id << " did not succeed: " << waited.body << "\n";
    return 1;
  }
  const auto& result = job["result"];
  std::printf("gpufleet: \"%s\"\n", text.c_str());
  std::printf("  job       %s on %s (model %s)\n", id.c_str(), job.value("worker", "?").c_str(),
              job.value("model", "?").c_str());
  std::printf("  audio     %s\n", result.value("audio_path", "").c_str());
  std::printf("            %.2f s of speech, %d Hz, %d bytes\n", result.value("duration_s", 0.0),
              result.value("sample_rate", 0), result.value("bytes", 0));
  std::printf("  stages    HTTP submit (recorded in Redis, sent to broker)  %8.2f ms\n", submit_ms);
  std::printf("            queued until dispatch                           %8.0f ms\n",
              ms_between(job, "created_at_ms", "started_at_ms"));
  std::printf("            model synthesis (on the worker)                 %8.2f ms\n",
              result.value("generation_time_ms", 0.0));
  std::printf("            dispatch to completion recorded                 %8.0f ms\n",
              ms_between(job, "started_at_ms", "finished_at_ms"));
  std::printf("            submit to completion seen by the client         %8.2f ms\n", client_ms);
  std::printf("  fetch it  curl -o speech.wav http://%s:%u/v1/jobs/%s/result\n", config.host.c_str(),
              config.http_port, id.c_str());
  stack.stop();
  std::cout << "gpufleet: fleet stopped (run `build/bin/gpufleet up` to keep one running)\n";
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  const std::string command = argc > 1 ? argv[1] : "";
  try {
    if (auto status = cli::run_client_command(std::vector<std::string>(argv + 1, argv + argc)))
      return *status;
    if (command == "up") return run_up();
    if (command == "keys" && argc >= 4 && std::string(argv[2]) == "new") {
      std::vector<std::string> numbers;
      bool is_operator = false;
      for (int i = 4; i < argc; ++i) {
        if (std::string(argv[i]) == "--operator") {
          is_operator = true;
        } else {
          numbers.emplace_back(argv[i]);
        }
      }
      const double rate = numbers.size() > 0 ? std::stod(numbers[0]) : 0;
      const double burst = numbers.size() > 1 ? std::stod(numbers[1]) : 0;
      const auto [token, line] = gpufleet::gateway::ApiKeys::generate(argv[3], rate, burst, is_operator);
      std::cout << "token:              " << token << "\n"
                << "API_KEYS_FILE line: " << line << "\n";
      return 0;
    }
    if (command == "keys" && argc >= 4 && std::string(argv[2]) == "curve") {
      // A CURVE key pair for a broker or a worker; for a worker, also its line for BROKER_CURVE_CLIENTS_FILE.
      const auto pair = gpufleet::generate_curve_keypair();
      const std::string models = argc > 4 ? argv[4] : "*";
      std::cout << "public key: " << pair.public_key << "\n"
                << "secret key: " << pair.secret_key << "\n"
                << "BROKER_CURVE_CLIENTS_FILE line (workers): " << argv[3] << " " << pair.public_key << " "
                << models << "\n";
      return 0;
    }
    if (command == "demo") {
      return run_demo(argc > 2 ? argv[2] : "Hello! This sentence was spoken by the GPU fleet, end to end.");
    }
    usage();
    return command.empty() || command == "help" || command == "--help" ? 0 : 2;
  } catch (const std::exception& error) {
    std::cerr << "gpufleet: " << error.what() << "\n";
    return 1;
  }
}
