#pragma once
// RIFF/WAVE encoding of 16-bit PCM, and a strict parser used to validate results and uploaded references:
// integer PCM of 8, 16, 24 or 32 bits and IEEE float of 32 or 64 bits, plain or as WAVE_FORMAT_EXTENSIBLE
// (which many tools write even for 16-bit audio).

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace gpufleet {

std::string encode_wav_pcm16(std::span<const int16_t> samples, uint32_t sample_rate, uint16_t channels = 1);
// The 44-byte header alone; without `data_bytes`, of a stream of unknown length (sizes 0xFFFFFFFF, as
// streaming WAV writers mark it).
std::string wav_header_pcm16(uint32_t sample_rate, uint16_t channels, std::optional<uint32_t> data_bytes);

struct WavInfo {
  uint32_t sample_rate = 0;
  uint16_t channels = 0;
  uint16_t bits_per_sample = 0;
  uint16_t format = 0;  // 1: integer PCM, 3: IEEE float; for WAVE_FORMAT_EXTENSIBLE, its subformat's
  size_t frames = 0;
  size_t data_offset = 0;
  size_t data_bytes = 0;

  double duration_s() const { return sample_rate == 0 ? 0.0 : static_cast<double>(frames) / sample_rate; }
};

// nullopt when `bytes` is not a well-formed WAV file (chunks bounded by the buffer, fmt before data).
std::optional<WavInfo> parse_wav(std::string_view bytes);

// The 16-bit samples of a parsed PCM WAV (all channels interleaved).
std::vector<int16_t> wav_samples_pcm16(std::string_view bytes, const WavInfo& info);

// Whether wav_samples_float reads this encoding: PCM of 8 (unsigned), 16, 24 or 32 bits, float of 32 or 64.
bool wav_decodable(const WavInfo& info);
// The samples of a parsed WAV as floats in [-1, 1] (all channels interleaved; a non-finite float is 0);
// empty when the encoding is not decodable.
std::vector<float> wav_samples_float(std::string_view bytes, const WavInfo& info);
// wav_samples_float mixed to mono (the channels' mean) and rounded to 16 bits.
std::vector<int16_t> wav_mono_pcm16(std::string_view bytes, const WavInfo& info);

}  // namespace gpufleet
