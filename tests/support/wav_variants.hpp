#pragma once
// WAV files in the encodings other tools write (8/24/32-bit PCM, 32/64-bit float, WAVE_FORMAT_EXTENSIBLE),
// built from 16-bit samples so that a reader of each must give back the same audio. For tests only.

#include <cstdint>
#include <cstring>
#include <span>
#include <string>

namespace gpufleet::testing {

struct WavVariant {
  uint16_t format = 1;  // 1: PCM, 3: float
  uint16_t bits = 16;   // per sample, in the container
  bool extensible = false;
};

inline std::string encode_wav_variant(std::span<const int16_t> samples, uint32_t rate, uint16_t channels,
                                      WavVariant variant) {
  auto u16 = [](std::string& out, uint16_t v) {
    out.push_back(static_cast<char>(v & 0xFF));
    out.push_back(static_cast<char>(v >> 8));
  };
  auto u32 = [&u16](std::string& out, uint32_t v) {
    u16(out, static_cast<uint16_t>(v & 0xFFFF));
    u16(out, static_cast<uint16_t>(v >> 16));
  };
  std::string data;
  for (int16_t sample : samples) {
    const double value = sample / 32768.0;
    if (variant.format == 3 && variant.bits == 32) {
      const float f = static_cast<float>(value);
      data.append(reinterpret_cast<const char*>(&f), 4);
    } else if (variant.format == 3) {
      data.append(reinterpret_cast<const char*>(&value), 8);
    } else if (variant.bits == 8) {
      data.push_back(static_cast<char>((sample >> 8) + 128));
    } else {
      // The 16-bit value shifted into the top of a wider container: the same level.
      const int64_t wide = static_cast<int64_t>(sample) * (int64_t{1} << (variant.bits - 16));
      for (int b = 0; b < variant.bits / 8; ++b) data.push_back(static_cast<char>((wide >> (8 * b)) & 0xFF));
    }
  }
  std::string fmt;
  u16(fmt, variant.extensible ? 0xFFFE : variant.format);
  u16(fmt, channels);
  u32(fmt, rate);
  u32(fmt, rate * channels * (variant.bits / 8));
  u16(fmt, static_cast<uint16_t>(channels * (variant.bits / 8)));
  u16(fmt, variant.bits);
  if (variant.extensible) {
    u16(fmt, 22);
    u16(fmt, variant.bits);  // valid bits
    u32(fmt, channels == 1 ? 0x4 : 0x3);
    u16(fmt, variant.format);
    fmt.append("\x00\x00\x00\x00\x10\x00\x80\x00\x00\xAA\x00\x38\x9B\x71", 14);
  }
  std::string out = "RIFF";
  u32(out, static_cast<uint32_t>(4 + 8 + fmt.size() + 8 + data.size()));
  out += "WAVEfmt ";
  u32(out, static_cast<uint32_t>(fmt.size()));
  out += fmt;
  out += "data";
  u32(out, static_cast<uint32_t>(data.size()));
  out += data;
  return out;
}

}  // namespace gpufleet::testing
