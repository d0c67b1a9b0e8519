// The decode pipeline:
//   filesrc ! decodebin, its picture pad ! videoconvert ! I420 ! appsink (8 pictures at most)
//                        its sound pad   ! audioconvert ! audioresample ! S16LE mono 48 kHz ! appsink (64)
// The appsinks do not sync to a clock: the session takes samples when they are due, and a full appsink
// holds decoding back until then.

#include "media/gst_video_file.hpp"

#include <gst/app/gstappsink.h>

#include <string_view>

namespace gpufleet::media {

namespace {

constexpr const char* kPipeline =
    "filesrc name=file ! decodebin name=decode"
    "  videoconvert name=picture_in ! video/x-raw,format=I420"
    "    ! appsink name=picture sync=false max-buffers=8 enable-last-sample=false"
    "  audioconvert name=sound_in ! audioresample"
    "    ! audio/x-raw,format=S16LE,layout=interleaved,rate=48000,channels=1"
    "    ! appsink name=sound sync=false max-buffers=64 enable-last-sample=false";

GstElement* borrowed(GstElement* pipeline, const char* name) {
  GstElement* element = gst_bin_get_by_name(GST_BIN(pipeline), name);
  gst_object_unref(element);  // the pipeline keeps it alive
  return element;
}

}  // namespace

std::variant<std::unique_ptr<GstVideoFile>, std::string> GstVideoFile::open(const std::string& path) {
  GError* error = nullptr;
  GstElement* pipeline = gst_parse_launch(kPipeline, &error);
  if (error) {
    std::string message = error->message;
    g_error_free(error);
    if (pipeline) gst_object_unref(pipeline);
    return "the video decoder could not be built: " + message;
  }
  std::unique_ptr<GstVideoFile> file(new GstVideoFile());
  file->pipeline_ = pipeline;
  // The path goes in as a property, never into the pipeline's text, where its characters would be syntax.
  g_object_set(borrowed(pipeline, "file"), "location", path.c_str(), nullptr);
  file->picture_in_ = borrowed(pipeline, "picture_in");
  file->sound_in_ = borrowed(pipeline, "sound_in");
  file->picture_sink_ = borrowed(pipeline, "picture");
  file->sound_sink_ = borrowed(pipeline, "sound");
  GstElement* decode = borrowed(pipeline, "decode");
  g_signal_connect(decode, "pad-added", G_CALLBACK(&GstVideoFile::on_pad_added), file.get());
  g_signal_connect(decode, "no-more-pads", G_CALLBACK(&GstVideoFile::on_no_more_pads), file.get());
  if (gst_element_set_state(pipeline, GST_STATE_PLAYING) == GST_STATE_CHANGE_FAILURE)
    return "the video file could not be opened";
  return file;
}

GstVideoFile::~GstVideoFile() {
  if (!pipeline_) return;
  gst_element_set_state(pipeline_, GST_STATE_NULL);  // waits for the streaming threads
  gst_object_unref(pipeline_);
}

// A streaming thread: links the stream to the branch of its kind (the first stream of each kind only).
void GstVideoFile::on_pad_added(GstElement*, GstPad* pad, gpointer self) {
  auto* file = static_cast<GstVideoFile*>(self);
  GstCaps* caps = gst_pad_get_current_caps(pad);
  if (!caps) caps = gst_pad_query_caps(pad, nullptr);
  const std::string_view kind = gst_structure_get_name(gst_caps_get_structure(caps, 0));
  GstElement* branch = kind.substr(0, 6) == "video/"   ? file->picture_in_
                       : kind.substr(0, 6) == "audio/" ? file->sound_in_
                                                       : nullptr;
  gst_caps_unref(caps);
  if (!branch) return;
  GstPad* sink = gst_element_get_static_pad(branch, "sink");
  if (!gst_pad_is_linked(sink)) gst_pad_link(pad, sink);
  gst_object_unref(sink);
}

void GstVideoFile::on_no_more_pads(GstElement*, gpointer self) {
  static_cast<GstVideoFile*>(self)->all_pads_ = true;
}

SamplePtr GstVideoFile::next_picture() {
  return SamplePtr(gst_app_sink_try_pull_sample(GST_APP_SINK(picture_sink_), 0));
}

SamplePtr GstVideoFile::next_sound() {
  return SamplePtr(gst_app_sink_try_pull_sample(GST_APP_SINK(sound_sink_), 0));
}

bool GstVideoFile::done(GstElement* sink, GstElement* branch) const {
  if (gst_app_sink_is_eos(GST_APP_SINK(sink))) return true;
  if (!all_pads_) return false;
  GstPad* pad = gst_element_get_static_pad(branch, "sink");
  const bool linked = gst_pad_is_linked(pad);
  gst_object_unref(pad);
  return !linked;
}

bool GstVideoFile::picture_done() const {
  return done(picture_sink_, picture_in_);
}

bool GstVideoFile::sound_done() const {
  return done(sound_sink_, sound_in_);
}

std::optional<std::string> GstVideoFile::failed() {
  if (failure_) return failure_;
  GstBus* bus = gst_element_get_bus(pipeline_);
  while (GstMessage* message = gst_bus_pop_filtered(bus, GST_MESSAGE_ERROR)) {
    GError* error = nullptr;
    gst_message_parse_error(message, &error, nullptr);
    // GStreamer's message names the element, not the file's path.
    failure_ = std::string("the video could not be decoded: ") + (error ? error->message : "unknown error");
    if (error) g_error_free(error);
    gst_message_unref(message);
  }
  gst_object_unref(bus);
  return failure_;
}

}  // namespace gpufleet::media
