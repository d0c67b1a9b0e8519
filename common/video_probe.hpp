#pragma once
// The container and, where its header states them, the picture size and duration of an uploaded video (MP4,
// QuickTime MOV, WebM), read from the container's own structure without decoding anything: the gateway
// refuses what is not a video of those kinds, has no video track, or says it is too long or too large before
// the file is stored, and the worker's decoder (which checks again, frame by frame) never sees the rest.
// Every length field is checked against the bytes there are; nesting and the number of boxes or elements
// read are bounded, so a hostile file costs at most a linear walk.

#include <cstdint>
#include <optional>
#include <string_view>

namespace gpufleet {

enum class VideoContainer { kMp4, kQuickTime, kWebm };

struct VideoHeader {
  VideoContainer container = VideoContainer::kMp4;
  bool has_video = false;  // a video track is declared
  bool has_audio = false;
  uint32_t width = 0;  // of the first video track; 0 when the header does not say
  uint32_t height = 0;
  std::optional<double> duration_s;  // the container's own; nullopt when it does not say (a live WebM)
};

const char* video_content_type(VideoContainer container);  // "video/mp4", "video/quicktime", "video/webm"
const char* video_extension(VideoContainer container);     // "mp4", "mov", "webm"

// nullopt for anything that is not an ISO base media file (an ftyp box first, then a moov box among the
// top-level boxes) or an EBML file of doc type "webm" with a Segment, and for one whose structure runs past
// its bytes.
std::optional<VideoHeader> probe_video(std::string_view bytes);

}  // namespace gpufleet
