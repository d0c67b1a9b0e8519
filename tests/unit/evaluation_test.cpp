// Guards `gpufleet evaluate`'s logic: the workload covers exactly the models workers serve (and only cases
// the run can make), percentiles are the nearest-rank ones, the report counts failures by their code and
// keeps them out of the latency figures, and the chart has one mark per job.
#include "cli/evaluation.hpp"

#include <gtest/gtest.h>

#include <algorithm>

namespace gpufleet::cli {
namespace {

using nlohmann::json;

json fleet_models() {
  return json::parse(R"({"models":[
    {"name":"espeak","kind":"tts","languages":["en","de","fr","es"],"cloning":false,"workers":2},
    {"name":"xtts","kind":"tts","languages":["en","ja"],"cloning":true,"workers":1},
    {"name":"idle","kind":"tts","languages":["en"],"workers":0},
    {"name":"portrait","kind":"video","languages":[],"workers":1}]})");
}

size_t count_model(const std::vector<EvaluationCase>& cases, const std::string& model) {
  return static_cast<size_t>(
      std::count_if(cases.begin(), cases.end(), [&](const auto& c) { return c.model == model; }));
}

TEST(Evaluation, TheWorkloadCoversEveryServedModelAndOnlyThose) {
  WorkloadOptions options;
  options.rounds = 2;
  options.have_portrait = true;
  options.have_reference_voice = true;
  const auto cases = standard_workload(fleet_models(), options);
  // espeak: 3 languages x 3 lengths; xtts: English only (no sentences for ja) x 3 + one clone case.
  EXPECT_EQ(count_model(cases, "espeak"), 2u * 9u);
  EXPECT_EQ(count_model(cases, "xtts"), 2u * 4u);
  EXPECT_EQ(count_model(cases, "portrait"), 2u);
  EXPECT_EQ(count_model(cases, "idle"), 0u);  // no worker serves it
  for (const auto& job : cases) {
    EXPECT_FALSE(job.text.empty());
    if (job.model == "espeak") {
      EXPECT_NE(job.language, "es") << "beyond the first three languages";
    }
    if (job.kind == "video") {
      EXPECT_FALSE(job.stream) << "only speech streams";
    }
  }
  // Half of the speech cases are streamed (every other round), for the time to first audio.
  const auto streamed = std::count_if(cases.begin(), cases.end(), [](const auto& c) { return c.stream; });
  EXPECT_EQ(static_cast<size_t>(streamed), (18u + 8u) / 2);
  const auto clones = std::count_if(cases.begin(), cases.end(), [](const auto& c) { return c.clone; });
  EXPECT_EQ(clones, 2);
}

TEST(Evaluation, CasesTheRunCannotMakeAreSkippedWithAReason) {
  WorkloadOptions options;
  options.rounds = 1;
  options.models = {"xtts", "portrait", "missing"};
  std::vector<std::string> skipped;
  const auto cases = standard_workload(fleet_models(), options, &skipped);
  EXPECT_EQ(count_model(cases, "espeak"), 0u);    // not asked for
  EXPECT_EQ(count_model(cases, "xtts"), 3u);      // no reference voice: no clone case
  EXPECT_EQ(count_model(cases, "portrait"), 0u);  // no portrait
  ASSERT_EQ(skipped.size(), 3u);
  auto mentions = [&](const std::string& what) {
    return std::any_of(skipped.begin(), skipped.end(),
                       [&](const auto& s) { return s.find(what) != std::string::npos; });
  };
  EXPECT_TRUE(mentions("missing: no worker serves it"));
  EXPECT_TRUE(mentions("--speaker-wav"));
  EXPECT_TRUE(mentions("--image"));
  EXPECT_TRUE(standard_workload(json::parse("{}"), options).empty());
  EXPECT_TRUE(standard_workload(json::parse(R"({"models":"nope"})"), options).empty());
}

TEST(Evaluation, PercentilesAreNearestRank) {
  EXPECT_FALSE(percentile({}, 50));
  std::vector<double> hundred;
  for (int i = 100; i >= 1; --i) hundred.push_back(i);
  EXPECT_DOUBLE_EQ(*percentile(hundred, 50), 50);
  EXPECT_DOUBLE_EQ(*percentile(hundred, 90), 90);
  EXPECT_DOUBLE_EQ(*percentile(hundred, 99), 99);
  EXPECT_DOUBLE_EQ(*percentile(hundred, 100), 100);
  EXPECT_DOUBLE_EQ(*percentile(hundred, 0), 1);
  EXPECT_DOUBLE_EQ(*percentile({7}, 99), 7);
  EXPECT_DOUBLE_EQ(*percentile({1, 2, 3}, 50), 2);
}

