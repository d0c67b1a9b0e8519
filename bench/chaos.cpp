// gpufleet-chaos: the proof of docs/reliability.md. Starts its own fleet, submits jobs through the gateway
// while at random moments it kills the broker (SIGKILL) and starts a new one, kills workers (SIGKILL) and
// restarts them, restarts Redis (SIGTERM, AOF on) and kills and restarts the gateway. Then it waits for every
// accepted job to end and prints
//
//   submitted N, completed C, failed F, lost L, duplicated D
//
// with the reason of every failure. Lost: accepted (202) but never final. Duplicated: a final state recorded
// twice (from the job store's completions stream) or two result files of one job that a client could read
// (a job's result file must be the one its record names). Exit status 1 when anything was lost or duplicated.
//
//   gpufleet-chaos [--jobs N] [--seconds S] [--workers W] [--slots K] [--submitters T] [--seed X]
//                  [--espeak-share P] [--hang-share P] [--appendfsync everysec|always] [--no-redis] [--keep]
//
// A share of the jobs (--hang-share, default 0.2 %) hangs in its model call past the lease: those must end
// `failed` with `lease_expired` after MAX_ATTEMPTS (4 here), their late results refused.
#include <signal.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <random>
#include <set>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "cli/http_client.hpp"
#include "cli/local_stack.hpp"
#include "cli/process.hpp"
#include "common/json_text.hpp"
#include "common/usage.hpp"
#include "store/redis_client.hpp"

namespace {

using namespace gpufleet;
namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

struct Options {
  int jobs = 2000;
  double seconds = 60;
  int workers = 3;
  int slots = 2;
  int submitters = 4;
  unsigned seed = 1;
  double espeak_share = 0.2;
  double hang_share = 0.002;  // noop jobs whose model call hangs past the lease: they must end lease_expired
  std::string appendfsync = "everysec";
  bool redis_restarts = true;
  bool keep = false;
};

constexpr std::string_view kUsage =
    "usage: gpufleet-chaos [--jobs N] [--seconds S] [--workers W] [--slots K] [--submitters T] [--seed X]\n"
    "                      [--espeak-share P] [--hang-share P] [--appendfsync everysec|always] [--no-redis]\n"
    "                      [--keep]\n"
    "  Starts its own fleet and submits jobs while it kills and restarts the broker, workers, Redis and the\n"
    "  gateway at random; then prints submitted, completed, failed, lost and duplicated jobs. Exit status 1\n"
    "  when anything was lost or duplicated.\n";

Options parse(int argc, char** argv) {
  Options options;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    auto next = [&]() -> std::string {
      if (i + 1 >= argc) throw std::invalid_argument(arg + " needs a value");
      return argv[++i];
    };
    if (arg == "--jobs")
      options.jobs = std::stoi(next());
    else if (arg == "--seconds")
      options.seconds = std::stod(next());
    else if (arg == "--workers")
      options.workers = std::stoi(next());
    else if (arg == "--slots")
      options.slots = std::stoi(next());
    else if (arg == "--submitters")
      options.submitters = std::stoi(next());
    else if (arg == "--seed")
      options.seed = static_cast<unsigned>(std::stoul(next()));
    else if (arg == "--espeak-share")
      options.espeak_share = std::stod(next());
    else if (arg == "--hang-share")
      options.hang_share = std::stod(next());
    else if (arg == "--appendfsync")
      options.appendfsync = next();
    else if (arg == "--no-redis")
      options.redis_restarts = false;
    else if (arg == "--keep")
      options.keep = true;
    else
      throw std::invalid_argument("unknown option " + arg);
  }
  if (options.jobs < 1 || options.workers < 1 || options.slots < 1 || options.submitters < 1) {
    throw std::invalid_argument("--jobs, --workers, --slots and --submitters must be at least 1");
  }
  return options;
}

// Submits jobs with an Idempotency-Key each, retrying through every outage: a retry after a lost answer
// finds the job the first attempt created instead of creating a second one.
class Submitter {
 public:
  Submitter(uint16_t port, const Options& options) : port_(port), options_(options) {}

