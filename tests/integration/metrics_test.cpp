// Guards the fleet's Prometheus metrics end to end: the gateway's /metrics, the broker's and a worker's
// metrics ports count the same jobs (submitted, finished by state, run by the worker), show the workers and
// the queues, and a real Prometheus server (Debian's) scrapes all three and answers queries over them.
#include <gtest/gtest.h>

#include <chrono>
#include <fstream>
#include <regex>
#include <thread>

#include "cli/http_client.hpp"
#include "cli/process.hpp"
#include "tests/support/fleet_fixture.hpp"
#include "tests/support/temp_dir.hpp"

namespace gpufleet::testing {
namespace {

using nlohmann::json;

// The value of one series in a /metrics text, or -1 when it is not there.
double series(const std::string& text, const std::string& name_and_labels) {
  const auto at = text.find("\n" + name_and_labels + " ");
  if (at == std::string::npos) return -1;
  return std::stod(text.substr(at + name_and_labels.size() + 2));
}

std::string scrape(uint16_t port, const std::string& path = "/metrics") {
  auto result = cli::http_request("GET", "127.0.0.1", port, path);
  EXPECT_EQ(result.status, 200) << result.error;
  return "\n" + result.body;
}

TEST(FleetMetrics, EveryComponentCountsTheSameJobsAndPrometheusScrapesThem) {
  FleetOptions options{1, "espeak,noop", 1, {}};
  options.worker_metrics = true;
  Fleet fleet(options);
  const auto& config = fleet.stack().config();
  std::vector<std::string> ids;
  for (int i = 0; i < 3; ++i)
    ids.push_back(fleet.submit({{"input", {{"text", "Metrics " + std::to_string(i)}}}}));
  ids.push_back(fleet.submit({{"model", "noop"}, {"input", {{"text", "fails"}, {"fail", "model_error"}}}}));
  for (const auto& id : ids) EXPECT_TRUE(json(fleet.wait_job(id, 60))["state"] != "queued");
  // The broker's gauges follow its heartbeat (100 ms here).
  std::this_thread::sleep_for(std::chrono::milliseconds(300));

  const std::string gateway = scrape(config.http_port);
  EXPECT_EQ(series(gateway, R"(gpufleet_jobs_submitted_total{kind="tts",model="espeak"})"), 3) << gateway;
  EXPECT_EQ(series(gateway, R"(gpufleet_http_requests_total{route="/v1/jobs",method="POST",code="202"})"), 4)
      << gateway;
  EXPECT_GE(series(gateway, R"(gpufleet_http_request_seconds_count{route="/v1/jobs/{id}"})"), 4) << gateway;

  const std::string broker = scrape(config.broker_metrics_port);
  EXPECT_EQ(series(broker, R"(gpufleet_jobs_total{kind="tts",model="espeak",state="succeeded"})"), 3)
      << broker;
  EXPECT_EQ(series(broker, R"(gpufleet_jobs_total{kind="tts",model="noop",state="failed"})"), 1) << broker;
  EXPECT_EQ(series(broker, R"(gpufleet_job_run_seconds_count{model="espeak"})"), 3) << broker;
  EXPECT_EQ(series(broker, R"(gpufleet_jobs_dispatched_total{model="espeak"})"), 3) << broker;
  EXPECT_EQ(series(broker, R"(gpufleet_workers{device="cpu",state="up"})"), 1) << broker;
  EXPECT_EQ(series(broker, R"(gpufleet_queue_depth{model="espeak"})"), 0) << broker;
  EXPECT_EQ(series(broker, R"(gpufleet_queue_backlog_seconds{model="noop"})"), 0) << broker;
  EXPECT_EQ(series(broker, "gpufleet_jobs_running"), 0) << broker;

  const std::string worker = scrape(config.worker_metrics_port);
  EXPECT_EQ(series(worker, R"(gpufleet_worker_jobs_total{model="espeak",outcome="ok"})"), 3) << worker;
  EXPECT_EQ(series(worker, R"(gpufleet_worker_jobs_total{model="noop",outcome="model_error"})"), 1) << worker;
  EXPECT_EQ(series(worker, "gpufleet_worker_slots"), 1) << worker;
  EXPECT_EQ(cli::http_request("GET", "127.0.0.1", config.worker_metrics_port, "/other").status, 404);

  // A real Prometheus scrapes the three endpoints and answers a query over what they count.
  TempDir dir;
  const uint16_t prometheus_port = cli::free_port();
  {
    std::ofstream file(dir.path() / "prometheus.yml");
    file << "global:\n  scrape_interval: 1s\nscrape_configs:\n"
         << "  - job_name: gateway\n    static_configs: [{targets: ['127.0.0.1:" << config.http_port
         << "']}]\n"
         << "  - job_name: broker\n    static_configs: [{targets: ['127.0.0.1:" << config.broker_metrics_port
         << "']}]\n"
         << "  - job_name: worker\n    static_configs: [{targets: ['127.0.0.1:" << config.worker_metrics_port
         << "']}]\n";
  }
  auto prometheus =
      cli::Process::spawn({"prometheus", "--config.file=" + (dir.path() / "prometheus.yml").string(),
                           "--storage.tsdb.path=" + (dir.path() / "data").string(),
                           "--web.listen-address=127.0.0.1:" + std::to_string(prometheus_port)},
                          {}, (dir.path() / "prometheus.log").string());
  auto query = [&](const std::string& promql) {
    std::string encoded;
    for (unsigned char c : promql) {
      char hex[4];
      std::snprintf(hex, sizeof(hex), "%%%02X", c);
      encoded += std::isalnum(c) ? std::string(1, static_cast<char>(c)) : std::string(hex);
    }
    auto answer = cli::http_request("GET", "127.0.0.1", prometheus_port, "/api/v1/query?query=" + encoded);
    return json::parse(answer.body.empty() ? "{}" : answer.body, nullptr, false);
  };
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  double succeeded = -1, targets_up = -1;
  while (std::chrono::steady_clock::now() < deadline) {
    auto jobs = query(R"(sum(gpufleet_jobs_total{state="succeeded"}))");
    auto up = query("sum(up)");
    if (jobs.is_object() && jobs.value("status", "") == "success" && !jobs["data"]["result"].empty() &&
        up.is_object() && !up["data"]["result"].empty()) {
      succeeded = std::stod(jobs["data"]["result"][0]["value"][1].get<std::string>());
      targets_up = std::stod(up["data"]["result"][0]["value"][1].get<std::string>());
      if (targets_up == 3) break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
  }
  EXPECT_EQ(targets_up, 3) << "not every endpoint was scraped; see " << (dir.path() / "prometheus.log");
  EXPECT_EQ(succeeded, 3);
  auto worker_jobs = query(R"(sum(gpufleet_worker_jobs_total{outcome="ok"}))");
  ASSERT_FALSE(worker_jobs["data"]["result"].empty()) << worker_jobs.dump();
  EXPECT_EQ(worker_jobs["data"]["result"][0]["value"][1], "3");
  prometheus.stop(std::chrono::milliseconds(5000));
}

// Guards LOG_FORMAT=json through the real processes: every line every component writes parses as JSON, and
// a job's failure is logged by its worker with the job's id and the worker's.
TEST(FleetLogs, JsonLinesCarryTheJobAndWorkerInEveryComponent) {
  Fleet fleet(FleetOptions{1, "espeak,noop", 1, {{"LOG_FORMAT", "json"}}});
  const std::string id =
      fleet.submit({{"model", "noop"}, {"input", {{"text", "x"}, {"fail", "model_error"}}}});
  EXPECT_EQ(fleet.wait_job(id, 30)["state"], "failed");
  bool worker_named_the_job = false;
  for (const char* component : {"broker", "gateway", "worker-1"}) {
    std::ifstream log(fleet.stack().log_path(component));
    std::string line;
    int lines = 0;
    while (std::getline(log, line)) {
      if (line.empty()) continue;
      ++lines;
      const auto parsed = json::parse(line, nullptr, false);
      ASSERT_TRUE(parsed.is_object()) << component << ": not a JSON line: " << line;
      EXPECT_TRUE(parsed.contains("ts") && parsed.contains("level") && parsed.contains("msg")) << line;
      if (std::string(component) == "worker-1" && parsed.value("job_id", "") == id) {
        worker_named_the_job = parsed.value("worker_id", "").rfind("worker-1", 0) == 0;
      }
    }
    EXPECT_GT(lines, 0) << component << " wrote nothing";
  }
  EXPECT_TRUE(worker_named_the_job) << "no worker line carried the failed job's id and the worker's";
}

}  // namespace
}  // namespace gpufleet::testing
