// Guards device selection: explicit requests are honoured or refused with a clear error, never silently
// replaced by another device. On a CUDA host, `auto` must pick CUDA.
#include <gtest/gtest.h>

#include "common/error.hpp"
#include "worker/torch_runtime.hpp"

namespace gpufleet::worker {
namespace {

// Through the plugin, as the worker does.
models::DeviceInfo select_device(const std::string& requested) {
  static auto runtime = load_torch_runtime();
  return runtime->select_device(requested);
}

TEST(Device, CpuIsAlwaysThere) {
  auto device = select_device("cpu");
  EXPECT_EQ(device.type, "cpu");
  EXPECT_EQ(device.name, "cpu");
  EXPECT_FALSE(device.torch_version.empty());
}

TEST(Device, AutoPrefersCudaThenMpsThenCpu) {
  auto device = select_device("auto");
  if (device.cuda_available) {
    EXPECT_EQ(device.type, "cuda");
    EXPECT_EQ(device.name, "cuda:0");
  } else if (device.mps_available) {
    EXPECT_EQ(device.type, "mps");
  } else {
    EXPECT_EQ(device.type, "cpu");
  }
}

TEST(Device, UnavailableOrMalformedRequestsAreErrors) {
  auto probe = select_device("cpu");
  if (!probe.cuda_available) {
    EXPECT_THROW(select_device("cuda"), ConfigError);
  }
  if (!probe.mps_available) {
    EXPECT_THROW(select_device("mps"), ConfigError);
  }
  EXPECT_THROW(select_device("cuda:99"), ConfigError);
  EXPECT_THROW(select_device("cuda:x"), ConfigError);
  EXPECT_THROW(select_device("mps:0"), ConfigError);
  EXPECT_THROW(select_device("tpu"), ConfigError);
  EXPECT_THROW(select_device(""), ConfigError);
}

TEST(Device, CudaIndexIsHonoured) {
  auto probe = select_device("cpu");
  if (!probe.cuda_available) GTEST_SKIP() << "no CUDA device on this host";
  auto device = select_device("cuda:" + std::to_string(probe.cuda_devices - 1));
  EXPECT_EQ(device.index, probe.cuda_devices - 1);
}

}  // namespace
}  // namespace gpufleet::worker
