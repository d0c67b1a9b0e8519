// Fuzz target: reading a WAV file (speaker references are WAVs from clients). Either a clean refusal or a
// header whose sample count fits the bytes.
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "common/wav.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view bytes(reinterpret_cast<const char*>(data), size);
  if (auto info = gpufleet::parse_wav(bytes)) {
    const auto samples = gpufleet::wav_samples_pcm16(bytes, *info);
    if (samples.size() * 2 > size) std::abort();
    const auto floats = gpufleet::wav_samples_float(bytes, *info);
    if (floats.size() > size) std::abort();
    for (float value : floats) {
      if (!(value >= -1.0f && value <= 1.0f)) std::abort();
    }
    if (gpufleet::wav_mono_pcm16(bytes, *info).size() > floats.size()) std::abort();
  }
  return 0;
}
