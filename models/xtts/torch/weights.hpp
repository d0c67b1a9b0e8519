#pragma once
// An XTTS state dict as LibTorch tensors, looked up by upstream's key names. Sizes are read off these
// tensors (how many blocks, how wide), so one code path runs the full model and any smaller one.

#include <torch/types.h>

#include <string>
#include <unordered_map>
#include <vector>

#include "models/xtts/safetensors.hpp"
#include "models/xtts/torch_checkpoint.hpp"

namespace gpufleet::xtts {

class Weights {
 public:
  static Weights from_safetensors(const SafetensorsFile& file, const torch::Device& device = torch::kCPU);
  static Weights from_tensors(const TensorMap& tensors, const torch::Device& device = torch::kCPU);

  // Throws ModelError naming the missing key.
  const torch::Tensor& get(const std::string& name) const;
  bool contains(const std::string& name) const { return tensors_.count(name) != 0; }
  // How many consecutive blocks "<prefix>0<suffix>", "<prefix>1<suffix>", ... exist.
  int64_t count(const std::string& prefix, const std::string& suffix) const;
  // SHA-256 over the names, dtypes, shapes and values of the tensors whose names start with one of
  // `prefixes`: what identifies the weights a computation used, wherever they were loaded from.
  std::string digest(const std::vector<std::string>& prefixes) const;
  // Converts the weight matrices (2-D floating-point tensors) whose names start with one of `prefixes` to
  // `dtype`, in place: the float32 copies go, so a reduced-precision model holds its matrices once.
  void convert_matrices(const std::vector<std::string>& prefixes, torch::ScalarType dtype);

 private:
  std::unordered_map<std::string, torch::Tensor> tensors_;
};

}  // namespace gpufleet::xtts
