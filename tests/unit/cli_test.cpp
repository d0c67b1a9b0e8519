// Guards the client commands' output for people and their address parsing: a summary line says what
// happened to a job (its file, or its error), a running video shows a progress bar with its stage, tables
// list workers and models, and GPUFLEET_URL is an http address or refused.
#include <gtest/gtest.h>

#include "cli/client_commands.hpp"

namespace gpufleet::cli {
namespace {

using nlohmann::json;

TEST(CliClient, GatewayUrlsAreHttpHostAndPort) {
  auto address = parse_gateway_url("http://gpu-a.internal:8001");
  ASSERT_TRUE(address);
  EXPECT_EQ(address->host, "gpu-a.internal");
  EXPECT_EQ(address->port, 8001);
  EXPECT_EQ(parse_gateway_url("http://localhost/")->port, 80);
  auto tls = parse_gateway_url("https://gateway.example.com");
  ASSERT_TRUE(tls);
  EXPECT_TRUE(tls->tls);
  EXPECT_EQ(tls->port, 443);
  EXPECT_FALSE(parse_gateway_url("ftp://localhost:8001"));
  EXPECT_FALSE(parse_gateway_url("localhost:8001"));
  EXPECT_FALSE(parse_gateway_url("http://:8001"));
  EXPECT_FALSE(parse_gateway_url("http://host:99999"));
  EXPECT_FALSE(parse_gateway_url("http://host:80/prefix"));
}

TEST(CliClient, SummariesSayWhatHappenedToAJob) {
  const json done{{"id", "abc"},
                  {"state", "succeeded"},
                  {"kind", "tts"},
                  {"model", "espeak"},
                  {"timings", {{"total_ms", 2150}}},
                  {"result", {{"audio_path", "/s/tts/abc-1.wav"}, {"duration_s", 1.5}}}};
  EXPECT_EQ(job_summary(done), "abc  succeeded  tts/espeak  2.15 s  /s/tts/abc-1.wav  (1.50 s of media)");
  const json failed{{"id", "abc"},
                    {"state", "failed"},
                    {"kind", "video"},
                    {"model", "portrait"},
                    {"error", {{"code", "invalid_input"}, {"message", "no face found"}}}};
  EXPECT_EQ(job_summary(failed), "abc  failed     video/portrait  invalid_input: no face found");
  const json rendering{{"id", "abc"},
                       {"state", "running"},
                       {"kind", "video"},
                       {"model", "portrait"},
                       {"progress", {{"done", 50}, {"total", 200}}},
                       {"stage", 1},
                       {"stages", {{{"kind", "tts"}}, {{"kind", "video"}}}}};
  EXPECT_EQ(progress_line(rendering, 8), "[##------] 25%   50/200  stage 2/2 video");
  EXPECT_EQ(progress_line(json{{"state", "queued"}}), "queued");
  EXPECT_NE(job_summary(rendering).find("[####"), std::string::npos);
  EXPECT_TRUE(is_final_state("expired"));
  EXPECT_FALSE(is_final_state("running"));
}

TEST(CliClient, TablesListWorkersAndModels) {
  const json workers{{"workers",
                      {{{"id", "w1"},
                        {"device", "cuda:0"},
                        {"slots", 2},
                        {"active", 1},
                        {"heartbeat_age_ms", 40},
                        {"models", {"espeak", "xtts"}},
                        {"running", {"job1"}}}}},
                     {"queues", {{"xtts", {{"depth", 3}, {"oldest_age_s", 12.5}}}}}};
  const std::string table = workers_table(workers);
  EXPECT_NE(table.find("w1"), std::string::npos);
  EXPECT_NE(table.find("cuda:0"), std::string::npos);
  EXPECT_NE(table.find("1/2"), std::string::npos);
  EXPECT_NE(table.find("espeak,xtts  running 1: job1"), std::string::npos) << table;
  EXPECT_NE(table.find("queues: xtts=3 (oldest 12.5 s)"), std::string::npos) << table;
  const json models{{"models",
                     {{{"name", "espeak"},
                       {"kind", "tts"},
                       {"workers", 1},
                       {"devices", {"cpu"}},
                       {"languages", {"en", "de"}},
                       {"default", true}}}}};
  const std::string list = models_table(models);
  EXPECT_NE(list.find("espeak *"), std::string::npos) << list;
  EXPECT_NE(list.find("en,de"), std::string::npos) << list;
}

}  // namespace
}  // namespace gpufleet::cli
