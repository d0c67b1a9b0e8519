// gpufleet: the operator's command. `gpufleet up` runs the local fleet; `gpufleet demo` starts it, speaks a
// sentence through it and shows where the audio landed and how long each stage took.
#include <pthread.h>
#include <signal.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

#include "cli/client_commands.hpp"
#include "cli/command_help.hpp"
#include "cli/http_client.hpp"
#include "cli/local_stack.hpp"
#include "common/api_keys.hpp"
#include "common/config.hpp"
#include "common/json_text.hpp"
#include "common/usage.hpp"
#include "protocol/curve.hpp"

namespace {

using namespace gpufleet;
namespace fs = std::filesystem;

std::string own_bin_dir() {
  std::error_code ec;
  auto self = fs::read_symlink("/proc/self/exe", ec);
  return ec ? std::string(".") : self.parent_path().string();
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
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
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
            << ":" << config.http_port << "  (Ctrl-C stops it)\n"
            << std::flush;
  int signal_number = wait_for_signal(stack);
  std::cout << "gpufleet: stopping"
            << (signal_number > 0 ? " on signal " + std::to_string(signal_number) : "") << '\n'
            << std::flush;
  stack.stop();
  std::cout << "gpufleet: stopped\n" << std::flush;
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
  auto health =
      parse_json_or_discarded(cli::http_request("GET", config.host, config.http_port, "/health").body);
  if (health.is_object()) {
    std::printf("gpufleet: /health says %s, device %s, %d worker(s)\n", health.value("status", "?").c_str(),
                health.value("device", "?").c_str(), health["fleet"].value("workers", 0));
  }

  nlohmann::json request{{"kind", "tts"}, {"input", {{"text", text}, {"language", "en"}}}};
  const auto submitted = std::chrono::steady_clock::now();
  auto created = cli::http_request("POST", config.host, config.http_port, "/v1/jobs", dump_json(request));
  const double submit_ms = seconds_since(submitted) * 1000;
  if (created.status != 202) {
    std::cerr << "gpufleet: submit failed (" << created.status << "): " << created.body << created.error
              << "\n";
    return 1;
  }
  const std::string id = parse_json_or_discarded(created.body)["id"];
  auto waited = cli::http_request("GET", config.host, config.http_port, "/v1/jobs/" + id + "?wait=60", "", "",
                                  std::chrono::seconds(70));
  const double client_ms = seconds_since(submitted) * 1000;
  auto job = parse_json_or_discarded(waited.body);
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

// `gpufleet keys new NAME [RATE [BURST]] [--operator]` and `gpufleet keys curve NAME [MODELS]`.
int run_keys(const std::vector<std::string>& args, std::string_view usage) {
  const std::string action = args.size() > 1 ? args[1] : "";
  if (action == "new") {
    std::vector<double> numbers;
    bool is_operator = false;
    for (size_t i = 3; i < args.size(); ++i) {
      if (args[i] == "--operator") {
        is_operator = true;
        continue;
      }
      char* end = nullptr;
      const double number = std::strtod(args[i].c_str(), &end);
      if (args[i].empty() || *end != '\0' || !(number >= 0) || numbers.size() == 2) {
        return usage_error("gpufleet keys", "unexpected argument " + args[i], usage);
      }
      numbers.push_back(number);
    }
    if (args.size() < 3 || args[2].empty() || args[2][0] == '-') {
      return usage_error("gpufleet keys", "keys new needs the key's NAME", usage);
    }
    const auto [token, line] = ApiKeys::generate(args[2], numbers.size() > 0 ? numbers[0] : 0,
                                                 numbers.size() > 1 ? numbers[1] : 0, is_operator);
    std::cout << "token:              " << token << "\n"
              << "API_KEYS_FILE line: " << line << "\n";
    return 0;
  }
  if (action == "curve") {
    if (args.size() < 3 || args.size() > 4 || args[2].empty() || args[2][0] == '-' ||
        (args.size() == 4 && args[3][0] == '-')) {
      return usage_error("gpufleet keys", "keys curve takes NAME [MODELS]", usage);
    }
    // A CURVE key pair for a broker or a worker; for a worker, also its line for BROKER_CURVE_CLIENTS_FILE.
    const auto pair = gpufleet::generate_curve_keypair();
    const std::string models = args.size() > 3 ? args[3] : "*";
    std::cout << "public key: " << pair.public_key << "\n"
              << "secret key: " << pair.secret_key << "\n"
              << "BROKER_CURVE_CLIENTS_FILE line (workers): " << args[2] << " " << pair.public_key << " "
              << models << "\n";
    return 0;
  }
  return usage_error("gpufleet keys",
                     action.empty() ? "keys needs new or curve" : "unknown keys action " + action, usage);
}

}  // namespace

int main(int argc, char** argv) {
  const std::vector<std::string> args(argv + 1, argv + argc);
  const std::string command = args.empty() ? "" : args[0];
  try {
    if (command.empty()) return usage_error("gpufleet", "no command given", cli::overall_usage());
    if (is_help_option(command)) return print_usage(cli::overall_usage());
    if (command == "help") {
      if (args.size() == 1) return print_usage(cli::overall_usage());
      if (is_help_option(args[1])) return print_usage(*cli::usage_of("help"));
      if (auto usage = cli::usage_of(args[1]); usage && args.size() == 2) return print_usage(*usage);
      return usage_error("gpufleet help", "help takes one command's name", *cli::usage_of("help"));
    }
    if (auto status = cli::run_client_command(args)) return *status;
    const auto usage = cli::usage_of(command);
    if (!usage) return usage_error("gpufleet", "unknown command " + command, cli::overall_usage());
    for (const auto& arg : args) {
      if (is_help_option(arg)) return print_usage(*usage);
    }
    if (command == "up") {
      if (args.size() > 1) return usage_error("gpufleet up", "unexpected argument " + args[1], *usage);
      return run_up();
    }
    if (command == "keys") return run_keys(args, *usage);
    // demo
    if (args.size() > 2 || (args.size() == 2 && !args[1].empty() && args[1][0] == '-')) {
      return usage_error("gpufleet demo", "unexpected argument " + args.back(), *usage);
    }
    return run_demo(args.size() > 1 ? args[1]
                                    : "Hello! This sentence was spoken by the GPU fleet, end to end.");
  } catch (const std::exception& error) {
    std::cerr << "gpufleet: " << error.what() << "\n";
    return 1;
  }
}
