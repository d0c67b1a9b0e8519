// Guards the Prometheus text format the fleet's components expose: HELP and TYPE lines, labels escaped,
// histogram buckets cumulative with +Inf equal to the count, gauges cleared and set again, and records of
// undeclared or mistyped metrics ignored rather than corrupting the output.
#include "common/metrics.hpp"

#include <gtest/gtest.h>

namespace gpufleet {
namespace {

TEST(Metrics, RendersCountersGaugesAndHistogramsInPrometheusTextFormat) {
  MetricsRegistry metrics;
  metrics.counter("jobs_total", "Jobs");
  metrics.gauge("depth", "Depth");
  metrics.histogram("run_seconds", "Run", {0.1, 1, 10});
  metrics.increment("jobs_total", {{"model", "espeak"}, {"state", "succeeded"}});
  metrics.increment("jobs_total", {{"model", "espeak"}, {"state", "succeeded"}}, 2);
  metrics.increment("jobs_total", {{"model", "a\"b\\c\nd"}});
  metrics.set("depth", {{"model", "x"}}, 4);
  for (double value : {0.05, 0.1, 0.5, 5.0, 50.0}) metrics.observe("run_seconds", {{"model", "x"}}, value);
  metrics.increment("undeclared_total");  // ignored
  metrics.observe("jobs_total", {}, 1);   // a counter is not a histogram: ignored
  metrics.set("jobs_total", {}, 7);       // nor a gauge

  const std::string text = metrics.render();
  EXPECT_NE(text.find("# HELP jobs_total Jobs\n# TYPE jobs_total counter\n"), std::string::npos) << text;
  EXPECT_NE(text.find("jobs_total{model=\"espeak\",state=\"succeeded\"} 3\n"), std::string::npos) << text;
  EXPECT_NE(text.find("jobs_total{model=\"a\\\"b\\\\c\\nd\"} 1\n"), std::string::npos) << text;
  EXPECT_NE(text.find("# TYPE depth gauge\ndepth{model=\"x\"} 4\n"), std::string::npos) << text;
  EXPECT_NE(text.find("run_seconds_bucket{model=\"x\",le=\"0.10000000000000001\"} 2\n"), std::string::npos)
      << text;
  EXPECT_NE(text.find("run_seconds_bucket{model=\"x\",le=\"1\"} 3\n"), std::string::npos) << text;
  EXPECT_NE(text.find("run_seconds_bucket{model=\"x\",le=\"10\"} 4\n"), std::string::npos) << text;
  EXPECT_NE(text.find("run_seconds_bucket{model=\"x\",le=\"+Inf\"} 5\n"), std::string::npos) << text;
  EXPECT_NE(text.find("run_seconds_sum{model=\"x\"} 55.649999999999999\n"), std::string::npos) << text;
  EXPECT_NE(text.find("run_seconds_count{model=\"x\"} 5\n"), std::string::npos) << text;
  EXPECT_EQ(text.find("undeclared"), std::string::npos);
  EXPECT_EQ(text.find("jobs_total 7"), std::string::npos);
  EXPECT_EQ(text.find("jobs_total_bucket"), std::string::npos);

  metrics.clear("depth");
  metrics.set("depth", {{"model", "y"}}, 1);
  const std::string after = metrics.render();
  EXPECT_EQ(after.find("depth{model=\"x\"}"), std::string::npos) << "a cleared gauge kept its old series";
  EXPECT_NE(after.find("depth{model=\"y\"} 1\n"), std::string::npos);
}

}  // namespace
}  // namespace gpufleet
