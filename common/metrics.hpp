#pragma once
// Prometheus metrics for every component: counters, gauges and histograms with labels, kept in one registry
// per process and rendered in Prometheus' text exposition format (version 0.0.4). Thread-safe: an event loop
// records, the metrics endpoint renders. Names follow Prometheus conventions (docs/operations.md lists them):
// `gpufleet_` prefix, base units (seconds, bytes), `_total` on counters.

#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

namespace gpufleet {

class MetricsRegistry {
 public:
  using Labels = std::vector<std::pair<std::string, std::string>>;

  // Each metric is declared once, before it is recorded; recording an undeclared name does nothing.
  void counter(const std::string& name, const std::string& help);
  void gauge(const std::string& name, const std::string& help);
  void histogram(const std::string& name, const std::string& help, std::vector<double> bounds);

  void increment(const std::string& name, const Labels& labels = {}, double by = 1);
  void set(const std::string& name, const Labels& labels, double value);
  // Drops every series of a gauge, before setting the ones that exist now (a model whose queue is gone).
  void clear(const std::string& name);
  void observe(const std::string& name, const Labels& labels, double value);

  std::string render() const;

  // Bucket bounds for durations from a millisecond to ten minutes.
  static std::vector<double> duration_buckets();

 private:
  enum class Type { kCounter, kGauge, kHistogram };
  struct Histogram {
    std::vector<uint64_t> counts;  // per bound, not cumulative
    uint64_t count = 0;
    double sum = 0;
  };
  struct Family {
    Type type = Type::kCounter;
    std::string help;
    std::vector<double> bounds;
    std::map<Labels, double> values;
    std::map<Labels, Histogram> histograms;
  };

  mutable std::mutex mutex_;
  std::map<std::string, Family> families_;
};

}  // namespace gpufleet
