#pragma once
// A finished video file (what a video job wrote: MP4, MOV or WebM, whatever GStreamer's decodebin reads)
// decoded into raw pictures (I420) and sound (16-bit mono at 48 kHz) for a WebRTC session to send. Decoding
// runs on GStreamer's threads only as far ahead as the session takes samples (small bounded queues), so
// memory stays bounded whatever the file's length. Timestamps are the file's own, from its start: picture
// and sound keep their relation, which is what keeps them in sync on the wire. Internal to media/ (GStreamer
// types); the pacing thread is its one caller.

#include <gst/gst.h>

#include <atomic>
#include <memory>
#include <optional>
#include <string>
#include <variant>

namespace gpufleet::media {

// A GstSample owned by its holder.
struct SampleUnref {
  void operator()(GstSample* sample) const { gst_sample_unref(sample); }
};
using SamplePtr = std::unique_ptr<GstSample, SampleUnref>;

class GstVideoFile {
 public:
  // Starts decoding `path`; the reason when no pipeline could be built. A file that exists but does not
  // decode is found out later (failed()).
  static std::variant<std::unique_ptr<GstVideoFile>, std::string> open(const std::string& path);
  ~GstVideoFile();
  GstVideoFile(const GstVideoFile&) = delete;
  GstVideoFile& operator=(const GstVideoFile&) = delete;

  // The next decoded picture or sound, if one is ready; nullptr otherwise (not yet, or the stream is done).
  SamplePtr next_picture();
  SamplePtr next_sound();
  // The stream has given everything it has (or the file has none: decodebin found all its streams and none
  // of this kind).
  bool picture_done() const;
  bool sound_done() const;
  // Why decoding stopped short (a file that is no video, a codec missing), once it has.
  std::optional<std::string> failed();

 private:
  GstVideoFile() = default;
  static void on_pad_added(GstElement* decodebin, GstPad* pad, gpointer self);
  static void on_no_more_pads(GstElement* decodebin, gpointer self);
  bool done(GstElement* sink, GstElement* branch) const;

  GstElement* pipeline_ = nullptr;
  GstElement* picture_in_ = nullptr;  // the branches' first elements and their sinks; owned by pipeline_
  GstElement* sound_in_ = nullptr;
  GstElement* picture_sink_ = nullptr;
  GstElement* sound_sink_ = nullptr;
  std::atomic<bool> all_pads_{false};  // decodebin has added every stream's pad
  std::optional<std::string> failure_;
};

}  // namespace gpufleet::media
