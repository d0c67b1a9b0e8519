#pragma once
// Bridges between the torch-free XTTS files (safetensors views) and LibTorch tensors.

#include <torch/types.h>

#include "models/xtts/safetensors.hpp"
#include "models/xtts/torch_checkpoint.hpp"

namespace gpufleet::xtts {

// A CPU tensor holding a copy of the view's data (the mapping may go away before the tensor does).
torch::Tensor to_tensor(const TensorView& view);
torch::Tensor to_tensor(const OwnedTensor& owned);
// The tensor's values, contiguous on the CPU, for writing out (dumps, safetensors).
OwnedTensor to_owned(const torch::Tensor& tensor);

}  // namespace gpufleet::xtts
