#include "models/noop.hpp"

#include <chrono>
#include <thread>

#include "common/error.hpp"

namespace gpufleet::models {

NoopModel::NoopModel() {
  info_.name = "noop";
  info_.kind = "tts";
}

ModelOutput NoopModel::run(const ModelInput& input) {
  // "sleep_ms" stands in for a long model call in failure drills (a worker killed mid-job).
  if (auto sleep = input.input.find("sleep_ms"); sleep != input.input.end()) {
    if (!sleep->is_number_integer() || sleep->get<int64_t>() < 0 || sleep->get<int64_t>() > 600000) {
      throw ModelError(ErrorCode::kInvalidInput, "sleep_ms must be an integer in [0, 600000]");
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(sleep->get<int64_t>()));
  }
  return {};
}

}  // namespace gpufleet::models
