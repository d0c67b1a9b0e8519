#pragma once
// A neural face renderer for talking heads: the face crop of a portrait and the speech go in once per job,
// frames of that crop come out in batches. The job handling around it (checks, face finding, the motion
// plan, pasting the crop back into the portrait, MP4 encoding) is models/video/talking_head.cpp, built on
// OpenCV and FFmpeg; the renderers run TorchScript modules in the worker's LibTorch plugin
// (models/video/torch/torchscript_video.cpp). This header needs neither, so it is all the two sides share.

#include <cstdint>
#include <memory>
#include <span>
#include <string>

#include "common/error.hpp"
#include "models/video/motion.hpp"

namespace gpufleet::video {

struct FaceRenderJob {
  const uint8_t* bgr = nullptr;  // the face crop, crop_size() x crop_size() x 3, BGR, row-major
  std::span<const int16_t> speech;
  uint32_t sample_rate = 0;
  double fps = 25;
};

// One job's renderer state (the source's features, the speech's spectrogram).
class FaceRenderSession {
 public:
  virtual ~FaceRenderSession() = default;
  // Frames first .. first + motions.size() - 1 of the video, each as a crop_size() x crop_size() BGR image
  // written one after another to `bgr_out`. Throws ModelError (kOutOfMemory when the device ran out).
  virtual void render(size_t first, std::span<const FrameMotion> motions, uint8_t* bgr_out) = 0;
  // The same with a source picture per frame (`sources`: motions.size() crops, one after another), for lip
  // sync of a video, where each frame's own face is the reference. Only where the renderer's
  // renders_frame_sources(); frame indices count the video's frames, so the speech window follows them.
  virtual void render_sources(size_t first, std::span<const FrameMotion> motions, const uint8_t* sources,
                              uint8_t* bgr_out) {
    (void)first, (void)motions, (void)sources, (void)bgr_out;
    throw ModelError(ErrorCode::kInvalidInput,
                     "this renderer animates one source picture, not a video's frames");
  }
};

class FaceRenderer {
 public:
  virtual ~FaceRenderer() = default;
  virtual std::string family() const = 0;  // "liveportrait" | "wav2lip"
  virtual std::string device() const = 0;  // where it runs, e.g. "cuda:0"
  virtual int crop_size() const = 0;       // the modules' fixed input side
  virtual size_t frame_batch() const = 0;  // frames per call
  // Whether it moves the head and eyes from the plan (LivePortrait) or only the mouth from the audio
  // (Wav2Lip).
  virtual bool animates_head() const = 0;
  // Whether sessions take a source per frame (FaceRenderSession::render_sources): Wav2Lip does, as upstream
  // runs it on videos; LivePortrait animates one source picture.
  virtual bool renders_frame_sources() const { return false; }
  virtual std::unique_ptr<FaceRenderSession> begin(const FaceRenderJob& job) = 0;
};

}  // namespace gpufleet::video
