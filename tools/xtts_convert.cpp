// gpufleet-xtts-convert: turns an upstream XTTS-v2 checkpoint (model.pth from torch.save, released or trainer
// layout) into the safetensors file the native engine loads. Needs neither Python nor LibTorch.
//
//   gpufleet-xtts-convert model.pth model.safetensors
#include <cstdio>
#include <exception>
#include <string_view>

#include "common/usage.hpp"
#include "models/xtts/torch_checkpoint.hpp"

namespace {

constexpr std::string_view kUsage =
    "usage: gpufleet-xtts-convert MODEL.pth OUT.safetensors\n"
    "  Turns an upstream XTTS-v2 checkpoint (torch.save, released or trainer layout) into the safetensors\n"
    "  file the native engine loads.\n";

}  // namespace

int main(int argc, char** argv) {
  if (gpufleet::asks_for_help(argc, argv)) return gpufleet::print_usage(kUsage);
  if (argc != 3) {
    return gpufleet::usage_error("gpufleet-xtts-convert", "takes two file names", kUsage);
  }
  try {
    auto tensors = gpufleet::xtts::xtts_state_dict(gpufleet::xtts::read_torch_checkpoint(argv[1]));
    size_t bytes = 0;
    for (const auto& [name, tensor] : tensors) bytes += tensor.bytes.size();
    gpufleet::xtts::write_safetensors(argv[2], tensors);
    std::printf("wrote %zu tensors (%.1f MB) to %s\n", tensors.size(), bytes / 1e6, argv[2]);
  } catch (const std::exception& error) {
    std::fprintf(stderr, "gpufleet-xtts-convert: %s\n", error.what());
    return 1;
  }
  return 0;
}
