// gpufleet-bench: measures the fleet itself with the `noop` model (jobs per second end to end, latency
// percentiles at a fixed offered rate) and espeak's real-time factor. Starts its own fleet on free ports.
//
//   gpufleet-bench [--jobs N] [--connections C] [--rate R] [--seconds S] [--workers W] [--slots K]
//                  [--soak SECONDS] [--bin DIR] [--maxmemory SIZE] [--bulk N]
//
// Jobs are submitted over HTTP (POST /v1/jobs, keep-alive connections) and a job counts as done when its
// completion event is seen on Redis, exactly as a runtime subscribed to the fleet would see it.
// The closed-loop run also reports each component's CPU time and context switches per job, read from
// /proc, and Redis's calls and time per job by command (INFO commandstats), so a change shows where it
// moved cost. --soak runs the closed loop for that long instead of N
// jobs and reports what Redis holds at the end (the job store's growth at full speed). --bin starts the
// fleet from other binaries (an older build, to compare back to back on the same machine); --maxmemory gives
// its Redis a maxmemory (as REDIS_MAXMEMORY does for gpufleet up), to watch the gateway refuse short of it.
// --bulk N submits the closed loop's jobs N per request through POST /v1/jobs:batch instead.
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <string_view>
#include <thread>
#include <unordered_map>
#include <variant>
#include <vector>

#include "cli/local_stack.hpp"
#include "cli/process.hpp"
#include "common/json_text.hpp"
#include "common/usage.hpp"
#include "models/espeak/espeak_tts.hpp"
#include "models/model.hpp"
#include "store/redis_client.hpp"

namespace {

using namespace gpufleet;
namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using Clock = std::chrono::steady_clock;

struct Options {
  int jobs = 20000;
  int connections = 32;
  int rate = 1000;
  double seconds = 5;
  int workers = 2;
  int slots = 8;
  double soak_s = 0;      // > 0: closed loop for this long instead of `jobs` jobs
  std::string bin_dir;    // empty: beside this binary
  std::string maxmemory;  // Redis's maxmemory ("256mb"); empty: none
  int bulk = 0;           // > 0: the closed loop sends this many jobs per POST /v1/jobs:batch
};

// CPU time and context switches of one process so far, from /proc (0 when it cannot be read).
struct ProcessCost {
  double cpu_s = 0;
  uint64_t switches = 0;
};

ProcessCost process_cost(pid_t pid) {
  ProcessCost cost;
  std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
  std::string line;
  if (std::getline(stat, line)) {
    // Fields after the command name, which is in parentheses and may hold spaces.
    std::istringstream fields(line.substr(line.rfind(')') + 2));
    std::string field;
    double ticks = 0;
    for (int index = 3; fields >> field && index <= 15; ++index) {
      if (index == 14 || index == 15) ticks += std::atof(field.c_str());  // utime, stime
    }
    cost.cpu_s = ticks / static_cast<double>(::sysconf(_SC_CLK_TCK));
  }
  std::ifstream status("/proc/" + std::to_string(pid) + "/status");
  while (std::getline(status, line)) {
    if (line.rfind("voluntary_ctxt_switches:", 0) == 0 || line.rfind("nonvoluntary_ctxt_switches:", 0) == 0)
      cost.switches += std::strtoull(line.substr(line.find(':') + 1).c_str(), nullptr, 10);
  }
  return cost;
}

// Each component's cost over one phase; workers are summed into one row, as they share the work.
class CostMeter {
 public:
  explicit CostMeter(std::vector<std::pair<std::string, pid_t>> parts) : parts_(std::move(parts)) {
    parts_.emplace_back("load generator (this process)", ::getpid());
    for (const auto& [name, pid] : parts_) start_.push_back(process_cost(pid));
  }
  void print(double jobs) const {
    std::map<std::string, ProcessCost> rows;
    double total = 0;
    for (size_t i = 0; i < parts_.size(); ++i) {
      const auto now = process_cost(parts_[i].second);
      const std::string row = parts_[i].first.rfind("worker-", 0) == 0 ? "workers" : parts_[i].first;
      rows[row].cpu_s += now.cpu_s - start_[i].cpu_s;
      rows[row].switches += now.switches - start_[i].switches;
      if (row != "load generator (this process)") total += now.cpu_s - start_[i].cpu_s;
    }
    std::printf("| %-44s | %12s |\n", "CPU us / context switches per job", "");
    for (const auto& [row, cost] : rows) {
      char value[32];
      std::snprintf(value, sizeof(value), "%.1f / %.2f", cost.cpu_s * 1e6 / jobs, cost.switches / jobs);
      std::printf("| %-44s | %12s |\n", ("  " + row).c_str(), value);
    }
    std::printf("| %-44s | %12.1f |\n", "  fleet total CPU us per job", total * 1e6 / jobs);
  }

