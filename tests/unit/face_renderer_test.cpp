// Guards the neural talking-head renderers through the worker's LibTorch plugin, on modules of the real
// interfaces built at test time (tests/models/make_face_modules.py, random weights): LivePortrait's keypoint
// algebra drives the warp (the same motion gives the same frame, an open mouth or a blink another one),
// frames rendered in one batch equal frames rendered one by one, Wav2Lip's mel windows follow the frame's
// time, and missing modules or unknown options are clear errors.
#include "models/video/face_renderer.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <random>
#include <vector>

#include "common/error.hpp"
#include "models/registry.hpp"
#include "tests/support/temp_dir.hpp"
#include "tests/support/vits_voice.hpp"
#include "worker/torch_runtime.hpp"

namespace gpufleet::worker {
namespace {

using gpufleet::testing::TempDir;
using video::FrameMotion;

class FaceRendererTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new TempDir();
    gpufleet::testing::make_face_modules(dir_->path(), "--crop 64");
    runtime_ = load_torch_runtime().release();
  }
  static void TearDownTestSuite() {
    delete dir_;
    dir_ = nullptr;
  }

  static models::ModelSpec spec(const std::string& backend,
                                nlohmann::json options = nlohmann::json::object()) {
    models::ModelSpec spec;
    spec.name = backend;
    spec.kind = "video";
    spec.backend = backend;
    spec.files["dir"] = dir_->path() / backend;
    spec.options = std::move(options);
    return spec;
  }

  static std::vector<uint8_t> crop(int size) {
    std::vector<uint8_t> pixels(static_cast<size_t>(size) * size * 3);
    std::mt19937 random(3);
    for (auto& pixel : pixels) pixel = static_cast<uint8_t>(random() % 256);
    return pixels;
  }

  static std::vector<uint8_t> render(video::FaceRenderSession& session, size_t first,
                                     const std::vector<FrameMotion>& motions, int size) {
    std::vector<uint8_t> out(motions.size() * static_cast<size_t>(size) * size * 3, 0);
    session.render(first, motions, out.data());
    return out;
  }

  static double mean_difference(const std::vector<uint8_t>& frames, size_t a, size_t b, size_t frame_bytes,
                                size_t from = 0, size_t to = 0) {
    if (to == 0) to = frame_bytes;
    double sum = 0;
    for (size_t i = from; i < to; ++i)
      sum += std::abs(int(frames[a * frame_bytes + i]) - int(frames[b * frame_bytes + i]));
    return sum / static_cast<double>(to - from);
  }

  static TempDir* dir_;
  static models::TorchRuntime* runtime_;
};

TempDir* FaceRendererTest::dir_ = nullptr;
models::TorchRuntime* FaceRendererTest::runtime_ = nullptr;

TEST_F(FaceRendererTest, LivePortraitMovesTheFaceWithThePlanAndBatchesByFrames) {
  auto renderer =
      runtime_->load_face_renderer(spec("liveportrait", {{"crop_size", 64}, {"frame_batch", 4}}), "cpu");
  EXPECT_EQ(renderer->family(), "liveportrait");
  EXPECT_EQ(renderer->device(), "cpu");
  EXPECT_EQ(renderer->crop_size(), 64);
  EXPECT_TRUE(renderer->animates_head());
  const auto source = crop(64);
  const std::vector<int16_t> speech(16000, 0);
  auto session = renderer->begin(video::FaceRenderJob{source.data(), speech, 16000, 25});
  const FrameMotion still{};
  const FrameMotion open{1.0f, 0.0f, 0.0f, 0.0f, 0.0f};
  const FrameMotion blink{0.0f, 1.0f, 0.0f, 0.0f, 0.0f};
  const FrameMotion turned{0.0f, 0.0f, 3.0f, 0.02f, 0.0f};
  const std::vector<FrameMotion> plan{still, open, still, blink, turned};
  const size_t bytes = 64 * 64 * 3;
  const auto batched = render(*session, 0, plan, 64);
  // Random small modules move little: any change above zero is the plan reaching the warp (the same motion
  // gives exactly the same frame).
  EXPECT_EQ(mean_difference(batched, 0, 2, bytes), 0.0) << "the same motion gave another frame";
  EXPECT_GT(mean_difference(batched, 0, 1, bytes), 0.02) << "opening the mouth changed nothing";
  EXPECT_GT(mean_difference(batched, 0, 3, bytes), 0.02) << "a blink changed nothing";
  EXPECT_GT(mean_difference(batched, 0, 4, bytes), 0.02) << "turning the head changed nothing";
  for (size_t f = 0; f < plan.size(); ++f) {
    const auto single = render(*session, f, {plan[f]}, 64);
    double largest = 0;
    for (size_t i = 0; i < bytes; ++i)
      largest = std::max<double>(largest, std::abs(int(single[i]) - int(batched[f * bytes + i])));
    EXPECT_LE(largest, 1.0) << "frame " << f << " differs when rendered alone";
  }
}