  void run(int first, int count, std::mt19937& random) {
    std::uniform_real_distribution<double> share(0, 1);
    for (int n = first; n < first + count; ++n) {
      nlohmann::json body;
      const double draw = share(random);
      if (draw < options_.hang_share) {
        body = {{"model", "noop"}, {"input", {{"text", "hang"}, {"hang_ms", 8000}}}};
      } else if (draw < options_.hang_share + options_.espeak_share) {
        body = {{"model", "espeak"}, {"input", {{"text", "Chaos job number " + std::to_string(n) + "."}}}};
      } else {
        body = {{"model", "noop"}, {"input", {{"text", "x"}, {"sleep_ms", static_cast<int>(random() % 40)}}}};
      }
      const std::string key = "chaos-" + std::to_string(options_.seed) + "-" + std::to_string(n);
      for (int attempt = 0;; ++attempt) {
        auto response =
            cli::http_request("POST", "127.0.0.1", port_, "/v1/jobs", dump_json(body), "application/json",
                              std::chrono::milliseconds(5000), {{"Idempotency-Key", key}});
        if (response.status == 202) {
          auto json = parse_json_or_discarded(response.body);
          std::lock_guard lock(mutex_);
          accepted_.insert(json.value("id", ""));
          if (body["input"].contains("hang_ms")) hanging_.insert(json.value("id", ""));
          if (attempt > 0) ++retried_;
          break;
        }
        // 503 (Redis away), 429, no answer (gateway restarting): wait and try again with the same key.
        {
          std::lock_guard lock(mutex_);
          ++refusals_[response.status == 0 ? std::string("no answer") : std::to_string(response.status)];
        }
        if (attempt > 600)
          throw std::runtime_error("a submission was refused for a minute: " + response.body);
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
      }
    }
  }

  std::set<std::string> accepted() {
    std::lock_guard lock(mutex_);
    return accepted_;
  }
  std::set<std::string> hanging() {
    std::lock_guard lock(mutex_);
    return hanging_;
  }
  std::map<std::string, int> refusals() {
    std::lock_guard lock(mutex_);
    return refusals_;
  }
  int retried() {
    std::lock_guard lock(mutex_);
    return retried_;
  }

 private:
  uint16_t port_;
  const Options& options_;
  std::mutex mutex_;
  std::set<std::string> accepted_;
  std::set<std::string> hanging_;  // jobs whose model call hangs past the lease: expected to fail
  std::map<std::string, int> refusals_;
  int retried_ = 0;
};

struct Verdict {
  std::map<std::string, std::string> state;  // by job id
  std::map<std::string, std::string> error;  // "code: message" for failures
  std::map<std::string, std::string> audio_path;
};

Verdict read_records(RedisClient& redis, const RedisKeys& keys, const std::set<std::string>& ids) {
  Verdict verdict;
  std::vector<std::string> list(ids.begin(), ids.end());
  for (size_t start = 0; start < list.size(); start += 500) {
    std::vector<RedisArgs> commands;
    for (size_t i = start; i < std::min(list.size(), start + 500); ++i) {
      commands.push_back({"HMGET", keys.job(list[i]), "state", "error_code", "error_message", "result"});
    }
    auto replies = redis.pipeline(commands);
    for (size_t i = 0; i < replies.size(); ++i) {
      const auto values = replies[i].strings();
      const std::string& id = list[start + i];
      verdict.state[id] = values.size() == 4 ? values[0] : "";
      if (values.size() == 4 && !values[1].empty()) verdict.error[id] = values[1] + ": " + values[2];
      if (values.size() == 4 && !values[3].empty()) {
        auto result = parse_json_or_discarded(values[3]);
        if (result.is_object() && result["audio_path"].is_string())
          verdict.audio_path[id] = result["audio_path"];
      }
    }
  }
  return verdict;
}

bool is_final_state(const std::string& state) {
  return state == "succeeded" || state == "failed" || state == "cancelled" || state == "expired";
}

