#include "models/video/portrait.hpp"

#include <algorithm>
#include <mutex>
#include <opencv2/imgproc.hpp>
#include <opencv2/objdetect.hpp>

#include "common/error.hpp"

namespace gpufleet::video {

namespace fs = std::filesystem;

namespace {
constexpr int kMaxOwnSide = 1920;
}  // namespace

// CascadeClassifier::detectMultiScale is not documented as safe for concurrent calls on one object: each
// worker slot serialises on the lock (detection runs once per job, not per frame).
struct FaceFinder::Cascades {
  cv::CascadeClassifier face;
  cv::CascadeClassifier eyes;
  std::mutex mutex;
};

FaceFinder::FaceFinder(const fs::path& cascade_dir) : cascades_(std::make_unique<Cascades>()) {
  const auto face_file = cascade_dir / "haarcascade_frontalface_default.xml";
  const auto eye_file = cascade_dir / "haarcascade_eye.xml";
  if (!cascades_->face.load(face_file.string()) || !cascades_->eyes.load(eye_file.string())) {
    throw ModelError(ErrorCode::kModelError, "cannot load the Haar cascades from " + cascade_dir.string() +
                                                 " (install opencv-data or set OPENCV_HAAR_DIR)");
  }
}

FaceFinder::~FaceFinder() = default;

namespace {

// Where the jaw opens: under the upper teeth when the portrait shows them (bright, unsaturated rows across
// the middle of the mouth), else the lips' seam (the darkest row there). Answers the row and whether teeth
// were seen.
std::pair<float, bool> mouth_line(const cv::Mat& bgr, const cv::Mat& gray, const cv::Rect& face) {
  const cv::Rect band(face.x + face.width * 3 / 10, face.y + face.height * 62 / 100, face.width * 4 / 10,
                      std::max(1, face.height * 30 / 100));
  const cv::Rect inside = band & cv::Rect(0, 0, gray.cols, gray.rows);
  const float guess = static_cast<float>(face.y) + 0.79f * static_cast<float>(face.height);
  if (inside.area() == 0) return {guess, false};
  // Teeth against this face's own skin: much less saturated than the band's median and at least as bright.
  cv::Mat hsv, teeth;
  cv::cvtColor(bgr(inside), hsv, cv::COLOR_BGR2HSV);
  std::vector<cv::Mat> channels;
  cv::split(hsv, channels);
  auto median = [](const cv::Mat& channel) {
    std::vector<uint8_t> values(channel.begin<uint8_t>(), channel.end<uint8_t>());
    std::nth_element(values.begin(), values.begin() + static_cast<std::ptrdiff_t>(values.size() / 2),
                     values.end());
    return static_cast<double>(values[values.size() / 2]);
  };
  const double skin_s = median(channels[1]), skin_v = median(channels[2]);
  cv::inRange(hsv, cv::Scalar(0, 0, std::max(120.0, skin_v)), cv::Scalar(180, 0.55 * skin_s, 255), teeth);
  cv::Mat teeth_rows;
  cv::reduce(teeth, teeth_rows, 1, cv::REDUCE_AVG, CV_32F);  // fraction x 255 per row
  int first = -1, last = -1;
  for (int r = 0; r < teeth_rows.rows; ++r) {
    if (teeth_rows.at<float>(r) > 0.3f * 255) {
      if (first < 0) first = r;
      last = r;
    }
  }
  if (first >= 0 && last - first >= 2) {
    // The upper teeth are the top part of the bright rows; a smile that shows both rows opens between them.
    const int row = inside.y + first + (last - first) * 2 / 3 + 1;  // a whole pixel row
    return {static_cast<float>(row), true};
  }
  cv::Mat rows;
  cv::reduce(gray(inside), rows, 1, cv::REDUCE_AVG, CV_32F);
  cv::GaussianBlur(rows, rows, cv::Size(1, 5), 0);
  double lowest = 0;
  cv::Point at;
  cv::minMaxLoc(rows, &lowest, nullptr, &at, nullptr);
  return {static_cast<float>(inside.y + at.y), false};
}

}  // namespace

std::optional<FaceLayout> FaceFinder::find(const cv::Mat& bgr) const {
  cv::Mat gray;
  cv::cvtColor(bgr, gray, cv::COLOR_BGR2GRAY);
  cv::equalizeHist(gray, gray);
  const int min_side = std::max(24, std::min(gray.cols, gray.rows) / 10);
  std::vector<cv::Rect> faces;
  std::vector<cv::Rect> eyes;
  {
    std::lock_guard lock(cascades_->mutex);
    cascades_->face.detectMultiScale(gray, faces, 1.1, 5, 0, cv::Size(min_side, min_side));
    if (faces.empty()) return std::nullopt;
    const auto largest = *std::max_element(
        faces.begin(), faces.end(), [](const cv::Rect& a, const cv::Rect& b) { return a.area() < b.area(); });
    faces = {largest};
    const cv::Rect upper(largest.x, largest.y + largest.height / 5, largest.width, largest.height * 2 / 5);
    cascades_->eyes.detectMultiScale(gray(upper & cv::Rect(0, 0, gray.cols, gray.rows)), eyes, 1.1, 4, 0,
                                     cv::Size(largest.width / 10, largest.width / 10));
    for (auto& eye : eyes) eye += cv::Point(upper.x, upper.y);
  }
  const cv::Rect face = faces.front();
  FaceLayout layout;
  layout.face = face;
  const float fx = static_cast<float>(face.x), fy = static_cast<float>(face.y);
  const float fw = static_cast<float>(face.width), fh = static_cast<float>(face.height);
  const auto [mouth_y, teeth] = mouth_line(bgr, gray, face);
  layout.mouth = cv::Point2f(fx + 0.5f * fw, mouth_y);
  layout.teeth_visible = teeth;
  layout.mouth_width = 0.36f * fw;
  layout.left_eye = cv::Point2f(fx + 0.31f * fw, fy + 0.38f * fh);
  layout.right_eye = cv::Point2f(fx + 0.69f * fw, fy + 0.38f * fh);
  layout.eye_width = 0.2f * fw;
  // Two eyes found, one on each side of the face's middle: use them.
  const cv::Rect* left = nullptr;
  const cv::Rect* right = nullptr;
  for (const auto& eye : eyes) {
    const float centre = static_cast<float>(eye.x) + static_cast<float>(eye.width) / 2;
    if (centre < fx + fw / 2 && (left == nullptr || eye.area() > left->area())) left = &eye;
    if (centre >= fx + fw / 2 && (right == nullptr || eye.area() > right->area())) right = &eye;
  }
  if (left != nullptr && right != nullptr) {
    layout.left_eye = (cv::Point2f(left->tl()) + cv::Point2f(left->br())) * 0.5f;
    layout.right_eye = (cv::Point2f(right->tl()) + cv::Point2f(right->br())) * 0.5f;
    layout.eye_width = 0.5f * static_cast<float>(left->width + right->width) * 0.7f;
  }
  return layout;
}

cv::Mat frame_portrait(const cv::Mat& image, const cv::Rect& face, int size) {
  if (size == 0) {
    cv::Mat framed = image;
    const int longest = std::max(image.cols, image.rows);
    if (longest > kMaxOwnSide) {
      const double scale = static_cast<double>(kMaxOwnSide) / longest;
      cv::resize(image, framed, cv::Size(), scale, scale, cv::INTER_AREA);
    }
    return framed(cv::Rect(0, 0, framed.cols & ~1, framed.rows & ~1)).clone();
  }
  const int side = std::min({image.cols, image.rows, static_cast<int>(face.width * 2.8)});
  const int cx = face.x + face.width / 2, cy = face.y + face.height / 2;
  const int x = std::clamp(cx - side / 2, 0, image.cols - side);
  const int y = std::clamp(cy - side / 2, 0, image.rows - side);
  cv::Mat framed;
  cv::resize(image(cv::Rect(x, y, side, side)), framed, cv::Size(size, size), 0, 0,
             side > size ? cv::INTER_AREA : cv::INTER_CUBIC);
  return framed;
}

}  // namespace gpufleet::video
