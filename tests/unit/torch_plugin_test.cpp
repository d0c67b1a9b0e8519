// Guards against a crash seen with PyTorch's CUDA wheels (2.11 on the H100 machine): libtorch.so exports its
// own copies of libstdc++'s std::filesystem, and a binary linking LibTorch directly called into them and
// crashed in remove_all. This binary loads LibTorch as gpufleet-worker does (the plugin, RTLD_LOCAL) and
// then exercises std::filesystem.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>

#include "common/error.hpp"
#include "common/files.hpp"
#include "worker/torch_runtime.hpp"

namespace gpufleet::worker {
namespace {

namespace fs = std::filesystem;

TEST(TorchPlugin, FilesystemCallsWorkWithLibTorchLoaded) {
  auto runtime = load_torch_runtime();
  ASSERT_EQ(runtime->select_device("cpu").type, "cpu");  // LibTorch is really loaded and used
  char pattern[] = "/tmp/gpufleet-torchfs-XXXXXX";
  const fs::path root(::mkdtemp(pattern));
  fs::create_directories(root / "a" / "b");
  write_file_atomically(root / "a" / "b" / "f.wav", "data");
  EXPECT_TRUE(fs::exists(root / "a" / "b" / "f.wav"));
  EXPECT_EQ(fs::file_size(root / "a" / "b" / "f.wav"), 4u);
  EXPECT_TRUE(resolve_inside(root, "a/b/f.wav"));
  EXPECT_EQ(fs::remove_all(root), 4u);
  EXPECT_FALSE(fs::exists(root));
}

}  // namespace
}  // namespace gpufleet::worker

namespace gpufleet::worker {
namespace {

TEST(TorchPlugin, AMissingPluginIsAClearError) {
  try {
    load_torch_runtime("/nonexistent/libgpufleet_torch.so");
    FAIL() << "expected ConfigError";
  } catch (const ConfigError& error) {
    EXPECT_NE(std::string(error.what()).find("/nonexistent/libgpufleet_torch.so"), std::string::npos);
  }
}

}  // namespace
}  // namespace gpufleet::worker
