#include "common/metrics.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>

namespace gpufleet {
namespace {

std::string format_value(double value) {
  if (std::isnan(value)) return "NaN";
  if (std::isinf(value)) return value > 0 ? "+Inf" : "-Inf";
  char buffer[32];
  std::snprintf(buffer, sizeof(buffer), "%.17g", value);
  return buffer;
}

// Label values escaped as the exposition format wants: backslash, quote and newline.
std::string label_text(const MetricsRegistry::Labels& labels, const std::string& extra_name = "",
                       const std::string& extra_value = "") {
  if (labels.empty() && extra_name.empty()) return "";
  std::string out = "{";
  auto add = [&out](const std::string& name, const std::string& value) {
    if (out.size() > 1) out += ',';
    out += name + "=\"";
    for (char c : value) {
      if (c == '\\' || c == '"') {
        out += '\\';
        out += c;
      } else if (c == '\n') {
        out += "\\n";
      } else {
        out += c;
      }
    }
    out += '"';
  };
  for (const auto& [name, value] : labels) add(name, value);
  if (!extra_name.empty()) add(extra_name, extra_value);
  return out + "}";
}

}  // namespace

void MetricsRegistry::counter(const std::string& name, const std::string& help) {
  std::lock_guard lock(mutex_);
  families_[name] = Family{Type::kCounter, help, {}, {}, {}};
}

void MetricsRegistry::gauge(const std::string& name, const std::string& help) {
  std::lock_guard lock(mutex_);
  families_[name] = Family{Type::kGauge, help, {}, {}, {}};
}

void MetricsRegistry::histogram(const std::string& name, const std::string& help,
                                std::vector<double> bounds) {
  std::sort(bounds.begin(), bounds.end());
  std::lock_guard lock(mutex_);
  families_[name] = Family{Type::kHistogram, help, std::move(bounds), {}, {}};
}

void MetricsRegistry::increment(const std::string& name, const Labels& labels, double by) {
  std::lock_guard lock(mutex_);
  auto family = families_.find(name);
  if (family == families_.end() || family->second.type == Type::kHistogram) return;
  family->second.values[labels] += by;
}

void MetricsRegistry::set(const std::string& name, const Labels& labels, double value) {
  std::lock_guard lock(mutex_);
  auto family = families_.find(name);
  if (family == families_.end() || family->second.type != Type::kGauge) return;
  family->second.values[labels] = value;
}

void MetricsRegistry::clear(const std::string& name) {
  std::lock_guard lock(mutex_);
  auto family = families_.find(name);
  if (family != families_.end() && family->second.type == Type::kGauge) family->second.values.clear();
}

void MetricsRegistry::observe(const std::string& name, const Labels& labels, double value) {
  std::lock_guard lock(mutex_);
  auto family = families_.find(name);
  if (family == families_.end() || family->second.type != Type::kHistogram || std::isnan(value)) return;
  auto& histogram = family->second.histograms[labels];
  const auto& bounds = family->second.bounds;
  histogram.counts.resize(bounds.size(), 0);
  const auto at = std::lower_bound(bounds.begin(), bounds.end(), value);  // le: value <= bound
  if (at != bounds.end()) ++histogram.counts[static_cast<size_t>(at - bounds.begin())];
  ++histogram.count;
  histogram.sum += value;
}

std::string MetricsRegistry::render() const {
  std::lock_guard lock(mutex_);
  std::string out;
  for (const auto& [name, family] : families_) {
    const char* type = family.type == Type::kCounter ? "counter"
                       : family.type == Type::kGauge ? "gauge"
                                                     : "histogram";
    out += "# HELP " + name + " " + family.help + "\n# TYPE " + name + " " + type + "\n";
    if (family.type != Type::kHistogram) {
      for (const auto& [labels, value] : family.values)
        out += name + label_text(labels) + " " + format_value(value) + "\n";
      continue;
    }
    for (const auto& [labels, histogram] : family.histograms) {
      uint64_t cumulative = 0;
      for (size_t i = 0; i < family.bounds.size(); ++i) {
        cumulative += histogram.counts[i];
        out += name + "_bucket" + label_text(labels, "le", format_value(family.bounds[i])) + " " +
               std::to_string(cumulative) + "\n";
      }
      out +=
          name + "_bucket" + label_text(labels, "le", "+Inf") + " " + std::to_string(histogram.count) + "\n";
      out += name + "_sum" + label_text(labels) + " " + format_value(histogram.sum) + "\n";
      out += name + "_count" + label_text(labels) + " " + std::to_string(histogram.count) + "\n";
    }
  }
  return out;
}

std::vector<double> MetricsRegistry::duration_buckets() {
  return {0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600};
}

}  // namespace gpufleet
