#include "models/noop.hpp"

namespace gpufleet::models {

NoopModel::NoopModel() {
  info_.name = "noop";
  info_.kind = "tts";
}

ModelOutput NoopModel::run(const ModelInput&) { return {}; }

}  // namespace gpufleet::models
