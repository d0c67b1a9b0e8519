#pragma once
// The acoustic half of a VITS voice (Piper, Coqui VITS): phoneme ids in, waveform out. The text half
// (piper_text) and the job handling (piper_voice) know nothing of LibTorch; the worker's
// LibTorch plugin implements this interface over a TorchScript module, so LibTorch's headers and its CUDA
// copies of libstdc++ stay behind the plugin boundary (see models/torch/runtime.hpp).

#include <cstdint>
#include <string>
#include <vector>

namespace gpufleet::models {

struct VitsSequence {
  std::vector<int64_t> ids;  // Piper's layout: ^ _ p _ ... $ (see piper_text.hpp)
  int64_t speaker = 0;       // ignored by single-speaker voices
};

// VITS's sampling scales; one set per call, as the exported module takes them.
struct VitsScales {
  float noise_scale = 0.667f;
  float length_scale = 1.0f;
  float noise_w = 0.8f;
  bool operator<(const VitsScales& other) const {
    if (noise_scale != other.noise_scale) return noise_scale < other.noise_scale;
    if (length_scale != other.length_scale) return length_scale < other.length_scale;
    return noise_w < other.noise_w;
  }
};

class VitsSynthesizer {
 public:
  virtual ~VitsSynthesizer() = default;
  // Runs all sequences as one padded batch and returns each one's waveform cut back to its own length.
  // Throws ModelError (kOutOfMemory when the device ran out of memory).
  virtual std::vector<std::vector<float>> synthesize(const std::vector<VitsSequence>& batch,
                                                     const VitsScales& scales) = 0;
  // Where it runs, e.g. "cpu", "cuda:1".
  virtual std::string device() const = 0;
};

}  // namespace gpufleet::models
