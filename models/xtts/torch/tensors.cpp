#include "models/xtts/torch/tensors.hpp"

#include "common/error.hpp"

namespace gpufleet::xtts {

torch::Tensor to_tensor(const TensorView& view) {
  torch::ScalarType type;
  switch (view.dtype) {
    case DType::kF32:
      type = torch::kFloat32;
      break;
    case DType::kF16:
      type = torch::kFloat16;
      break;
    case DType::kBF16:
      type = torch::kBFloat16;
      break;
    case DType::kF64:
      type = torch::kFloat64;
      break;
    case DType::kI64:
      type = torch::kInt64;
      break;
    case DType::kI32:
      type = torch::kInt32;
      break;
    case DType::kI16:
      type = torch::kInt16;
      break;
    case DType::kI8:
      type = torch::kInt8;
      break;
    case DType::kU8:
      type = torch::kUInt8;
      break;
    case DType::kBool:
      type = torch::kBool;
      break;
    default:
      throw ModelError(ErrorCode::kModelError, "unsupported tensor dtype");
  }
  // from_blob does not copy and wants a mutable pointer; the clone below owns the data.
  auto* data = const_cast<std::byte*>(view.bytes.data());
  return torch::from_blob(data, view.shape, torch::TensorOptions().dtype(type)).clone();
}

torch::Tensor to_tensor(const OwnedTensor& owned) {
  TensorView view;
  view.dtype = owned.dtype;
  view.shape = owned.shape;
  view.bytes =
      std::span<const std::byte>(reinterpret_cast<const std::byte*>(owned.bytes.data()), owned.bytes.size());
  return to_tensor(view);
}

OwnedTensor to_owned(const torch::Tensor& tensor) {
  auto cpu = tensor.detach().to(torch::kCPU).contiguous();
  OwnedTensor owned;
  switch (cpu.scalar_type()) {
    case torch::kFloat32:
      owned.dtype = DType::kF32;
      break;
    case torch::kFloat16:
      owned.dtype = DType::kF16;
      break;
    case torch::kBFloat16:
      owned.dtype = DType::kBF16;
      break;
    case torch::kFloat64:
      owned.dtype = DType::kF64;
      break;
    case torch::kInt64:
      owned.dtype = DType::kI64;
      break;
    case torch::kInt32:
      owned.dtype = DType::kI32;
      break;
    default:
      throw ModelError(ErrorCode::kModelError, "cannot write a tensor of this dtype");
  }
  owned.shape.assign(cpu.sizes().begin(), cpu.sizes().end());
  owned.bytes.assign(static_cast<const char*>(cpu.data_ptr()), cpu.numel() * cpu.element_size());
  return owned;
}

}  // namespace gpufleet::xtts