int run(const Options& options) {
  const fs::path dir = fs::temp_directory_path() / ("gpufleet-chaos-" + std::to_string(::getpid()));
  auto config = cli::StackConfig::private_on_free_ports(
      fs::read_symlink("/proc/self/exe").parent_path().string(), dir.string());
  config.workers = options.workers;
  config.worker_models = "espeak,noop";
  config.worker_slots = options.slots;
  config.redis_appendfsync = options.appendfsync;
  config.env = {{"NOOP_DRILLS", "1"},         {"HEARTBEAT_MS", "200"}, {"HEARTBEAT_LIVENESS", "3"},
                {"LEASE_MS", "2000"},         {"MAX_ATTEMPTS", "4"},   {"LOG_LEVEL", "info"},
                {"MAX_QUEUED_PER_MODEL", "0"}};
  cli::LocalStack stack(config);
  stack.start();
  if (!stack.wait_healthy(std::chrono::seconds(30)))
    throw std::runtime_error("the fleet did not become healthy");
  std::printf("fleet up in %s: %d workers x %d slots, redis appendfsync %s; %d jobs over %.0f s of chaos\n",
              dir.c_str(), options.workers, options.slots, options.appendfsync.c_str(), options.jobs,
              options.seconds);

  Submitter submitter(config.http_port, options);
  std::vector<std::thread> submitters;
  const auto started = Clock::now();
  const int per = options.jobs / options.submitters;
  for (int t = 0; t < options.submitters; ++t) {
    const int count = t + 1 == options.submitters ? options.jobs - per * t : per;
    submitters.emplace_back([&, t, count] {
      std::mt19937 random(options.seed * 1000 + static_cast<unsigned>(t));
      // Spread the submissions over the chaos period.
      for (int done = 0; done < count; done += 10) {
        submitter.run(per * t + done, std::min(10, count - done), random);
        std::this_thread::sleep_for(std::chrono::duration<double>(options.seconds / (count / 10.0 + 1)));
      }
    });
  }

  std::map<std::string, int> actions;
  std::mt19937 random(options.seed);
  while (Clock::now() - started < std::chrono::duration<double>(options.seconds)) {
    std::this_thread::sleep_for(std::chrono::milliseconds(500 + random() % 2500));
    const int choice = static_cast<int>(random() % (options.redis_restarts ? 4 : 3));
    if (choice == 0) {
      stack.restart_broker(SIGKILL);
      ++actions["broker kill -9 + restart"];
    } else if (choice == 1) {
      const size_t index = random() % stack.worker_count();
      stack.restart_worker(index, SIGKILL);
      ++actions["worker kill -9 + restart"];
    } else if (choice == 2) {
      stack.restart_gateway(SIGKILL);
      ++actions["gateway kill -9 + restart"];
    } else {
      stack.restart_redis(std::chrono::milliseconds(random() % 1000));
      ++actions["redis restart (SIGTERM)"];
    }
    if (auto exited = stack.exited_component()) throw std::runtime_error(*exited + " exited on its own");
  }
  for (auto& thread : submitters) thread.join();
  const double submit_s = std::chrono::duration<double>(Clock::now() - started).count();
  const auto accepted = submitter.accepted();

  RedisEndpoint endpoint;
  endpoint.host = "127.0.0.1";
  endpoint.port = config.redis_port;
  endpoint.prefix = config.redis_prefix;
  RedisClient redis(endpoint);
  RedisKeys keys(config.redis_prefix);
  Verdict verdict;
  const auto wait_deadline = Clock::now() + std::chrono::seconds(180);
  while (true) {
    verdict = read_records(redis, keys, accepted);
    const auto open = std::count_if(verdict.state.begin(), verdict.state.end(),
                                    [](const auto& entry) { return !is_final_state(entry.second); });
    if (open == 0 || Clock::now() > wait_deadline) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
  }
  const double total_s = std::chrono::duration<double>(Clock::now() - started).count();

  // Duplicates: more than one recorded final state per job.
  std::map<std::string, int> finals;
  std::string from = "-";
  while (true) {
    auto reply = redis.command({"XRANGE", keys.completions(), from, "+", "COUNT", "10000"});
    auto entries = reply.stream_entries();
    if (entries.empty()) break;
    for (const auto& entry : entries) {
      for (const auto& [field, value] : entry.fields) {
        if (field == "id") ++finals[value];
      }
    }
    from = "(" + entries.back().id;
  }
  // Result files: the one the record names must exist; any other file of the job is an orphan of an attempt
  // that did not count (a worker killed before it heard its result was refused), never readable through the
  // API.
  std::map<std::string, int> files_per_job;
  size_t orphan_files = 0;
  const fs::path tts = fs::path(config.storage_root) / "tts";
  if (fs::exists(tts)) {
    for (const auto& file : fs::directory_iterator(tts)) {
      const std::string name = file.path().filename().string();
      if (name.size() > 32 && name[32] == '-') ++files_per_job[name.substr(0, 32)];
    }
  }
  size_t succeeded = 0, failed = 0, other = 0, lost = 0, duplicated = 0, missing_files = 0;
  std::map<std::string, int> failure_reasons;
  std::vector<std::string> lost_ids;
  const auto hanging = submitter.hanging();
  size_t hanging_failed = 0;
  for (const auto& id : accepted) {
    const std::string& state = verdict.state[id];
    const bool hangs = hanging.count(id) != 0;
    if (state == "succeeded")
      ++succeeded;
    else if (state == "failed")
      ++failed, hanging_failed += hangs,
          ++failure_reasons[(hangs ? "(hanging job) " : "") + verdict.error[id]];
    else if (is_final_state(state))
      ++other, ++failure_reasons[state + " " + verdict.error[id]];
    else
      ++lost, lost_ids.push_back(id + " (" + (state.empty() ? "no record" : state) + ")");
    if (finals[id] > 1) ++duplicated;
    if (auto path = verdict.audio_path.find(id); path != verdict.audio_path.end()) {
      if (!fs::exists(path->second)) ++missing_files;
      if (files_per_job[id] > 1) orphan_files += static_cast<size_t>(files_per_job[id] - 1);
    }
  }

  std::printf("\nchaos actions over %.1f s:\n", submit_s);
  for (const auto& [action, count] : actions) std::printf("  %-28s %4d\n", action.c_str(), count);
  std::printf("submission refusals retried (same Idempotency-Key):\n");
  for (const auto& [status, count] : submitter.refusals())
    std::printf("  %-28s %4d\n", status.c_str(), count);
  std::printf("  %-28s %4d\n", "jobs accepted after a retry", submitter.retried());
  std::printf("\nsubmitted %zu, completed %zu, failed %zu, other final %zu, lost %zu, duplicated %zu\n",
              accepted.size(), succeeded, failed, other, lost, duplicated);
  std::printf(
      "hanging jobs (model call stuck past the lease): %zu, of which failed %zu; other jobs failed: %zu\n",
      hanging.size(), hanging_failed, failed - hanging_failed);
  std::printf("result files: %zu named by their record missing, %zu orphan files of refused attempts\n",
              missing_files, orphan_files);
  std::printf("all final %.1f s after the start\n", total_s);
  // What the broker saw, from its log (appended to by every broker the run started).
  std::map<std::string, int> seen;
  std::ifstream log(stack.log_path("broker"));
  for (std::string line; std::getline(log, line);) {
    for (const char* pattern :
         {"recovered from redis", "lease on worker", "refused a result", "back to the queue"}) {
      if (line.find(pattern) != std::string::npos) ++seen[pattern];
    }
  }
  std::printf(
      "broker log: %d recoveries after a restart, %d worker losses, %d lease expiries, %d late results "
      "refused\n",
      std::max(0, seen["recovered from redis"] - 1), seen["back to the queue"], seen["lease on worker"],
      seen["refused a result"]);
  for (const auto& [reason, count] : failure_reasons)
    std::printf("  failure x%d: %s\n", count, reason.c_str());
  for (size_t i = 0; i < std::min<size_t>(lost_ids.size(), 20); ++i)
    std::printf("  lost: %s\n", lost_ids[i].c_str());

  stack.stop();
  if (!options.keep) {
    std::error_code ignored;
    fs::remove_all(dir, ignored);
  } else {
    std::printf("logs and data kept in %s\n", dir.c_str());
  }
  return lost == 0 && duplicated == 0 && missing_files == 0 &&
                 accepted.size() == static_cast<size_t>(options.jobs)
             ? 0
             : 1;
}

}  // namespace

int main(int argc, char** argv) {
  if (asks_for_help(argc, argv)) return print_usage(kUsage);
  Options options;
  try {
    options = parse(argc, argv);
  } catch (const std::exception& error) {  // an option it cannot use, or a number std::stoi cannot read
    return usage_error("gpufleet-chaos", error.what(), kUsage);
  }
  try {
    return run(options);
  } catch (const std::exception& error) {
    std::fprintf(stderr, "gpufleet-chaos: %s\n", error.what());
    return 1;
  }
}
