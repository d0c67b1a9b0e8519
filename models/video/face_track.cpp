#include "models/video/face_track.hpp"

#include <algorithm>
#include <cmath>

namespace gpufleet::video {

namespace {

// Boxes of the same face overlap; two people's (the largest face switching) mostly do not.
bool same_face(const cv::Rect& a, const cv::Rect& b) {
  const double common = (a & b).area();
  const double either = a.area() + b.area() - common;
  return either > 0 && common / either > 0.3;
}

cv::Point2f mix(const cv::Point2f& a, const cv::Point2f& b, float t) {
  return a + (b - a) * t;
}

// Accumulates layouts for an average.
struct LayoutSum {
  double x = 0, y = 0, w = 0, h = 0;
  cv::Point2f mouth, left_eye, right_eye;
  float mouth_width = 0, eye_width = 0;
  int count = 0;
  void add(const FaceLayout& layout) {
    x += layout.face.x;
    y += layout.face.y;
    w += layout.face.width;
    h += layout.face.height;
    mouth += layout.mouth;
    left_eye += layout.left_eye;
    right_eye += layout.right_eye;
    mouth_width += layout.mouth_width;
    eye_width += layout.eye_width;
    ++count;
  }
  FaceLayout mean(const FaceLayout& centre) const {
    const auto n = static_cast<float>(count);
    FaceLayout out = centre;
    out.face = cv::Rect(static_cast<int>(std::lround(x / n)), static_cast<int>(std::lround(y / n)),
                        static_cast<int>(std::lround(w / n)), static_cast<int>(std::lround(h / n)));
    out.mouth = mouth / n;
    out.left_eye = left_eye / n;
    out.right_eye = right_eye / n;
    out.mouth_width = mouth_width / n;
    out.eye_width = eye_width / n;
    return out;
  }
};

FaceLayout interpolate(const FaceLayout& a, const FaceLayout& b, float t) {
  FaceLayout out = t < 0.5f ? a : b;
  auto lerp = [t](int p, int q) {
    return static_cast<int>(std::lround(static_cast<float>(p) + static_cast<float>(q - p) * t));
  };
  out.face = cv::Rect(lerp(a.face.x, b.face.x), lerp(a.face.y, b.face.y), lerp(a.face.width, b.face.width),
                      lerp(a.face.height, b.face.height));
  out.mouth = mix(a.mouth, b.mouth, t);
  out.left_eye = mix(a.left_eye, b.left_eye, t);
  out.right_eye = mix(a.right_eye, b.right_eye, t);
  out.mouth_width = a.mouth_width + (b.mouth_width - a.mouth_width) * t;
  out.eye_width = a.eye_width + (b.eye_width - a.eye_width) * t;
  return out;
}

}  // namespace

std::vector<std::optional<FaceLayout>> track_faces(const std::vector<std::optional<FaceLayout>>& detected,
                                                   const TrackOptions& options) {
  const size_t frames = detected.size();
  // Each detection averaged with the detections of the same face near it.
  std::vector<std::optional<FaceLayout>> smoothed(frames);
  for (size_t i = 0; i < frames; ++i) {
    if (!detected[i]) continue;
    LayoutSum sum;
    const size_t from = i >= options.smooth_radius ? i - options.smooth_radius : 0;
    const size_t to = std::min(frames - 1, i + options.smooth_radius);
    for (size_t j = from; j <= to; ++j) {
      if (detected[j] && same_face(detected[j]->face, detected[i]->face)) sum.add(*detected[j]);
    }
    smoothed[i] = sum.mean(*detected[i]);
  }
  // The frames between: filled from the detections on either side.
  std::vector<std::optional<FaceLayout>> track = smoothed;
  std::optional<size_t> previous;
  for (size_t i = 0; i < frames; ++i) {
    if (smoothed[i]) {
      previous = i;
      continue;
    }
    std::optional<size_t> next;
    for (size_t j = i + 1; j < frames && j <= i + options.max_gap; ++j) {
      if (smoothed[j]) {
        next = j;
        break;
      }
    }
    const bool bridged = previous && next && *next - *previous - 1 <= options.max_gap &&
                         same_face(smoothed[*previous]->face, smoothed[*next]->face);
    if (bridged) {
      const float t = static_cast<float>(i - *previous) / static_cast<float>(*next - *previous);
      track[i] = interpolate(*smoothed[*previous], *smoothed[*next], t);
    } else if (previous && i - *previous <= options.hold) {
      track[i] = smoothed[*previous];
    } else if (next && *next - i <= options.hold) {
      track[i] = smoothed[*next];
    }
  }
  return track;
}

float layout_distance(const FaceLayout& a, const FaceLayout& b) {
  const float width = static_cast<float>(std::max(1, std::min(a.face.width, b.face.width)));
  const float moved = static_cast<float>(
      std::max({std::abs(a.face.x - b.face.x), std::abs(a.face.y - b.face.y),
                std::abs(a.face.br().x - b.face.br().x), std::abs(a.face.br().y - b.face.br().y)}));
  return moved / width;
}

}  // namespace gpufleet::video
