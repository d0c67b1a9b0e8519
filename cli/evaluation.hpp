#pragma once
// `gpufleet evaluate`'s logic without its sockets: the standard workload it sends a fleet (built from what
// GET /v1/models says the fleet serves), and the report made of the jobs' outcomes (per model: jobs,
// failures by code, latency percentiles, time to first audio for streams, real-time factor, throughput) as
// JSON, a table and an SVG chart of latency over the run. The evaluator of the original service wrote the
// same kind of summary_report_*.json; evaluate_command.cpp runs the jobs.

#include <cstddef>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

namespace gpufleet::cli {

// One job of the workload.
struct EvaluationCase {
  std::string name;   // "en-short", "clone-de-long", "video-en-short": what it measures
  std::string model;  // the model that makes the result (a text-to-video job: the video model)
  std::string kind;   // "tts" or "video"
  std::string language;
  std::string text;
  bool stream = false;  // read through GET /v1/jobs/{id}/stream, timing the first audio
  bool clone = false;   // speaks in the run's reference voice (input.speaker_wav)
};

struct WorkloadOptions {
  int rounds = 2;                     // every case this many times; odd rounds stream the speech cases
  std::vector<std::string> models;    // only these; empty: every model a worker serves
  bool have_reference_voice = false;  // a speaker_wav for the cloning models' cases
  bool have_portrait = false;         // a reference_image for the text-to-video cases
  size_t languages_per_model = 3;     // the first of en, de, fr, es, it, pt that the model speaks
};

// The cases for the models of a GET /v1/models answer. Models no worker serves are left out, and so are
// cases that need what the run lacks (a reference voice, a portrait); `skipped` says which and why.
std::vector<EvaluationCase> standard_workload(const nlohmann::json& models_answer,
                                              const WorkloadOptions& options,
                                              std::vector<std::string>* skipped = nullptr);

// What happened to one job.
struct JobOutcome {
  EvaluationCase job;
  double submitted_s = 0;                // since the run began
  std::optional<double> latency_ms;      // submit until the final state was seen; none: never seen
  std::optional<double> first_audio_ms;  // submit until the stream's first audio bytes
  std::string state;                     // the final state ("succeeded", "failed", ...), "" if none was seen
  std::string error_code;                // why it did not succeed: the job's or the request's code
  double duration_s = 0;                 // of the result's audio or video
  double generation_ms = 0;              // the worker's time making it
};

// Nearest-rank percentile (p in 0..100) of `values`; nullopt for none.
std::optional<double> percentile(std::vector<double> values, double p);

struct RunInfo {
  std::string started_at;  // ISO 8601, UTC
  std::string gateway;     // the URL evaluated
  int concurrency = 1;
  int rounds = 1;
  double wall_s = 0;
  nlohmann::json fleet = nlohmann::json::object();  // what /health said of the fleet
  std::vector<std::string> skipped;
};

class EvaluationReport {
 public:
  void add(JobOutcome outcome) { outcomes_.push_back(std::move(outcome)); }
  const std::vector<JobOutcome>& outcomes() const { return outcomes_; }
  size_t failures() const;

  // summary_report_*.json: the run, then per model (jobs, succeeded, failures by code, latency_ms and
  // first_audio_ms as p50/p90/p99/mean/max, rtf p50/mean, jobs_per_s, output_s_per_s), then every job.
  nlohmann::json summary(const RunInfo& run) const;
  // The per-model figures as a table for people.
  std::string table() const;
  // Latency over the run: one dot per job at (time its final state was seen, latency), a colour per model,
  // failures as crosses. Self-contained SVG (no scripts, no external references).
  std::string latency_svg() const;

 private:
  std::vector<JobOutcome> outcomes_;
};

}  // namespace gpufleet::cli
