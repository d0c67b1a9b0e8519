// Fuzz target: the container check of uploaded videos (MP4, MOV, WebM from clients). Either a clean
// refusal or a header that says what it found, never a read past the bytes.
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "common/video_probe.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view bytes(reinterpret_cast<const char*>(data), size);
  if (auto header = gpufleet::probe_video(bytes)) {
    if (header->duration_s && !(*header->duration_s > 0)) std::abort();
    if (!header->has_video && (header->width != 0 || header->height != 0)) std::abort();
  }
  return 0;
}
