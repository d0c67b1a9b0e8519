#include "cli/evaluate_command.hpp"

#include <unistd.h>

#include <atomic>
#include <chrono>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <iterator>
#include <mutex>
#include <sstream>
#include <thread>

#include "cli/client_commands.hpp"
#include "cli/evaluation.hpp"
#include "cli/http_client.hpp"
#include "common/error.hpp"
#include "common/files.hpp"
#include "common/json_text.hpp"
#include "common/usage.hpp"

namespace gpufleet::cli {

using nlohmann::json;
using Clock = std::chrono::steady_clock;

namespace {

struct EvaluateOptions {
  int concurrency = 4;
  WorkloadOptions workload;
  std::string image;        // a portrait for the text-to-video cases
  std::string speaker_wav;  // a reference voice for the cloning cases
  std::filesystem::path out_dir = ".";
  double job_timeout_s = 600;
};

std::vector<std::string> split_commas(const std::string& list) {
  std::vector<std::string> items;
  std::stringstream in(list);
  for (std::string item; std::getline(in, item, ',');) {
    if (!item.empty()) items.push_back(item);
  }
  return items;
}

EvaluateOptions parse_options(const std::vector<std::string>& args) {
  EvaluateOptions options;
  for (size_t i = 1; i < args.size(); ++i) {
    const std::string& arg = args[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= args.size()) throw ConfigError(arg + " needs a value");
      return args[++i];
    };
    auto number = [&](int low, int high) {
      const std::string text = value();
      if (text.empty() || text.size() > 6 || text.find_first_not_of("0123456789") != std::string::npos) {
        throw ConfigError(arg + " takes a whole number");
      }
      const int parsed = std::stoi(text);
      if (parsed < low || parsed > high) {
        throw ConfigError(arg + " must be " + std::to_string(low) + ".." + std::to_string(high));
      }
      return parsed;
    };
    if (arg == "--concurrency")
      options.concurrency = number(1, 256);
    else if (arg == "--rounds")
      options.workload.rounds = number(1, 1000);
    else if (arg == "--languages")
      options.workload.languages_per_model = static_cast<size_t>(number(1, 6));
    else if (arg == "--models")
      options.workload.models = split_commas(value());
    else if (arg == "--image")
      options.image = value();
    else if (arg == "--speaker-wav")
      options.speaker_wav = value();
    else if (arg == "--out")
      options.out_dir = value();
    else if (arg == "--timeout")
      options.job_timeout_s = number(1, 86400);
    else
      throw ConfigError("unknown option " + arg);
  }
  return options;
}

// The UTC time as 20261203T190512Z (file names) and as 2026-12-03T19:05:12Z (the report).
std::pair<std::string, std::string> utc_now() {
  const std::time_t now = std::time(nullptr);
  std::tm utc{};
  gmtime_r(&now, &utc);
  char compact[32], iso[32];
  std::strftime(compact, sizeof(compact), "%Y%m%dT%H%M%SZ", &utc);
  std::strftime(iso, sizeof(iso), "%Y-%m-%dT%H:%M:%SZ", &utc);
  return {compact, iso};
}

double ms_since(Clock::time_point start) {
  return std::chrono::duration<double, std::milli>(Clock::now() - start).count();
}

// The fleet as the run sees it: every call goes to one gateway with the command's API key and CA file.
class FleetCalls {
 public:
  FleetCalls(HttpEndpoint gateway, std::string ca_file)
      : gateway_(std::move(gateway)), ca_file_(std::move(ca_file)) {}

  HttpResult call(const std::string& method, const std::string& target, const std::string& body = "",
                  const std::string& content_type = "application/json",
                  std::chrono::milliseconds timeout = std::chrono::seconds(60),
                  std::function<void(std::string_view)> on_body_data = {}) const {
    return http_request(gateway_, method, target, body, content_type, timeout, {}, ca_file_,
                        std::move(on_body_data));
  }

  std::string url() const {
    return (gateway_.tls ? "https://" : "http://") + gateway_.host + ":" + std::to_string(gateway_.port);
  }

 private:
  HttpEndpoint gateway_;
  std::string ca_file_;
};

// The gateway's error code in an answer, or why there was none.
std::string error_code_of(const HttpResult& answer) {
  if (answer.status == 0) return "no_answer";
  auto body = parse_json_or_discarded(answer.body);
  if (body.is_object() && body.contains("error") && body["error"].is_object()) {
    return body["error"].value("code", "http_" + std::to_string(answer.status));
  }
  return "http_" + std::to_string(answer.status);
}

// Uploads a local file; returns the name to put in a job's input (`answer_field` of the answer).
std::string upload(const FleetCalls& fleet, const std::string& path, const char* answer_field) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw ConfigError("evaluate: cannot read " + path);
  std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  auto answer = fleet.call("POST", "/v1/files", bytes, upload_content_type(path), std::chrono::seconds(120));
  if (answer.status != 200 && answer.status != 201) {
    throw std::runtime_error("uploading " + path + " failed: " + error_code_of(answer) + " " +
                             answer.body.substr(0, 200));
  }
  return parse_json_or_discarded(answer.body).value(answer_field, "");
}

