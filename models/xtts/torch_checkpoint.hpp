#pragma once
// Reads the tensors of a checkpoint written by torch.save (zip archive + pickle, protocol 2) without
// LibTorch: LibTorch's own unpickler refuses the SETITEM opcodes that torch.save's dicts use. Only what a
// state_dict needs is understood (dicts, OrderedDict, tuples, rebuilt tensors over typed storages); any
// other object is kept as an opaque value so that trainer checkpoints with extra entries still load.
// Every offset and size comes from an untrusted file and is checked.

#include <cstdint>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "models/xtts/safetensors.hpp"

namespace gpufleet::xtts {

// A tensor with its bytes copied out contiguous, row-major, little-endian.
struct OwnedTensor {
  DType dtype = DType::kF32;
  std::vector<int64_t> shape;
  std::string bytes;
};

using TensorMap = std::map<std::string, OwnedTensor>;

// All tensors reachable through dicts from the pickle's root, named by their dotted key path
// ({"model": {"gpt.x": t}} gives "model.gpt.x"). Throws ModelError(kModelError) on a malformed file.
TensorMap read_torch_checkpoint(const std::filesystem::path& path);

// An XTTS state dict from a released or trainer checkpoint: the "model." wrapper and a trainer's "xtts."
// prefix removed, "dvae.*" dropped, weight norm as weight_g / weight_v whichever way it was stored.
TensorMap xtts_state_dict(TensorMap&& checkpoint);

// Writes tensors in the safetensors format, names sorted, header padded to 8 bytes.
void write_safetensors(const std::filesystem::path& path, const TensorMap& tensors);

}  // namespace gpufleet::xtts
