#pragma once
// A portrait prepared for animation: the face found with OpenCV's Haar cascades (Debian's opencv-data), and
// where its mouth line and eyes are, refined from the pixels where the cascades and the image allow and
// taken from a face's usual proportions otherwise.

#include <filesystem>
#include <memory>
#include <opencv2/core.hpp>
#include <optional>
#include <string>

namespace gpufleet::video {

struct FaceLayout {
  cv::Rect face;      // the detected face box
  cv::Point2f mouth;  // centre of the mouth line: where the lips meet, or under the upper teeth of a smile
  float mouth_width = 0;       // corner to corner
  bool teeth_visible = false;  // the portrait smiles with its teeth: the opened mouth needs no drawn ones
  cv::Point2f left_eye;        // in image coordinates (left as seen)
  cv::Point2f right_eye;
  float eye_width = 0;
};

// Where Debian's opencv-data puts the cascades. A worker reads another folder from OPENCV_HAAR_DIR and hands
// it to the video backends (models::ModelServices); nothing here reads the environment.
inline constexpr const char* kDebianHaarCascadeDir = "/usr/share/opencv4/haarcascades";

// The picture a video shows: the portrait at its own size (long side scaled to at most 1920, sides made
// even), or for `size` > 0 a square crop around `face` scaled to size x size.
cv::Mat frame_portrait(const cv::Mat& image, const cv::Rect& face, int size);

class FaceFinder {
 public:
  // Loads the frontal-face and eye cascades once. Throws ModelError when they cannot be read.
  explicit FaceFinder(const std::filesystem::path& cascade_dir = kDebianHaarCascadeDir);
  ~FaceFinder();
  FaceFinder(const FaceFinder&) = delete;
  FaceFinder& operator=(const FaceFinder&) = delete;

  // The largest face of a BGR image and its layout; nullopt when no face is found. Thread-safe.
  std::optional<FaceLayout> find(const cv::Mat& bgr) const;

 private:
  struct Cascades;
  std::unique_ptr<Cascades> cascades_;
};

}  // namespace gpufleet::video
