#include "common/image_probe.hpp"

namespace gpufleet {

namespace {

uint32_t big_endian(std::string_view bytes, size_t at, size_t width) {
  uint32_t value = 0;
  for (size_t i = 0; i < width; ++i) value = (value << 8) | static_cast<unsigned char>(bytes[at + i]);
  return value;
}

std::optional<ImageHeader> probe_png(std::string_view bytes) {
  // Signature, then the IHDR chunk: length 13, "IHDR", width, height.
  static constexpr std::string_view kSignature("\x89PNG\r\n\x1a\n", 8);
  if (bytes.size() < 33 || bytes.substr(0, 8) != kSignature || bytes.substr(12, 4) != "IHDR")
    return std::nullopt;
  if (big_endian(bytes, 8, 4) != 13) return std::nullopt;
  ImageHeader header{ImageFormat::kPng, big_endian(bytes, 16, 4), big_endian(bytes, 20, 4)};
  if (header.width == 0 || header.height == 0) return std::nullopt;
  return header;
}

std::optional<ImageHeader> probe_jpeg(std::string_view bytes) {
  if (bytes.size() < 4 || static_cast<unsigned char>(bytes[0]) != 0xFF ||
      static_cast<unsigned char>(bytes[1]) != 0xD8) {
    return std::nullopt;
  }
  size_t at = 2;
  // Walk the marker segments up to the frame header (SOF0..SOF15 except DHT 0xC4, JPG 0xC8, DAC 0xCC).
  while (at + 4 <= bytes.size()) {
    if (static_cast<unsigned char>(bytes[at]) != 0xFF) return std::nullopt;
    const auto marker = static_cast<unsigned char>(bytes[at + 1]);
    if (marker == 0xFF) {  // fill byte
      ++at;
      continue;
    }
    if (marker == 0xD9 || marker == 0xDA) return std::nullopt;  // end of image or scan before any frame
    const uint32_t length = big_endian(bytes, at + 2, 2);
    if (length < 2 || at + 2 + length > bytes.size()) return std::nullopt;
    const bool frame = marker >= 0xC0 && marker <= 0xCF && marker != 0xC4 && marker != 0xC8 && marker != 0xCC;
    if (frame) {
      if (length < 7) return std::nullopt;
      ImageHeader header{ImageFormat::kJpeg, big_endian(bytes, at + 7, 2), big_endian(bytes, at + 5, 2)};
      if (header.width == 0 || header.height == 0) return std::nullopt;
      return header;
    }
    at += 2 + length;
  }
  return std::nullopt;
}

}  // namespace

const char* image_content_type(ImageFormat format) {
  return format == ImageFormat::kPng ? "image/png" : "image/jpeg";
}
const char* image_extension(ImageFormat format) {
  return format == ImageFormat::kPng ? "png" : "jpg";
}

std::optional<ImageHeader> probe_image(std::string_view bytes) {
  if (auto png = probe_png(bytes)) return png;
  return probe_jpeg(bytes);
}

}  // namespace gpufleet