// Waits for a job's final state by long polls until `deadline`; nullopt when none was seen.
std::optional<json> await_final(const FleetCalls& fleet, const std::string& id, Clock::time_point deadline,
                                std::string& error_code) {
  while (Clock::now() < deadline) {
    auto answer =
        fleet.call("GET", "/v1/jobs/" + id + "?wait=20", "", "application/json", std::chrono::seconds(40));
    if (answer.status == 429 || answer.status == 503) {  // over the key's waits, or briefly unavailable
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
      continue;
    }
    if (answer.status != 200) {
      error_code = error_code_of(answer);
      return std::nullopt;
    }
    auto job = parse_json_or_discarded(answer.body);
    if (!job.is_object()) {
      error_code = "bad_answer";
      return std::nullopt;
    }
    if (is_final_state(job.value("state", ""))) return job;
  }
  error_code = "evaluate_timeout";
  return std::nullopt;
}

struct RunContext {
  const FleetCalls& fleet;
  const EvaluateOptions& options;
  std::string reference_image;
  std::string speaker_wav;
  Clock::time_point start;
};

JobOutcome run_case(const RunContext& run, const EvaluationCase& job) {
  JobOutcome outcome;
  outcome.job = job;
  const auto submitted = Clock::now();
  outcome.submitted_s = std::chrono::duration<double>(submitted - run.start).count();
  json input{{"text", job.text}, {"language", job.language}};
  if (job.stream) input["stream"] = true;
  if (job.clone) input["speaker_wav"] = run.speaker_wav;
  if (job.kind == "video") input["reference_image"] = run.reference_image;
  const json request{{"kind", job.kind}, {"model", job.model}, {"input", input}};
  auto created = run.fleet.call("POST", "/v1/jobs", dump_json(request));
  if (created.status != 202) {
    outcome.error_code = error_code_of(created);
    return outcome;
  }
  const std::string id = parse_json_or_discarded(created.body).value("id", "");
  const auto deadline = submitted + std::chrono::duration_cast<Clock::duration>(
                                        std::chrono::duration<double>(run.options.job_timeout_s));
  if (job.stream) {
    std::optional<double> first;
    auto streamed =
        run.fleet.call("GET", "/v1/jobs/" + id + "/stream", "", "application/json",
                       std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()),
                       [&first, submitted](std::string_view piece) {
                         if (!first && !piece.empty()) first = ms_since(submitted);
                       });
    // A model that does not stream answers its finished WAV in one piece of known length.
    if (streamed.status == 200 && !first && !streamed.body.empty()) first = ms_since(submitted);
    outcome.first_audio_ms = first;
  }
  std::string wait_error;
  auto final = await_final(run.fleet, id, deadline, wait_error);
  if (!final) {
    outcome.error_code = wait_error;
    return outcome;
  }
  outcome.latency_ms = ms_since(submitted);
  outcome.state = final->value("state", "");
  if (auto result = final->find("result"); result != final->end() && result->is_object()) {
    outcome.duration_s = result->value("duration_s", 0.0);
    outcome.generation_ms = result->value("generation_time_ms", 0.0);
  }
  if (outcome.state != "succeeded") {
    const json error = final->value("error", json::object());
    outcome.error_code = error.is_object() ? error.value("code", outcome.state) : outcome.state;
  }
  return outcome;
}

// A speech result of the fleet's own, uploaded as the reference voice for the cloning cases.
std::optional<std::string> make_reference_voice(const FleetCalls& fleet, const json& models) {
  for (const auto& model : models.value("models", json::array())) {
    if (model.value("kind", "") != "tts" || model.value("workers", 0) == 0 || model.value("cloning", false))
      continue;
    const json request{{"kind", "tts"},
                       {"model", model.value("name", "")},
                       {"input",
                        {{"text", "This is the reference voice of the evaluation, spoken for a few seconds."},
                         {"language", "en"}}}};
    auto created = fleet.call("POST", "/v1/jobs", dump_json(request));
    if (created.status != 202) return std::nullopt;
    const std::string id = parse_json_or_discarded(created.body).value("id", "");
    std::string error;
    auto final = await_final(fleet, id, Clock::now() + std::chrono::seconds(120), error);
    if (!final || final->value("state", "") != "succeeded") return std::nullopt;
    auto wav =
        fleet.call("GET", "/v1/jobs/" + id + "/result", "", "application/json", std::chrono::seconds(60));
    if (wav.status != 200) return std::nullopt;
    auto stored = fleet.call("POST", "/v1/files", wav.body, "audio/wav", std::chrono::seconds(60));
    if (stored.status != 200 && stored.status != 201) return std::nullopt;
    return parse_json_or_discarded(stored.body).value("speaker_wav", "");
  }
  return std::nullopt;
}

// "[##########----------]  12/40  failed 1  8.4 s" on a terminal; a line per tenth of the run elsewhere.
class Progress {
 public:
  explicit Progress(size_t total) : total_(total), terminal_(::isatty(STDERR_FILENO) != 0) {}

