#pragma once
// The format and size of a PNG or JPEG from its header alone, so that a portrait is checked (type, pixel
// count) before anything decodes it: a 100000 x 100000 PNG of a few kilobytes must be refused, not
// allocated. Only what the headers state is read; whether the rest decodes is the decoder's business.

#include <cstdint>
#include <optional>
#include <string_view>

namespace gpufleet {

enum class ImageFormat { kPng, kJpeg };

struct ImageHeader {
  ImageFormat format = ImageFormat::kPng;
  uint32_t width = 0;
  uint32_t height = 0;
};

const char* image_content_type(ImageFormat format);  // "image/png", "image/jpeg"
const char* image_extension(ImageFormat format);     // "png", "jpg"

// nullopt for anything but a PNG (IHDR first) or a baseline/progressive JPEG whose frame header lies
// within `bytes`, and for zero sizes.
std::optional<ImageHeader> probe_image(std::string_view bytes);

}  // namespace gpufleet
