#pragma once
// Where the XTTS golden set is: XTTS_GOLDEN_DIR, else ../shared/xtts-golden beside the source tree. Tests
// that need it skip with a message when it is absent. A plain string: no std::filesystem call, which matters
// in binaries that link PyTorch's LibTorch directly (see models/torch/runtime.hpp).
#include <cstdlib>
#include <nlohmann/json.hpp>
#include <string>

namespace gpufleet::testing {

inline std::string xtts_golden_dir() {
  if (const char* dir = std::getenv("XTTS_GOLDEN_DIR")) return dir;
  if (const char* source = std::getenv("GPUFLEET_SOURCE_DIR"))
    return std::string(source) + "/../shared/xtts-golden";
  return "../shared/xtts-golden";
}

// The golden checkpoint as a model registry entry (docs/models.md): "xtts" on the CPU, warm-up off (a test
// computes its voices itself).
inline nlohmann::json xtts_golden_entry(const std::string& golden) {
  return {{"name", "xtts"},
          {"backend", "xtts"},
          {"device", "cpu"},
          {"warmup", false},
          {"files", {{"config", golden + "/config.json"}}}};
}

}  // namespace gpufleet::testing
