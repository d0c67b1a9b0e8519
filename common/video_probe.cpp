#include "common/video_probe.hpp"

#include <cmath>
#include <cstring>
#include <string>

namespace gpufleet {

namespace {

// Bounds on the walk: real files have a handful of top-level boxes and a few dozen elements before the
// first cluster; a file made of millions of empty boxes is refused rather than walked.
constexpr int kMaxItems = 4096;

uint64_t big_endian(std::string_view bytes, size_t at, size_t count) {
  uint64_t value = 0;
  for (size_t i = 0; i < count; ++i) value = (value << 8) | static_cast<unsigned char>(bytes[at + i]);
  return value;
}

// ---- ISO base media (MP4, MOV) ----

struct Box {
  std::string_view type;
  std::string_view body;
};

// Splits `bytes` into boxes, in order; `malformed` once a box's size runs past the bytes or below its
// header.
class BoxWalk {
 public:
  explicit BoxWalk(std::string_view bytes) : rest_(bytes) {}
  std::optional<Box> next() {
    if (rest_.empty() || malformed_) return std::nullopt;
    if (rest_.size() < 8 || ++items_ > kMaxItems) return fail();
    uint64_t size = big_endian(rest_, 0, 4);
    size_t header = 8;
    if (size == 1) {
      if (rest_.size() < 16) return fail();
      size = big_endian(rest_, 8, 8);
      header = 16;
    } else if (size == 0) {
      size = rest_.size();  // the last box, to the end of the file
    }
    if (size < header || size > rest_.size()) return fail();
    Box box{rest_.substr(4, 4), rest_.substr(header, static_cast<size_t>(size) - header)};
    rest_.remove_prefix(static_cast<size_t>(size));
    return box;
  }
  bool malformed() const { return malformed_; }

