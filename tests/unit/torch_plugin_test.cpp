// Guards against a crash seen with PyTorch's CUDA wheels (2.11 on the H100 machine): libtorch.so exports its
// own copies of libstdc++'s std::filesystem, and a binary linking LibTorch directly called into them and
// crashed in remove_all. This binary loads LibTorch as gpufleet-worker does (the plugin, RTLD_LOCAL) and
// then exercises std::filesystem.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "common/error.hpp"
#include "common/files.hpp"
#include "models/registry.hpp"
#include "tests/support/xtts_golden.hpp"
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

namespace gpufleet::worker {
namespace {

// Guards the XTTS entry's decode options (#17): booleans only, CUDA graphs only with the fixed-shape step,
// and an entry that sets both to their other values loads.
TEST(TorchPlugin, XttsDecodeOptionsAreCheckedAtLoad) {
  const std::string golden = gpufleet::testing::xtts_golden_dir();
  if (!std::ifstream(golden + "/config.json").good()) GTEST_SKIP() << "no XTTS golden set at " << golden;
  auto runtime = load_torch_runtime();
  models::ModelSpec spec;
  spec.name = "xtts";
  spec.backend = "xtts";
  spec.device = "cpu";
  spec.files["config"] = golden + "/config.json";
  spec.options = {{"voice_store", false}, {"cuda_graphs", "yes"}};
  try {
    runtime->load_xtts(spec, "cpu");
    FAIL() << "expected ConfigError";
  } catch (const ConfigError& error) {
    EXPECT_NE(std::string(error.what()).find("static_decode and cuda_graphs (true or false)"),
              std::string::npos)
        << error.what();
  }
  spec.options = {{"voice_store", false}, {"cuda_graphs", true}, {"static_decode", false}};
  try {
    runtime->load_xtts(spec, "cpu");
    FAIL() << "expected ConfigError";
  } catch (const ConfigError& error) {
    EXPECT_NE(std::string(error.what()).find("needs the fixed-shape step"), std::string::npos)
        << error.what();
  }
  spec.options = {{"voice_store", false}, {"cuda_graphs", true}, {"static_decode", true}};
  EXPECT_NE(runtime->load_xtts(spec, "cpu"), nullptr);  // on the CPU the step runs eagerly
  spec.options = {{"voice_store", false}, {"static_decode", false}};
  EXPECT_NE(runtime->load_xtts(spec, "cpu"), nullptr);
}

}  // namespace
}  // namespace gpufleet::worker
