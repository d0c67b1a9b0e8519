#include "common/wav.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>

namespace gpufleet {
namespace {

void put_u32(std::string& out, uint32_t value) {
  for (int i = 0; i < 4; ++i) out.push_back(static_cast<char>((value >> (8 * i)) & 0xFF));
}
void put_u16(std::string& out, uint16_t value) {
  out.push_back(static_cast<char>(value & 0xFF));
  out.push_back(static_cast<char>(value >> 8));
}
uint32_t get_u32(std::string_view in, size_t at) {
  uint32_t value = 0;
  for (int i = 3; i >= 0; --i) value = (value << 8) | static_cast<uint8_t>(in[at + i]);
  return value;
}
uint16_t get_u16(std::string_view in, size_t at) {
  return static_cast<uint16_t>(static_cast<uint8_t>(in[at]) | (static_cast<uint8_t>(in[at + 1]) << 8));
}

constexpr uint16_t kFormatExtensible = 0xFFFE;
constexpr std::string_view kSubformatTail{"\x00\x00\x00\x00\x10\x00\x80\x00\x00\xAA\x00\x38\x9B\x71", 14};

}  // namespace

std::string wav_header_pcm16(uint32_t sample_rate, uint16_t channels, std::optional<uint32_t> data_bytes) {
  std::string out;
  out.append("RIFF");
  put_u32(out, data_bytes ? 36 + *data_bytes : 0xFFFFFFFFu);
  out.append("WAVE");
  out.append("fmt ");
  put_u32(out, 16);
  put_u16(out, 1);
  put_u16(out, channels);
  put_u32(out, sample_rate);
  put_u32(out, sample_rate * channels * 2);
  put_u16(out, static_cast<uint16_t>(channels * 2));
  put_u16(out, 16);
  out.append("data");
  put_u32(out, data_bytes.value_or(0xFFFFFFFFu));
  return out;
}

std::string encode_wav_pcm16(std::span<const int16_t> samples, uint32_t sample_rate, uint16_t channels) {
  const uint32_t data_bytes = static_cast<uint32_t>(samples.size() * sizeof(int16_t));
  std::string out = wav_header_pcm16(sample_rate, channels, data_bytes);
  // WAV is little-endian, like every host the fleet runs on.
  out.append(reinterpret_cast<const char*>(samples.data()), data_bytes);
  return out;
}

std::optional<WavInfo> parse_wav(std::string_view bytes) {
  if (bytes.size() < 12 || bytes.substr(0, 4) != "RIFF" || bytes.substr(8, 4) != "WAVE") return std::nullopt;
  WavInfo info;
  bool have_format = false;
  size_t at = 12;
  while (at + 8 <= bytes.size()) {
    std::string_view id = bytes.substr(at, 4);
    const size_t size = get_u32(bytes, at + 4);
    const size_t body = at + 8;
    if (id == "fmt ") {
      if (size < 16 || body + 16 > bytes.size()) return std::nullopt;
      info.format = get_u16(bytes, body);
      info.channels = get_u16(bytes, body + 2);
      info.sample_rate = get_u32(bytes, body + 4);
      info.bits_per_sample = get_u16(bytes, body + 14);
      if (info.channels == 0 || info.sample_rate == 0 || info.bits_per_sample == 0) return std::nullopt;
      if (info.format == kFormatExtensible) {
        // cbSize 22: valid bits, channel mask, then the subformat GUID, whose first two bytes are the format
        // code and the rest KSDATAFORMAT's fixed tail.
        if (size < 40 || body + 40 > bytes.size() || get_u16(bytes, body + 16) < 22) return std::nullopt;
        if (bytes.substr(body + 26, 14) != kSubformatTail) return std::nullopt;
        info.format = get_u16(bytes, body + 24);
      }
      have_format = true;
    } else if (id == "data") {
      if (!have_format) return std::nullopt;
      // Streaming writers put 0 or 0xFFFFFFFF in the size; take what the file really has.
      size_t available = bytes.size() - body;
      info.data_offset = body;
      info.data_bytes = (size == 0 || size > available) ? available : size;
      const size_t frame_bytes = static_cast<size_t>(info.channels) * ((info.bits_per_sample + 7) / 8);
      info.frames = info.data_bytes / frame_bytes;
      return info;
    }
    if (size > bytes.size() - body) return std::nullopt;
    at = body + size + (size & 1);  // chunks are word-aligned
  }
  return std::nullopt;
}

bool wav_decodable(const WavInfo& info) {
  const auto bits = info.bits_per_sample;
  if (info.format == 1) return bits == 8 || bits == 16 || bits == 24 || bits == 32;
  return info.format == 3 && (bits == 32 || bits == 64);
}

std::vector<float> wav_samples_float(std::string_view bytes, const WavInfo& info) {
  std::vector<float> samples;
  if (!wav_decodable(info)) return samples;
  const size_t width = info.bits_per_sample / 8;
  const size_t count = info.frames * info.channels;
  if (count * width > info.data_bytes || info.data_offset + count * width > bytes.size()) return samples;
  samples.resize(count);
  const char* data = bytes.data() + info.data_offset;
  for (size_t i = 0; i < count; ++i) {
    const auto* p = reinterpret_cast<const uint8_t*>(data + i * width);
    float value = 0;
    if (info.format == 3 && width == 4) {
      std::memcpy(&value, p, 4);
    } else if (info.format == 3) {
      double wide = 0;
      std::memcpy(&wide, p, 8);
      value = static_cast<float>(wide);
    } else if (width == 1) {
      value = (static_cast<float>(p[0]) - 128.0f) / 128.0f;  // 8-bit PCM is unsigned
    } else {
      // Little-endian signed integer of `width` bytes, scaled by its full range.
      const int64_t top = p[width - 1];  // unsigned byte: its high bit is the sign
      int64_t integer = top >= 0x80 ? top - 0x100 : top;
      for (size_t b = width - 1; b-- > 0;) integer = integer * 256 + p[b];
      value = static_cast<float>(static_cast<double>(integer) /
                                 static_cast<double>(int64_t{1} << (8 * width - 1)));
    }
    samples[i] = std::isfinite(value) ? std::clamp(value, -1.0f, 1.0f) : 0.0f;
  }
  return samples;
}

std::vector<int16_t> wav_mono_pcm16(std::string_view bytes, const WavInfo& info) {
  const auto samples = wav_samples_float(bytes, info);
  std::vector<int16_t> mono(samples.empty() ? 0 : info.frames);
  const size_t channels = info.channels;
  for (size_t frame = 0; frame < mono.size(); ++frame) {
    float sum = 0;
    for (size_t c = 0; c < channels; ++c) sum += samples[frame * channels + c];
    // x 32768, the inverse of the 16-bit decode, so 16-bit audio comes back bit for bit.
    const float scaled = std::round(sum / static_cast<float>(channels) * 32768.0f);
    mono[frame] = static_cast<int16_t>(std::clamp(scaled, -32768.0f, 32767.0f));
  }
  return mono;
}

std::vector<int16_t> wav_samples_pcm16(std::string_view bytes, const WavInfo& info) {
  std::vector<int16_t> samples;
  if (info.format != 1 || info.bits_per_sample != 16) return samples;
  samples.resize(info.data_bytes / 2);
  // memcpy from or to a null pointer is undefined even for 0 bytes (found by fuzz/wav_fuzz.cpp).
  if (samples.empty()) return samples;
  std::memcpy(samples.data(), bytes.data() + info.data_offset, samples.size() * 2);
  return samples;
}

}  // namespace gpufleet