 private:
  std::optional<Box> fail() {
    malformed_ = true;
    return std::nullopt;
  }
  std::string_view rest_;
  int items_ = 0;
  bool malformed_ = false;
};

// The first child box of `type`, or nullopt (also when the children are malformed).
std::optional<std::string_view> child(std::string_view parent, std::string_view type) {
  BoxWalk walk(parent);
  while (auto box = walk.next()) {
    if (box->type == type) return box->body;
  }
  return std::nullopt;
}

struct Track {
  std::string_view handler;  // "vide", "soun", ...
  uint32_t width = 0, height = 0;
};

Track read_track(std::string_view trak) {
  Track track;
  if (auto mdia = child(trak, "mdia")) {
    // hdlr: version/flags (4), pre_defined (4), handler_type (4).
    if (auto hdlr = child(*mdia, "hdlr"); hdlr && hdlr->size() >= 12) track.handler = hdlr->substr(8, 4);
  }
  if (auto tkhd = child(trak, "tkhd"); tkhd && !tkhd->empty()) {
    // After the version's times, id and duration: 8 reserved, layer, group, volume, 2 reserved, a 36-byte
    // matrix, then width and height as 16.16 fixed point.
    const size_t at = (*tkhd)[0] == 1 ? 4 + 8 + 8 + 4 + 4 + 8 + 52 : 4 + 4 + 4 + 4 + 4 + 4 + 52;
    if (tkhd->size() >= at + 8) {
      track.width = static_cast<uint32_t>(big_endian(*tkhd, at, 4) >> 16);
      track.height = static_cast<uint32_t>(big_endian(*tkhd, at + 4, 4) >> 16);
    }
  }
  return track;
}

std::optional<VideoHeader> probe_iso(std::string_view bytes) {
  BoxWalk top(bytes);
  auto first = top.next();
  if (!first || first->type != "ftyp" || first->body.size() < 8) return std::nullopt;
  VideoHeader header;
  header.container = first->body.substr(0, 4) == "qt  " ? VideoContainer::kQuickTime : VideoContainer::kMp4;
  std::optional<std::string_view> moov;
  while (auto box = top.next()) {
    if (box->type == "moov" && !moov) moov = box->body;
  }
  if (top.malformed() || !moov) return std::nullopt;
  if (auto mvhd = child(*moov, "mvhd"); mvhd && !mvhd->empty()) {
    const bool wide = (*mvhd)[0] == 1;
    const size_t at = wide ? 4 + 8 + 8 : 4 + 4 + 4;  // timescale, then duration
    if (mvhd->size() >= at + 4 + (wide ? 8 : 4)) {
      const uint64_t timescale = big_endian(*mvhd, at, 4);
      const uint64_t duration = big_endian(*mvhd, at + 4, wide ? 8 : 4);
      const uint64_t unknown = wide ? ~uint64_t{0} : 0xFFFFFFFFu;
      // A fragmented file's movie header says 0: its length is in the fragments, not stated up front.
      if (timescale > 0 && duration > 0 && duration != unknown) {
        header.duration_s = static_cast<double>(duration) / static_cast<double>(timescale);
      }
    }
  }
  BoxWalk boxes(*moov);
  while (auto box = boxes.next()) {
    if (box->type != "trak") continue;
    const auto track = read_track(box->body);
    if (track.handler == "vide" && !header.has_video) {
      header.has_video = true;
      header.width = track.width;
      header.height = track.height;
    } else if (track.handler == "soun") {
      header.has_audio = true;
    }
  }
  if (boxes.malformed()) return std::nullopt;
  return header;
}

// ---- EBML (WebM) ----

constexpr uint32_t kEbmlHeader = 0x1A45DFA3;
constexpr uint32_t kDocType = 0x4282;
constexpr uint32_t kSegment = 0x18538067;
constexpr uint32_t kInfo = 0x1549A966;
constexpr uint32_t kTimestampScale = 0x2AD7B1;
constexpr uint32_t kDuration = 0x4489;
constexpr uint32_t kTracks = 0x1654AE6B;
constexpr uint32_t kTrackEntry = 0xAE;
constexpr uint32_t kTrackType = 0x83;
constexpr uint32_t kVideo = 0xE0;
constexpr uint32_t kPixelWidth = 0xB0;
constexpr uint32_t kPixelHeight = 0xBA;
constexpr uint32_t kCluster = 0x1F43B675;

struct Element {
  uint32_t id = 0;
  std::string_view body;
  bool unknown_size = false;  // runs to the end of its parent (live streams)
};

class ElementWalk {
 public:
  explicit ElementWalk(std::string_view bytes) : rest_(bytes) {}
  std::optional<Element> next() {
    if (rest_.empty() || malformed_) return std::nullopt;
    if (++items_ > kMaxItems) return fail();
    Element element;
    size_t at = 0;
    // The id: 1-4 bytes, its length told by the first byte's leading zeros; kept with its marker bits.
    const auto first = static_cast<unsigned char>(rest_[0]);
    const int id_length = first >= 0x80 ? 1 : first >= 0x40 ? 2 : first >= 0x20 ? 3 : first >= 0x10 ? 4 : 0;
    if (id_length == 0 || rest_.size() < static_cast<size_t>(id_length) + 1) return fail();
    element.id = static_cast<uint32_t>(big_endian(rest_, 0, static_cast<size_t>(id_length)));
    at = static_cast<size_t>(id_length);
    // The size: 1-8 bytes, the marker bit removed; all ones means unknown.
    const auto lead = static_cast<unsigned char>(rest_[at]);
    int size_length = 0;
    for (int bit = 7; bit >= 0; --bit) {
      if (lead & (1u << bit)) {
        size_length = 8 - bit;
        break;
      }
    }
    if (size_length == 0 || rest_.size() < at + static_cast<size_t>(size_length)) return fail();
    uint64_t size = big_endian(rest_, at, static_cast<size_t>(size_length));
    const uint64_t marker = uint64_t{1} << (7 * size_length);
    size &= marker - 1;
    at += static_cast<size_t>(size_length);
    if (size == marker - 1) {
      element.unknown_size = true;
      size = rest_.size() - at;
    }
    if (size > rest_.size() - at) return fail();
    element.body = rest_.substr(at, static_cast<size_t>(size));
    rest_.remove_prefix(at + static_cast<size_t>(size));
    return element;
  }
  bool malformed() const { return malformed_; }