JobOutcome outcome(const std::string& model, double submitted_s, std::optional<double> latency_ms,
                   const std::string& state, const std::string& code = "") {
  JobOutcome result;
  result.job.model = model;
  result.job.kind = "tts";
  result.job.name = "en-short";
  result.submitted_s = submitted_s;
  result.latency_ms = latency_ms;
  result.state = state;
  result.error_code = code;
  if (state == "succeeded") {
    result.duration_s = 2.0;
    result.generation_ms = 100;
  }
  return result;
}

TEST(Evaluation, TheReportCountsFailuresByCodeAndKeepsThemOutOfLatency) {
  EvaluationReport report;
  report.add(outcome("espeak", 0.0, 100, "succeeded"));
  report.add(outcome("espeak", 0.5, 300, "succeeded"));
  report.add(outcome("espeak", 1.0, 9000, "failed", "model_error"));
  report.add(outcome("espeak", 1.0, std::nullopt, "", "queue_full"));
  auto streamed = outcome("espeak", 1.5, 500, "succeeded");
  streamed.first_audio_ms = 40;
  report.add(streamed);
  RunInfo run;
  run.gateway = "http://127.0.0.1:8001";
  run.concurrency = 2;
  const json summary = report.summary(run);
  EXPECT_EQ(summary["jobs_total"], 5);
  EXPECT_EQ(summary["failures_total"], 2);
  EXPECT_EQ(report.failures(), 2u);
  const json& espeak = summary["models"]["espeak"];
  EXPECT_EQ(espeak["jobs"], 5);
  EXPECT_EQ(espeak["succeeded"], 3);
  EXPECT_EQ(espeak["failures"]["model_error"], 1);
  EXPECT_EQ(espeak["failures"]["queue_full"], 1);
  EXPECT_DOUBLE_EQ(espeak["latency_ms"]["p50"].get<double>(), 300);
  EXPECT_DOUBLE_EQ(espeak["latency_ms"]["max"].get<double>(), 500) << "the failed job's 9 s is not a latency";
  EXPECT_DOUBLE_EQ(espeak["first_audio_ms"]["p50"].get<double>(), 40);
  EXPECT_DOUBLE_EQ(espeak["rtf"]["p50"].get<double>(), 0.05);
  // Three succeeded between the first submit (0 s) and the last final state seen (1 + 9 s).
  EXPECT_NEAR(espeak["jobs_per_s"].get<double>(), 3 / 10.0, 1e-9);
  ASSERT_EQ(summary["jobs"].size(), 5u);
  EXPECT_EQ(summary["jobs"][2]["error_code"], "model_error");
  EXPECT_TRUE(summary["jobs"][3]["latency_ms"].is_null());

  const std::string table = report.table();
  EXPECT_NE(table.find("espeak"), std::string::npos);
  EXPECT_NE(table.find("1 failed: model_error"), std::string::npos) << table;
}

size_t occurrences(const std::string& text, const std::string& what) {
  size_t count = 0;
  for (size_t at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) ++count;
  return count;
}

TEST(Evaluation, TheChartHasAMarkPerJobWithALatency) {
  EvaluationReport report;
  report.add(outcome("espeak", 0.0, 120, "succeeded"));
  report.add(outcome("espeak", 0.2, 180, "succeeded"));
  report.add(outcome("a<b&c", 0.4, 2500, "failed", "model_error"));
  report.add(outcome("a<b&c", 0.4, std::nullopt, "", "no_answer"));
  const std::string svg = report.latency_svg();
  EXPECT_EQ(svg.rfind("<svg", 0), 0u);
  EXPECT_NE(svg.find("</svg>"), std::string::npos);
  EXPECT_EQ(occurrences(svg, "class=\"job\""), 2u);
  EXPECT_EQ(occurrences(svg, "class=\"failed\""), 1u);
  EXPECT_EQ(svg.find("a<b&c"), std::string::npos) << "model names are escaped";
  EXPECT_NE(svg.find("a&lt;b&amp;c"), std::string::npos);
  EXPECT_EQ(svg.find("<script"), std::string::npos);
  // An empty run still draws its axes.
  EXPECT_NE(EvaluationReport().latency_svg().find("</svg>"), std::string::npos);
}

}  // namespace
}  // namespace gpufleet::cli