 private:
  std::vector<std::pair<std::string, pid_t>> parts_;
  std::vector<ProcessCost> start_;
};

// Watches the job event channel and stamps when each job's final event arrived.
class CompletionWatcher {
 public:
  // keep_times: remember when each job finished (latency runs); otherwise only count (long runs).
  CompletionWatcher(RedisEndpoint endpoint, bool keep_times)
      : keep_times_(keep_times), thread_([this, endpoint] { run(endpoint); }) {
    while (!ready_.load()) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  ~CompletionWatcher() {
    stop_.store(true);
    thread_.join();
  }
  size_t completed() const { return completed_.load(); }
  std::unordered_map<std::string, Clock::time_point> take() {
    std::lock_guard lock(mutex_);
    return std::move(done_);
  }

 private:
  void run(RedisEndpoint endpoint) {
    RedisClient redis(endpoint);
    redis.append({"SUBSCRIBE", RedisKeys(endpoint.prefix).job_events()});
    redis.flush();
    ready_.store(true);
    while (!stop_.load()) {
      auto reply = redis.read_push(std::chrono::milliseconds(50));
      if (!reply || reply->size() != 3) continue;
      const auto now = Clock::now();
      const std::string message = reply->element_str(2);
      if (message.find("\"state\":\"succeeded\"") == std::string::npos &&
          message.find("\"state\":\"failed\"") == std::string::npos) {
        continue;
      }
      if (!keep_times_) {
        completed_.fetch_add(1);
        continue;
      }
      auto event = parse_json_or_discarded(message);
      if (!event.is_object()) continue;
      std::lock_guard lock(mutex_);
      done_.emplace(event.value("id", ""), now);
      completed_.fetch_add(1);
    }
  }
  std::mutex mutex_;
  std::unordered_map<std::string, Clock::time_point> done_;
  std::atomic<size_t> completed_{0};
  std::atomic<bool> stop_{false};
  std::atomic<bool> ready_{false};
  const bool keep_times_;
  std::thread thread_;
};

// One keep-alive HTTP connection that submits jobs one after another: one per POST /v1/jobs, or `bulk` per
// POST /v1/jobs:batch.
class Submitter : public std::enable_shared_from_this<Submitter> {
 public:
  // `answer`: the response body as JSON (discarded when it is not).
  using Done =
      std::function<void(Submitter&, Clock::time_point sent, const nlohmann::json& answer, int status)>;
  Submitter(asio::io_context& io, uint16_t port, Done done, int bulk = 0)
      : stream_(io), done_(std::move(done)) {
    stream_.connect(asio::ip::tcp::endpoint(asio::ip::make_address("127.0.0.1"), port));
    stream_.socket().set_option(asio::ip::tcp::no_delay(true));
    const std::string job = R"({"model":"noop","input":{"text":"benchmark"}})";
    std::string body = job;
    if (bulk > 0) {
      body = R"({"jobs":[)";
      for (int i = 0; i < bulk; ++i) body += (i == 0 ? "" : ",") + job;
      body += "]}";
    }
    request_ = std::string("POST ") + (bulk > 0 ? "/v1/jobs:batch" : "/v1/jobs") +
               " HTTP/1.1\r\nHost: bench\r\nContent-Type: application/json\r\nContent-Length: " +
               std::to_string(body.size()) + "\r\n\r\n" + body;
  }
  bool busy() const { return busy_; }
  void submit() {
    busy_ = true;
    sent_ = Clock::now();
    asio::async_write(
        stream_, asio::buffer(request_), [self = shared_from_this()](beast::error_code ec, size_t) {
          if (ec) return self->finish(nlohmann::json(), 0);
          self->response_ = {};
          http::async_read(
              self->stream_, self->buffer_, self->response_, [self](beast::error_code read_ec, size_t) {
                if (read_ec) return self->finish(nlohmann::json(), 0);
                self->finish(parse_json_or_discarded(self->response_.body()), self->response_.result_int());
              });
        });
  }

