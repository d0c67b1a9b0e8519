#include "models/xtts/torch/weights.hpp"

#include <torch/torch.h>

#include <algorithm>
#include <map>

#include "common/error.hpp"
#include "common/sha256.hpp"
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

void Weights::convert_matrices(const std::vector<std::string>& prefixes, torch::ScalarType dtype) {
  for (auto& [name, tensor] : tensors_) {
    const bool chosen =
        std::any_of(prefixes.begin(), prefixes.end(),
                    [&name = name](const std::string& prefix) { return name.rfind(prefix, 0) == 0; });
    if (chosen && tensor.dim() == 2 && tensor.is_floating_point()) tensor = tensor.to(dtype);
  }
}

int64_t Weights::count(const std::string& prefix, const std::string& suffix) const {
  int64_t n = 0;
  while (contains(prefix + std::to_string(n) + suffix)) ++n;
  return n;
}

std::string Weights::digest(const std::vector<std::string>& prefixes) const {
  std::map<std::string, const torch::Tensor*> chosen;  // name order, whatever the hash map's order
  for (const auto& [name, tensor] : tensors_) {
    for (const auto& prefix : prefixes) {
      if (name.compare(0, prefix.size(), prefix) == 0) {
        chosen.emplace(name, &tensor);
        break;
      }
    }
  }
  Sha256 sha;
  for (const auto& [name, tensor] : chosen) {
    const auto values = tensor->to(torch::kCPU).contiguous();
    std::string description = name + "|" + std::string(c10::toString(values.scalar_type())) + "|";
    for (auto size : values.sizes()) description += std::to_string(size) + ",";
    sha.update(description);
    sha.update(std::string_view(static_cast<const char*>(values.data_ptr()),
                                values.numel() * values.element_size()));
  }
  return sha.hex_digest();
}

}  // namespace gpufleet::xtts
