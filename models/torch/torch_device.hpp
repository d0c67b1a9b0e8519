#pragma once
// The LibTorch device a DeviceInfo names; for the plugin's files only (it includes LibTorch).
#include <c10/core/Device.h>

#include "models/torch/device.hpp"

namespace gpufleet::models {

inline c10::Device torch_device(const DeviceInfo& device) {
  if (device.type == "cuda")
    return c10::Device(c10::DeviceType::CUDA, static_cast<c10::DeviceIndex>(device.index));
  if (device.type == "mps") return c10::Device(c10::DeviceType::MPS);
  return c10::Device(c10::DeviceType::CPU);
}

}  // namespace gpufleet::models