 private:
  std::optional<Element> fail() {
    malformed_ = true;
    return std::nullopt;
  }
  std::string_view rest_;
  int items_ = 0;
  bool malformed_ = false;
};

std::optional<uint64_t> unsigned_value(std::string_view body) {
  if (body.empty() || body.size() > 8) return std::nullopt;
  return big_endian(body, 0, body.size());
}

std::optional<double> float_value(std::string_view body) {
  if (body.size() == 4) {
    const auto bits = static_cast<uint32_t>(big_endian(body, 0, 4));
    float value = 0;
    std::memcpy(&value, &bits, 4);
    return static_cast<double>(value);
  }
  if (body.size() == 8) {
    const uint64_t bits = big_endian(body, 0, 8);
    double value = 0;
    std::memcpy(&value, &bits, 8);
    return value;
  }
  return std::nullopt;
}

void read_tracks(std::string_view tracks, VideoHeader& header) {
  ElementWalk entries(tracks);
  while (auto entry = entries.next()) {
    if (entry->id != kTrackEntry) continue;
    std::optional<uint64_t> type;
    uint32_t width = 0, height = 0;
    ElementWalk fields(entry->body);
    while (auto field = fields.next()) {
      if (field->id == kTrackType) type = unsigned_value(field->body);
      if (field->id != kVideo) continue;
      ElementWalk picture(field->body);
      while (auto value = picture.next()) {
        const auto number = unsigned_value(value->body).value_or(0);
        if (number > 0xFFFFFFFFu) continue;
        if (value->id == kPixelWidth) width = static_cast<uint32_t>(number);
        if (value->id == kPixelHeight) height = static_cast<uint32_t>(number);
      }
    }
    if (type == 1u && !header.has_video) {
      header.has_video = true;
      header.width = width;
      header.height = height;
    } else if (type == 2u) {
      header.has_audio = true;
    }
  }
}

std::optional<VideoHeader> probe_webm(std::string_view bytes) {
  ElementWalk top(bytes);
  auto ebml = top.next();
  if (!ebml || ebml->id != kEbmlHeader) return std::nullopt;
  std::optional<std::string_view> doc_type;
  ElementWalk fields(ebml->body);
  while (auto field = fields.next()) {
    if (field->id == kDocType) doc_type = field->body;
  }
  if (fields.malformed() || !doc_type) return std::nullopt;
  // The string may be padded with zero bytes.
  std::string type(*doc_type);
  while (!type.empty() && type.back() == '\0') type.pop_back();
  if (type != "webm") return std::nullopt;
  auto segment = top.next();
  while (segment && segment->id != kSegment) segment = top.next();
  if (!segment) return std::nullopt;
  VideoHeader header;
  header.container = VideoContainer::kWebm;
  uint64_t timestamp_scale = 1'000'000;  // nanoseconds per tick, Matroska's default
  std::optional<double> ticks;
  ElementWalk children(segment->body);
  while (auto element = children.next()) {
    if (element->id == kCluster) break;  // the header elements come before the first cluster
    if (element->id == kInfo) {
      ElementWalk info(element->body);
      while (auto value = info.next()) {
        if (value->id == kTimestampScale) timestamp_scale = unsigned_value(value->body).value_or(0);
        if (value->id == kDuration) ticks = float_value(value->body);
      }
    } else if (element->id == kTracks) {
      read_tracks(element->body, header);
    }
    if (element->unknown_size) break;
  }
  if (children.malformed()) return std::nullopt;
  if (ticks && *ticks > 0 && *ticks < 1e18 && timestamp_scale > 0) {
    // A tiny positive tick count times a small scale can underflow to 0 s: that states no duration either.
    const double seconds = *ticks * static_cast<double>(timestamp_scale) / 1e9;
    if (seconds > 0 && std::isfinite(seconds)) header.duration_s = seconds;
  }
  return header;
}

}  // namespace

const char* video_content_type(VideoContainer container) {
  switch (container) {
    case VideoContainer::kMp4:
      return "video/mp4";
    case VideoContainer::kQuickTime:
      return "video/quicktime";
    case VideoContainer::kWebm:
      return "video/webm";
  }
  return "video/mp4";
}

const char* video_extension(VideoContainer container) {
  switch (container) {
    case VideoContainer::kMp4:
      return "mp4";
    case VideoContainer::kQuickTime:
      return "mov";
    case VideoContainer::kWebm:
      return "webm";
  }
  return "mp4";
}

std::optional<VideoHeader> probe_video(std::string_view bytes) {
  if (bytes.size() >= 8 && bytes.substr(4, 4) == "ftyp") return probe_iso(bytes);
  if (bytes.size() >= 4 && big_endian(bytes, 0, 4) == kEbmlHeader) return probe_webm(bytes);
  return std::nullopt;
}

}  // namespace gpufleet