 private:
  void finish(const nlohmann::json& answer, int status) {
    busy_ = false;
    done_(*this, sent_, answer, status);
  }
  beast::tcp_stream stream_;
  beast::flat_buffer buffer_;
  http::response<http::string_body> response_;
  std::string request_;
  Done done_;
  Clock::time_point sent_;
  bool busy_ = false;
};

// Redis's used_memory (INFO memory), to see what a finished job leaves behind; 0 if it cannot be read.
uint64_t redis_used_memory(const RedisEndpoint& endpoint) {
  try {
    RedisClient client(endpoint);
    const auto memory = parse_redis_memory(client.command({"INFO", "memory"}).str());
    return memory ? memory->used : 0;
  } catch (const std::exception&) {
    return 0;
  }
}

// Redis's INFO commandstats, to see which commands a job costs Redis; empty if it cannot be read.
std::map<std::string, RedisCommandStat> redis_command_stats(const RedisEndpoint& endpoint) {
  try {
    RedisClient client(endpoint);
    return parse_redis_command_stats(client.command({"INFO", "commandstats"}).str());
  } catch (const std::exception&) {
    return {};
  }
}

// Redis's calls and time per finished job between two snapshots, the costliest commands first.
void print_redis_cost(const std::map<std::string, RedisCommandStat>& before,
                      const std::map<std::string, RedisCommandStat>& after, double jobs) {
  std::vector<std::pair<std::string, RedisCommandStat>> spent;
  RedisCommandStat total;
  for (const auto& [name, stat] : after) {
    RedisCommandStat earlier;
    if (auto it = before.find(name); it != before.end()) earlier = it->second;
    if (stat.calls <= earlier.calls) continue;
    const RedisCommandStat delta{stat.calls - earlier.calls, stat.usec - std::min(stat.usec, earlier.usec)};
    total.calls += delta.calls;
    total.usec += delta.usec;
    spent.emplace_back(name, delta);
  }
  if (spent.empty()) return;
  std::sort(spent.begin(), spent.end(),
            [](const auto& a, const auto& b) { return a.second.usec > b.second.usec; });
  std::printf("| %-44s | %12s |\n", "Redis calls / us per job (INFO commandstats)", "");
  auto row = [jobs](const std::string& name, const RedisCommandStat& stat) {
    char value[32];
    std::snprintf(value, sizeof(value), "%.2f / %.1f", static_cast<double>(stat.calls) / jobs,
                  static_cast<double>(stat.usec) / jobs);
    std::printf("|   %-42s | %12s |\n", name.c_str(), value);
  };
  for (size_t i = 0; i < spent.size() && i < 8; ++i) row(spent[i].first, spent[i].second);
  // Commands a script runs count on their own and inside its EVALSHA's time as well.
  row("all (a script's commands count twice)", total);
}

double percentile(std::vector<double> values, double p) {
  if (values.empty()) return 0;
  std::sort(values.begin(), values.end());
  return values[std::min(values.size() - 1, static_cast<size_t>(p / 100.0 * values.size()))];
}

void throughput(uint16_t port, CompletionWatcher& watcher, const Options& options, const RedisEndpoint& redis,
                CostMeter cost) {
  const uint64_t memory_before = redis_used_memory(redis);
  const auto commands_before = redis_command_stats(redis);
  asio::io_context io;
  int submitted = 0;
  int accepted = 0;
  int refused_full = 0;    // 503: the job store is near maxmemory, or Redis is away
  int refused_queued = 0;  // 429: the model's queue holds MAX_QUEUED_PER_MODEL jobs
  int errors = 0;
  std::vector<std::shared_ptr<Submitter>> submitters;
  const auto start = Clock::now();
  const auto soak_end =
      start + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(options.soak_s));
  const int per_request = std::max(1, options.bulk);
  auto more = [&] { return options.soak_s > 0 ? Clock::now() < soak_end : submitted < options.jobs; };
  auto on_done = [&](Submitter& submitter, Clock::time_point, const nlohmann::json& answer, int status) {
    if (status == 202) {
      ++accepted;
    } else if (status == 200 && options.bulk > 0 && answer.is_object()) {
      // Per job: 202, or 429 when its model's queue is full.
      for (const auto& job : answer.value("jobs", nlohmann::json::array())) {
        const int job_status = job.value("status", 0);
        if (job_status == 202)
          ++accepted;
        else if (job_status == 429)
          ++refused_queued;
        else
          ++errors;
      }
    } else if (status == 503)
      ++refused_full;
    else if (status == 429)
      ++refused_queued;
    else
      errors += per_request;
    if (more()) {
      submitted += per_request;
      submitter.submit();
    }
  };
  for (int i = 0; i < options.connections && more(); ++i) {
    submitters.push_back(std::make_shared<Submitter>(io, port, on_done, options.bulk));
    submitted += per_request;
    submitters.back()->submit();
  }
  io.run();
  const auto accepted_at = Clock::now();
  const size_t backlog_at_end = accepted - std::min<size_t>(accepted, watcher.completed());
  while (watcher.completed() < static_cast<size_t>(accepted) &&
         Clock::now() - accepted_at < std::chrono::seconds(60)) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  const double accept_s = std::chrono::duration<double>(accepted_at - start).count();
  const double total_s = std::chrono::duration<double>(Clock::now() - start).count();
  const size_t completed = watcher.completed();
  std::printf("| %-44s | %12s |\n",
              options.soak_s > 0 ? "soak: closed loop at full speed" : "throughput (closed loop)", "");
  if (options.soak_s > 0) std::printf("| %-44s | %12.0f |\n", "seconds of submitting", accept_s);
  std::printf("| %-44s | %12d |\n", "jobs submitted over HTTP", submitted);
  if (options.bulk > 0) std::printf("| %-44s | %12d |\n", "jobs per POST /v1/jobs:batch", options.bulk);
  std::printf("| %-44s | %12d |\n", "HTTP connections", options.connections);
  std::printf("| %-44s | %12d |\n", "refused 429 (model's queue full)", refused_queued);
  std::printf("| %-44s | %12d |\n", "refused 503 (job store full or away)", refused_full);
  std::printf("| %-44s | %12d |\n", "other submit errors", errors);
  std::printf("| %-44s | %12.0f |\n", "accepted (202) per second", accepted / accept_s);
  std::printf("| %-44s | %12.0f |\n", "completed end to end per second", completed / total_s);
  std::printf("| %-44s | %12zu |\n", "backlog when submitting stopped", backlog_at_end);
  if (completed > 0) {
    cost.print(static_cast<double>(completed));
    print_redis_cost(commands_before, redis_command_stats(redis), static_cast<double>(completed));
  }
  // What stays until JOB_TTL: records, events stream entries, listings. Compare runs, not absolute bytes.
  const uint64_t memory_after = redis_used_memory(redis);
  if (memory_before > 0 && memory_after > memory_before && completed > 0) {
    std::printf("| %-44s | %12.0f |\n", "Redis bytes kept per finished job",
                static_cast<double>(memory_after - memory_before) / completed);
  }
  if (options.soak_s > 0) {
    std::printf("| %-44s | %12.1f |\n", "Redis used memory at the end (MB)", memory_after / 1e6);
  }
}

void latency(uint16_t port, CompletionWatcher& watcher, const Options& options) {
  asio::io_context io;
  std::vector<std::shared_ptr<Submitter>> pool;
  std::unordered_map<std::string, Clock::time_point> sent_at;
  std::vector<double> accept_ms;
  int errors = 0;
  auto on_done = [&](Submitter&, Clock::time_point sent, const nlohmann::json& answer, int status) {
    if (status != 202 || !answer.is_object()) {
      ++errors;
      return;
    }
    sent_at.emplace(answer.value("id", ""), sent);
    accept_ms.push_back(std::chrono::duration<double, std::milli>(Clock::now() - sent).count());
  };
  for (int i = 0; i < 64; ++i) pool.push_back(std::make_shared<Submitter>(io, port, on_done));
  const int total = static_cast<int>(options.rate * options.seconds);
  const auto interval = std::chrono::nanoseconds(1'000'000'000LL / options.rate);
  asio::steady_timer timer(io);
  int issued = 0;
  int starved = 0;
  const auto start = Clock::now();
  std::function<void()> tick = [&] {
    if (issued >= total) return;
    auto idle = std::find_if(pool.begin(), pool.end(), [](const auto& s) { return !s->busy(); });
    if (idle == pool.end()) {
      ++starved;
    } else {
      (*idle)->submit();
    }
    ++issued;
    timer.expires_at(start + interval * issued);
    timer.async_wait([&](beast::error_code) { tick(); });
  };
  tick();
  io.run();
  const auto deadline = Clock::now() + std::chrono::seconds(30);
  while (watcher.completed() < sent_at.size() && Clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  auto done = watcher.take();
  std::vector<double> end_to_end;
  for (const auto& [id, sent] : sent_at) {
    auto it = done.find(id);
    if (it != done.end())
      end_to_end.push_back(std::chrono::duration<double, std::milli>(it->second - sent).count());
  }
  std::printf("| %-44s | %12s |\n", "latency at a fixed offered rate (open loop)", "");
  std::printf("| %-44s | %12d |\n", "offered jobs per second", options.rate);
  std::printf("| %-44s | %12zu |\n", "jobs measured", end_to_end.size());
  std::printf("| %-44s | %12d |\n", "skipped (no idle connection) / errors", starved + errors);
  std::printf("| %-44s | %12.3f |\n", "202 answer p50 (ms)", percentile(accept_ms, 50));
  std::printf("| %-44s | %12.3f |\n", "submit -> completion seen p50 (ms)", percentile(end_to_end, 50));
  std::printf("| %-44s | %12.3f |\n", "submit -> completion seen p90 (ms)", percentile(end_to_end, 90));
  std::printf("| %-44s | %12.3f |\n", "submit -> completion seen p99 (ms)", percentile(end_to_end, 99));
  std::printf("| %-44s | %12.3f |\n", "submit -> completion seen max (ms)", percentile(end_to_end, 100));
}

void espeak_rtf() {
  auto model = std::make_unique<models::EspeakTts>();
  const std::vector<std::string> sentences{
      "The quick brown fox jumps over the lazy dog.",
      "A message queue fleet runs speech and video jobs on graphics processors.",
      "Every accepted job reaches a final state, and its result is written once."};
  double audio_s = 0;
  const auto start = Clock::now();
  for (int round = 0; round < 20; ++round) {
    for (const auto& text : sentences) {
      models::JobContext context;
      auto output =
          model->run(models::ModelInput{"bench", {{"text", text}, {"language", "en"}}, {}}, context);
      audio_s += output.audio->duration_s();
    }
  }
  const double wall_s = std::chrono::duration<double>(Clock::now() - start).count();
  std::printf("| %-44s | %12s |\n", "espeak-ng (in-process, one thread)", "");
  std::printf("| %-44s | %12.1f |\n", "audio seconds produced", audio_s);
  std::printf("| %-44s | %12.4f |\n", "real-time factor (wall / audio)", wall_s / audio_s);
}

constexpr std::string_view kUsage =
    "usage: gpufleet-bench [--jobs N] [--connections C] [--rate R] [--seconds S] [--workers W] [--slots K]\n"
    "                      [--soak SECONDS] [--bin DIR] [--maxmemory SIZE] [--bulk N]\n"
    "  Measures a fleet it starts on free ports with the noop model: jobs per second end to end, latency\n"
    "  percentiles at a fixed offered rate, CPU per job by component, and espeak's real-time factor.\n"
    "  --bin starts the fleet from other binaries; --soak runs the closed loop that long instead of N "
    "jobs;\n"
    "  --bulk N sends the closed loop's jobs N per POST /v1/jobs:batch (1 to 1000).\n";

}  // namespace

int main(int argc, char** argv) {
  if (asks_for_help(argc, argv)) return print_usage(kUsage);
  auto parsed = parse_options(
      argc, argv,
      {"jobs", "connections", "rate", "seconds", "workers", "slots", "soak", "bin", "maxmemory", "bulk"});
  if (auto* why = std::get_if<std::string>(&parsed)) return usage_error("gpufleet-bench", *why, kUsage);
  Options options;
  for (const auto& [flag, text] : std::get<ParsedOptions>(parsed).values) {
    if (flag == "bin") {
      options.bin_dir = text;
      continue;
    }
    if (flag == "maxmemory") {
      options.maxmemory = text;
      continue;
    }
    char* end = nullptr;
    const double value = std::strtod(text.c_str(), &end);
    if (text.empty() || *end != '\0' || !(value >= 0)) {
      return usage_error("gpufleet-bench", "--" + flag + " takes a number, not " + text, kUsage);
    }
    if (flag == "jobs")
      options.jobs = static_cast<int>(value);
    else if (flag == "connections")
      options.connections = static_cast<int>(value);
    else if (flag == "rate")
      options.rate = static_cast<int>(value);
    else if (flag == "seconds")
      options.seconds = value;
    else if (flag == "workers")
      options.workers = static_cast<int>(value);
    else if (flag == "slots")
      options.slots = static_cast<int>(value);
    else if (flag == "soak")
      options.soak_s = value;
    else if (flag == "bulk")
      options.bulk = static_cast<int>(value);
  }
  if (options.bulk > 1000)
    return usage_error("gpufleet-bench", "--bulk takes 1 to 1000 jobs per request", kUsage);
  namespace fs = std::filesystem;
  char pattern[] = "/tmp/gpufleet-bench-XXXXXX";
  const fs::path dir = ::mkdtemp(pattern);
  const std::string bin_dir =
      options.bin_dir.empty() ? fs::read_symlink("/proc/self/exe").parent_path().string() : options.bin_dir;
  auto config = cli::StackConfig::private_on_free_ports(bin_dir, dir.string());
  config.workers = options.workers;
  config.worker_models = "noop";
  config.worker_slots = options.slots;
  config.env = {{"LOG_LEVEL", "warn"}};
  config.redis_maxmemory = options.maxmemory;
  cli::LocalStack stack(config);
  stack.start();
  if (!stack.wait_healthy(std::chrono::seconds(30))) {
    std::fprintf(stderr, "fleet did not become healthy; logs in %s\n", config.state_dir.c_str());
    return 1;
  }
  RedisEndpoint endpoint;
  endpoint.port = config.redis_port;
  std::printf("gpufleet-bench: %d worker(s) x %d slot(s), noop model, %u cores\n\n", options.workers,
              options.slots, std::thread::hardware_concurrency());
  std::printf("| %-44s | %12s |\n|%s|%s|\n", "measure", "value", std::string(46, '-').c_str(),
              std::string(14, '-').c_str());
  {
    CompletionWatcher watcher(endpoint, false);
    throughput(config.http_port, watcher, options, endpoint, CostMeter(stack.components()));
  }
  if (options.soak_s <= 0) {
    {
      CompletionWatcher watcher(endpoint, true);
      latency(config.http_port, watcher, options);
    }
    espeak_rtf();
  }
  stack.stop();
  fs::remove_all(dir);
  return 0;
}
