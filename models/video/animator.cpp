#include "models/video/animator.hpp"

#include <algorithm>
#include <cmath>
#include <opencv2/imgproc.hpp>

namespace gpufleet::video {

namespace {

// exp(-(d / width)^2): the soft falloff of every effect.
float bump(float distance, float width) {
  return std::exp(-(distance / width) * (distance / width));
}

}  // namespace

PortraitAnimator::PortraitAnimator(cv::Mat portrait, const FaceLayout& layout)
    : portrait_(std::move(portrait)), layout_(layout) {
  const cv::Rect& face = layout_.face;
  const float fw = static_cast<float>(face.width), fh = static_cast<float>(face.height);
  // The head and neck with a margin, so that the feathered border lies where nothing moves much.
  const cv::Rect wide(face.x - face.width / 2, face.y - face.height * 6 / 10, face.width * 2,
                      face.height * 23 / 10);
  region_ = wide & cv::Rect(0, 0, portrait_.cols, portrait_.rows);
  jaw_drop_ = 0.075f * fh;
  lid_drop_ = 0.9f * std::max(2.0f, 0.35f * layout_.eye_width);

  grid_x_.create(region_.size(), CV_32F);
  grid_y_.create(region_.size(), CV_32F);
  jaw_.create(region_.size(), CV_32F);
  eyelids_.create(region_.size(), CV_32F);
  blend_.create(region_.size(), CV_32F);
  const cv::Point2f centre(static_cast<float>(face.x) + fw / 2, static_cast<float>(face.y) + fh / 2);
  const float chin = static_cast<float>(face.y) + 1.02f * fh;
  for (int r = 0; r < region_.height; ++r) {
    for (int c = 0; c < region_.width; ++c) {
      const float x = static_cast<float>(region_.x + c), y = static_cast<float>(region_.y + r);
      grid_x_.at<float>(r, c) = x;
      grid_y_.at<float>(r, c) = y;
      // The jaw: full drop from just below the lips' seam down to the chin, fading into the neck, across
      // the width of the jaw.
      float vertical = 0;
      const float seam = layout_.mouth.y + 0.01f * fh;
      if (y >= seam && y <= chin) {
        vertical = std::min(1.0f, (y - seam) / (0.03f * fh) + 0.0f);
      } else if (y > chin) {
        vertical = bump(y - chin, 0.25f * fh);
      }
      jaw_.at<float>(r, c) = vertical * bump(x - layout_.mouth.x, 0.42f * fw);
      // The eyelids: skin above each eye slides down over it.
      float lid = 0;
      for (const auto& eye : {layout_.left_eye, layout_.right_eye}) {
        const float above = eye.y - y;  // > 0 above the eye's centre
        const float reach = above > -0.3f * layout_.eye_width && above < 0.9f * layout_.eye_width
                                ? bump(above - 0.2f * layout_.eye_width, 0.45f * layout_.eye_width)
                                : 0.0f;
        lid = std::max(lid, reach * bump(x - eye.x, 0.55f * layout_.eye_width));
      }
      eyelids_.at<float>(r, c) = lid;
      // Blend: 1 within an ellipse around the head, feathered over 15% of the region to its border.
      const float ex = (x - centre.x) / (0.95f * fw), ey = (y - centre.y - 0.2f * fh) / (1.05f * fh);
      const float distance = std::sqrt(ex * ex + ey * ey);
      blend_.at<float>(r, c) = std::clamp((1.12f - distance) / 0.2f, 0.0f, 1.0f);
    }
  }
}

void PortraitAnimator::render(const FrameMotion& motion, cv::Mat& out) const {
  render(portrait_, motion, out);
}

void PortraitAnimator::render(const cv::Mat& source, const FrameMotion& motion, cv::Mat& out) const {
  CV_Assert(source.size() == portrait_.size() && source.type() == portrait_.type());
  if (out.size() != source.size() || out.type() != source.type()) out.create(source.size(), source.type());
  source.copyTo(out);
  const cv::Rect& face = layout_.face;
  const float fw = static_cast<float>(face.width);
  // Head motion about the bottom of the face (the neck): out(p) = in(R^-1 (p - pivot - shift) + pivot).
  const cv::Point2f pivot(static_cast<float>(face.x) + fw / 2, static_cast<float>(face.y + face.height));
  const float angle = -motion.roll_deg * static_cast<float>(CV_PI) / 180.0f;
  const float cos_a = std::cos(angle), sin_a = std::sin(angle);
  const float shift_x = motion.dx * fw, shift_y = motion.dy * fw;
  cv::Mat map_x, map_y, dx, dy;
  dx = grid_x_ - (pivot.x + shift_x);
  dy = grid_y_ - (pivot.y + shift_y);
  map_x = dx * cos_a - dy * sin_a + pivot.x;
  map_y = dx * sin_a + dy * cos_a + pivot.y;
  // Jaw and eyelids: sample from above, so the content moves down.
  map_y -= jaw_ * (motion.mouth_open * jaw_drop_) + eyelids_ * (motion.blink * lid_drop_);

  cv::Mat moved;
  cv::remap(source, moved, map_x, map_y, cv::INTER_LINEAR, cv::BORDER_REPLICATE);

  // The opened mouth: a dark cavity between the lips, teeth showing along its top when wide.
  if (motion.mouth_open > 0.03f) {
    const float gap = motion.mouth_open * jaw_drop_;
    const cv::Point2f seam(layout_.mouth.x + shift_x - static_cast<float>(region_.x),
                           layout_.mouth.y + shift_y - static_cast<float>(region_.y) + gap * 0.55f);
    cv::Mat cavity(moved.size(), CV_32F, cv::Scalar(0));
    const cv::Size axes(
        std::max(1, static_cast<int>(layout_.mouth_width * (0.42f + 0.08f * motion.mouth_open))),
        std::max(1, static_cast<int>(gap * 0.55f)));
    cv::ellipse(cavity, seam, axes, motion.roll_deg, 0, 360, cv::Scalar(1.0), cv::FILLED, cv::LINE_AA);
    const int feather = std::max(3, (axes.height / 2) | 1);
    cv::GaussianBlur(cavity, cavity, cv::Size(feather, feather), 0);
    cv::Mat teeth(moved.size(), CV_32F, cv::Scalar(0));
    if (motion.mouth_open > 0.35f && !layout_.teeth_visible) {
      const cv::Size teeth_axes(std::max(1, axes.width * 7 / 10), std::max(1, axes.height / 3));
      cv::ellipse(teeth, seam - cv::Point2f(0, static_cast<float>(axes.height) * 0.55f), teeth_axes,
                  motion.roll_deg, 0, 360, cv::Scalar(0.8 * (motion.mouth_open - 0.35) / 0.65), cv::FILLED,
                  cv::LINE_AA);
      cv::GaussianBlur(teeth, teeth, cv::Size(feather, feather), 0);
      teeth = teeth.mul(cavity);
    }
    cv::Mat moved_f, cavity3, teeth3;
    moved.convertTo(moved_f, CV_32FC3);
    cv::merge(std::vector<cv::Mat>{cavity, cavity, cavity}, cavity3);
    cv::merge(std::vector<cv::Mat>{teeth, teeth, teeth}, teeth3);
    const cv::Scalar inner(28, 22, 58), enamel(205, 215, 225);  // BGR
    cv::Mat inner_f(moved.size(), CV_32FC3, inner), enamel_f(moved.size(), CV_32FC3, enamel);
    moved_f =
        moved_f.mul(cv::Scalar::all(1) - cavity3) + inner_f.mul(cavity3 - teeth3) + enamel_f.mul(teeth3);
    moved_f.convertTo(moved, CV_8UC3);
  }

  // Feathered into the untouched picture.
  cv::Mat base_f, moved_f, blend3;
  source(region_).convertTo(base_f, CV_32FC3);
  moved.convertTo(moved_f, CV_32FC3);
  cv::merge(std::vector<cv::Mat>{blend_, blend_, blend_}, blend3);
  cv::Mat mixed = base_f + (moved_f - base_f).mul(blend3);
  mixed.convertTo(out(region_), CV_8UC3);
}

}  // namespace gpufleet::video
