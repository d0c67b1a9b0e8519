#include "models/xtts/torch/weights.hpp"

#include "common/error.hpp"
#include "models/xtts/torch/tensors.hpp"

namespace gpufleet::xtts {

Weights Weights::from_safetensors(const SafetensorsFile& file, const torch::Device& device) {
  Weights weights;
  for (const auto& [name, view] : file.tensors()) weights.tensors_.emplace(name, to_tensor(view).to(device));
  return weights;
}

Weights Weights::from_tensors(const TensorMap& tensors, const torch::Device& device) {
  Weights weights;
  for (const auto& [name, owned] : tensors) weights.tensors_.emplace(name, to_tensor(owned).to(device));
  return weights;
}

const torch::Tensor& Weights::get(const std::string& name) const {
  auto it = tensors_.find(name);
  if (it == tensors_.end()) throw ModelError(ErrorCode::kModelError, "XTTS checkpoint has no tensor " + name);
  return it->second;
}

int64_t Weights::count(const std::string& prefix, const std::string& suffix) const {
  int64_t n = 0;
  while (contains(prefix + std::to_string(n) + suffix)) ++n;
  return n;
}

}  // namespace gpufleet::xtts
