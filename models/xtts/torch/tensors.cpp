#include "models/xtts/torch/tensors.hpp"

#include "common/error.hpp"

namespace gpufleet::xtts {

torch::Tensor to_tensor(const TensorView& view) {
  torch::ScalarType type;
  switch (view.dtype) {
    case DType::kF32: type = torch::kFloat32; break;
    case DType::kF16: type = torch::kFloat16; break;
    case DType::kBF16: type = torch::kBFloat16; break;
    case DType::kF64: type = torch::kFloat64; break;
    case DType::kI64: type = torch::kInt64; break;
    case DType::kI32: type = torch::kInt32; break;
    case DType::kI16: type = torch::kInt16; break;
    case DType::kI8: type = torch::kInt8; break;
    case DType::kU8: type = torch::kUInt8; break;
    case DType::kBool: type = torch::kBool; break;
    default: throw ModelError(ErrorCode::kModelError, "unsupported tensor dtype");
  }
  // from_blob does not copy and wants a mutable pointer; the clone below owns the data.
  auto* data = const_cast<std::byte*>(view.bytes.data());
  return torch::from_blob(data, view.shape, torch::TensorOptions().dtype(type)).clone();
}

}  // namespace gpufleet::xtts
