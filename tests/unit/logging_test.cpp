// Guards LOG_FORMAT=json: each line is one JSON object a collector can parse whatever the message holds, and
// carries the job and worker ids the message names (or the worker process's own), so one job can be followed
// across components.
#include "common/logging.hpp"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

namespace gpufleet {
namespace {

TEST(JsonLogs, LinesAreJsonWithTheJobAndWorkerTheyAreAbout) {
  const std::string id = "0123456789abcdef0123456789abcdef";
  auto line = nlohmann::json::parse(
      json_log_line("2026-11-27T10:00:00.000Z", "warn", "broker",
                    "refused a result for job " + id + " attempt 2 from worker gpu-a-7: late"));
  EXPECT_EQ(line["ts"], "2026-11-27T10:00:00.000Z");
  EXPECT_EQ(line["level"], "warn");
  EXPECT_EQ(line["component"], "broker");
  EXPECT_EQ(line["job_id"], id);
  EXPECT_EQ(line["worker_id"], "gpu-a-7");

  // Quotes, backslashes, newlines and control bytes in a message stay inside its string.
  line =
      nlohmann::json::parse(json_log_line("t", "info", "gateway", "odd \"text\" \\ with\nnewline \x01 end"));
  EXPECT_EQ(line["msg"], "odd \"text\" \\ with\nnewline \x01 end");
  EXPECT_FALSE(line.contains("job_id"));
  EXPECT_FALSE(line.contains("worker_id"));

  // A worker process's lines carry its id; an id the message names wins; "job" followed by something that is
  // not an id (or part of another word) is not a job id.
  line = nlohmann::json::parse(
      json_log_line("t", "warn", "worker", "job " + id + " attempt 1 failed", "host-1-abc"));
  EXPECT_EQ(line["worker_id"], "host-1-abc");
  EXPECT_EQ(line["job_id"], id);
  line =
      nlohmann::json::parse(json_log_line("t", "info", "worker", "the job queue is empty; subjob abc", "w"));
  EXPECT_FALSE(line.contains("job_id"));
}

}  // namespace
}  // namespace gpufleet