  void job_done(bool failed, double elapsed_s) {
    std::lock_guard lock(mutex_);
    ++done_;
    failed_ += failed ? 1 : 0;
    const size_t tenth = total_ == 0 ? 10 : done_ * 10 / total_;
    if (!terminal_ && tenth == last_tenth_ && done_ != total_) return;
    last_tenth_ = tenth;
    constexpr size_t kWidth = 24;
    const size_t filled = total_ == 0 ? kWidth : done_ * kWidth / total_;
    std::ostringstream line;
    line << "[" << std::string(filled, '#') << std::string(kWidth - filled, '-') << "]  " << done_ << "/"
         << total_ << "  failed " << failed_ << "  " << static_cast<int>(elapsed_s * 10) / 10.0 << " s";
    std::cerr << (terminal_ ? "\r\033[K" : "") << line.str() << (terminal_ && done_ != total_ ? "" : "\n")
              << std::flush;
  }

 private:
  std::mutex mutex_;
  size_t total_;
  bool terminal_;
  size_t done_ = 0, failed_ = 0, last_tenth_ = 0;
};

}  // namespace

int run_evaluate(const HttpEndpoint& gateway, const std::string& ca_file,
                 const std::vector<std::string>& args, std::string_view usage) {
  EvaluateOptions options;
  try {
    options = parse_options(args);
  } catch (const ConfigError& error) {
    return usage_error("gpufleet evaluate", error.what(), usage);
  }
  const FleetCalls fleet(gateway, ca_file);
  auto health = fleet.call("GET", "/health");
  if (health.status == 0) {
    std::cerr << "gpufleet: no answer from " << fleet.url() << " (" << health.error
              << "); is the fleet up?\n";
    return 1;
  }
  auto models_answer = fleet.call("GET", "/v1/models");
  if (models_answer.status != 200) {
    std::cerr << "gpufleet: GET /v1/models answered " << models_answer.status << " "
              << error_code_of(models_answer) << "\n";
    return 1;
  }
  const json models = parse_json_or_discarded(models_answer.body);

  RunContext run{fleet, options, "", "", Clock::now()};
  if (!options.image.empty()) {
    run.reference_image = upload(fleet, options.image, "reference_image");
    options.workload.have_portrait = true;
  }
  bool wants_cloning = false;
  for (const auto& model : models.value("models", json::array())) {
    wants_cloning = wants_cloning || (model.value("cloning", false) && model.value("workers", 0) > 0);
  }
  if (!options.speaker_wav.empty()) {
    run.speaker_wav = upload(fleet, options.speaker_wav, "speaker_wav");
  } else if (wants_cloning) {
    run.speaker_wav = make_reference_voice(fleet, models).value_or("");
  }
  options.workload.have_reference_voice = !run.speaker_wav.empty();

  RunInfo info;
  std::vector<EvaluationCase> cases = standard_workload(models, options.workload, &info.skipped);
  for (const auto& why : info.skipped) std::cerr << "gpufleet: skipped " << why << "\n";
  if (cases.empty()) {
    std::cerr << "gpufleet: nothing to evaluate: no worker serves a model the workload knows\n";
    return 1;
  }
  const auto [stamp, iso] = utc_now();
  info.started_at = iso;
  info.gateway = fleet.url();
  info.concurrency = options.concurrency;
  info.rounds = options.workload.rounds;
  if (auto body = parse_json_or_discarded(health.body); body.is_object()) {
    info.fleet = {{"status", body.value("status", "")},
                  {"device", body.value("device", "")},
                  {"fleet", body.value("fleet", json::object())}};
  }
  std::cerr << "gpufleet: evaluating " << fleet.url() << ": " << cases.size() << " jobs, "
            << options.concurrency << " at a time\n";

  std::vector<JobOutcome> outcomes(cases.size());
  std::atomic<size_t> next{0};
  Progress progress(cases.size());
  run.start = Clock::now();
  std::vector<std::thread> clients;
  for (int c = 0; c < std::min<int>(options.concurrency, static_cast<int>(cases.size())); ++c) {
    clients.emplace_back([&] {
      for (size_t i = next++; i < cases.size(); i = next++) {
        outcomes[i] = run_case(run, cases[i]);
        progress.job_done(outcomes[i].state != "succeeded",
                          std::chrono::duration<double>(Clock::now() - run.start).count());
      }
    });
  }
  for (auto& client : clients) client.join();
  info.wall_s = std::chrono::duration<double>(Clock::now() - run.start).count();

  EvaluationReport report;
  for (auto& outcome : outcomes) report.add(std::move(outcome));
  std::error_code ec;
  std::filesystem::create_directories(options.out_dir, ec);
  const auto report_path = options.out_dir / ("summary_report_" + stamp + ".json");
  const auto chart_path = options.out_dir / ("latency_" + stamp + ".svg");
  write_file_atomically(report_path, dump_json(report.summary(info), 2) + "\n");
  write_file_atomically(chart_path, report.latency_svg());
  std::cout << report.table() << "report " << report_path.string() << "\nchart  " << chart_path.string()
            << "\n";
  return report.failures() == 0 ? 0 : 1;
}

}  // namespace gpufleet::cli