TEST_F(FaceRendererTest, Wav2LipDrawsTheMouthFromTheAudioAtEachFramesTime) {
  auto renderer = runtime_->load_face_renderer(spec("wav2lip"), "cpu");
  EXPECT_EQ(renderer->crop_size(), 96);  // Wav2Lip's
  EXPECT_FALSE(renderer->animates_head());
  const auto source = crop(96);
  // One second of silence, then one second of a 300 Hz tone, at 22.05 kHz (resampled to 16 kHz inside).
  std::vector<int16_t> speech(44100, 0);
  for (size_t i = 22050; i < speech.size(); ++i)
    speech[i] = static_cast<int16_t>(8000 * std::sin(i * 2 * M_PI * 300 / 22050));
  auto session = renderer->begin(video::FaceRenderJob{source.data(), speech, 22050, 25});
  const size_t bytes = 96 * 96 * 3, half = 48 * 96 * 3;
  // Frames 5 and 10 (silence), 35 and 40 (tone), and 49 (the last, its window clamped to the end).
  std::vector<uint8_t> frames;
  for (size_t f : {5u, 10u, 35u, 40u, 49u, 60u}) {
    const auto one = render(*session, f, {FrameMotion{}}, 96);
    frames.insert(frames.end(), one.begin(), one.end());
  }
  EXPECT_EQ(mean_difference(frames, 0, 1, bytes, half, bytes), 0.0)
      << "two silent windows drew different mouths";
  EXPECT_GT(mean_difference(frames, 0, 2, bytes, half, bytes), 0.5)
      << "speech and silence drew the same mouth";
  EXPECT_EQ(mean_difference(frames, 4, 5, bytes), 0.0)
      << "frames past the audio did not reuse its last window";
  EXPECT_EQ(mean_difference(frames, 0, 2, bytes, 0, half), 0.0) << "this module keeps the upper half";
  // A batch of frames equals the frames rendered one by one, up to rounding: LibTorch's CPU kernels may sum
  // in another order for another batch size (seen on a machine with other vector units), which moves a value
  // across a rounding boundary to 8 bits now and then, never by more than one step.
  std::vector<FrameMotion> plan(6);
  const auto batched = render(*session, 30, plan, 96);
  for (size_t f = 0; f < plan.size(); ++f) {
    const auto single = render(*session, 30 + f, {FrameMotion{}}, 96);
    int worst = 0;
    size_t differing = 0;
    for (size_t i = 0; i < bytes; ++i) {
      const int difference = std::abs(int(single[i]) - int(batched[f * bytes + i]));
      worst = std::max(worst, difference);
      differing += difference != 0 ? 1 : 0;
    }
    EXPECT_LE(worst, 1) << "frame " << f;
    EXPECT_LT(differing, bytes / 100)
        << "frame " << f << ": " << differing << " of " << bytes << " values differ";
  }
}

TEST_F(FaceRendererTest, MissingModulesAndUnknownOptionsAreClearErrors) {
  auto broken = spec("liveportrait");
  broken.files["dir"] = dir_->path() / "wav2lip";  // has none of LivePortrait's modules
  try {
    runtime_->load_face_renderer(broken, "cpu");
    FAIL() << "expected ModelError";
  } catch (const ModelError& error) {
    EXPECT_NE(std::string(error.what()).find("appearance_feature_extractor.pt"), std::string::npos)
        << error.what();
  }
  EXPECT_THROW(runtime_->load_face_renderer(spec("wav2lip", {{"lip_open_ratio", 0.5}}), "cpu"), ConfigError);
  EXPECT_THROW(runtime_->load_face_renderer(spec("liveportrait", {{"crop_size", 4}}), "cpu"), ConfigError);
  auto no_dir = spec("wav2lip");
  no_dir.files.clear();
  EXPECT_THROW(runtime_->load_face_renderer(no_dir, "cpu"), ConfigError);
}

}  // namespace
}  // namespace gpufleet::worker
