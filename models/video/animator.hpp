#pragma once
// Draws the frames of a talking head from one portrait: per frame, a single remap of the head region moves
// the jaw down by the mouth opening (the lower lip, chin and jaw slide; the upper lip stays), slides the
// upper eyelids over the eyes for a blink, and tilts and shifts the head; the opened mouth shows a dark
// inner mouth with a hint of teeth. The rest of the picture is left exactly as it was. Everything that does
// not change between frames (the displacement patterns, the blend mask) is computed once.

#include <opencv2/core.hpp>

#include "models/video/motion.hpp"
#include "models/video/portrait.hpp"

namespace gpufleet::video {

class PortraitAnimator {
 public:
  // `portrait` is BGR 8-bit; `layout` is in its coordinates.
  PortraitAnimator(cv::Mat portrait, const FaceLayout& layout);

  // Renders one frame into `out` (same size as the portrait, BGR 8-bit); `out` is reused between calls.
  void render(const FrameMotion& motion, cv::Mat& out) const;
  // The same on another picture of the portrait's size whose face has the same layout: a video's frame,
  // where the face moves so little between frames that the patterns computed once still fit.
  void render(const cv::Mat& source, const FrameMotion& motion, cv::Mat& out) const;

  // The head region: what render may change. Outside it, every frame equals the portrait.
  const cv::Rect& head_region() const { return region_; }

 private:
  cv::Mat portrait_;
  FaceLayout layout_;
  cv::Rect region_;
  cv::Mat grid_x_, grid_y_;  // region pixel coordinates, in portrait coordinates (CV_32F)
  cv::Mat jaw_, eyelids_;    // downward displacement patterns, 1 at full effect (CV_32F)
  cv::Mat blend_;            // 1 inside the head, feathered to 0 at the region's border (CV_32F)
  float jaw_drop_ = 0;       // pixels at mouth_open = 1
  float lid_drop_ = 0;       // pixels at blink = 1
};

}  // namespace gpufleet::video
