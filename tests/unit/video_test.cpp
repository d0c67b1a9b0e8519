// Guards the embedded talking-head backend: the motion plan follows the speech (mouth shut in pauses, open
// in words), blinks and sway only where asked; the face of the demo portrait is found and a faceless image
// is refused; the rendered MP4, read back by FFmpeg's own tools, has H.264 video and AAC audio, the right
// frame count and duration, a mouth that moves with the audio energy and a background that stays still;
// and every kind of bad input is a clear error code, never a crash or a huge allocation. Lip sync of a
// video: the face tracked over detections with gaps, the input's frames, times and size kept, its sound
// replaced by the speech (cut or padded to the video), faceless frames passed through, bad videos refused.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <numeric>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include "common/error.hpp"
#include "common/files.hpp"
#include "common/image_probe.hpp"
#include "common/wav.hpp"
#include "models/video/animator.hpp"
#include "models/video/face_track.hpp"
#include "models/video/motion.hpp"
#include "models/video/portrait.hpp"
#include "models/video/talking_head.hpp"
#include "tests/support/media.hpp"
#include "tests/support/temp_dir.hpp"

namespace gpufleet::video {
namespace {

namespace fs = std::filesystem;
using gpufleet::testing::correlation;
using gpufleet::testing::speech_like_audio;

std::string astronaut() {
  const char* source = std::getenv("GPUFLEET_SOURCE_DIR");
  return std::string(source != nullptr ? source : "..") + "/tests/data/astronaut.png";
}

constexpr uint32_t kRate = 24000;
constexpr double kFps = 25;

// Per video frame: the RMS of the audio it shows.
std::vector<double> frame_energy(const std::vector<int16_t>& samples, size_t frames) {
  std::vector<double> energy(frames, 0.0);
  for (size_t f = 0; f < frames; ++f) {
    const size_t begin = std::min(samples.size(), static_cast<size_t>(f * kRate / kFps));
    const size_t end = std::min(samples.size(), static_cast<size_t>((f + 1) * kRate / kFps));
    double sum = 0;
    for (size_t i = begin; i < end; ++i) sum += static_cast<double>(samples[i]) * samples[i];
    energy[f] = end > begin ? std::sqrt(sum / static_cast<double>(end - begin)) : 0.0;
  }
  return energy;
}

TEST(VideoMotion, TheMouthFollowsTheSpeechAndShutsInPauses) {
  const auto speech = speech_like_audio(4.2, kRate);  // three words of 0.9 s, pauses of 0.5 s
  const auto mouth = mouth_from_audio(speech, kRate, kFps);
  ASSERT_EQ(mouth.size(), frame_count(speech.size(), kRate, kFps));
  EXPECT_EQ(mouth.size(), 105u);
  float open_in_words = 0, open_in_pauses = 0;
  for (size_t f = 0; f < mouth.size(); ++f) {
    const double t = static_cast<double>(f) / kFps;
    const double in_word = std::fmod(t, 1.4);
    if (in_word > 1.1 && in_word < 1.35) open_in_pauses = std::max(open_in_pauses, mouth[f]);  // 200 ms on
    if (in_word < 0.9) open_in_words = std::max(open_in_words, mouth[f]);
  }
  EXPECT_GT(open_in_words, 0.6f);
  EXPECT_LT(open_in_pauses, 0.05f);
  EXPECT_EQ(mouth_from_audio(std::vector<int16_t>(kRate, 0), kRate, kFps), std::vector<float>(25, 0.0f));
}

// Guards the phoneme-timed mouth: lips meet on m/b/p and in pauses, open widest on open vowels, and each
// frame weighs the phonemes it covers by time, so a phoneme's effect sits in its own frames.
TEST(VideoMotion, TheMouthFollowsPhonemeTimings) {
  EXPECT_EQ(phoneme_openness("m"), 0.0f);
  EXPECT_EQ(phoneme_openness("_:"), 0.0f);
  EXPECT_GT(phoneme_openness("aI"), phoneme_openness("i:"));
  EXPECT_GT(phoneme_openness("i:"), phoneme_openness("f"));
  // "mama", each phoneme 120 ms (3 frames), then a 200 ms pause.
  std::vector<PhonemeSpan> spans{
      {"m", 0.0, 0.12}, {"A:", 0.12, 0.24}, {"m", 0.24, 0.36}, {"a", 0.36, 0.48}, {"_", 0.48, 0.68}};
  const auto mouth = mouth_from_phonemes(spans, 17, kFps);
  ASSERT_EQ(mouth.size(), 17u);
  EXPECT_LT(mouth[1], 0.05f);  // inside the first m
  EXPECT_GT(mouth[4], 0.8f);   // inside A:
  EXPECT_LT(mouth[7], 0.05f);  // inside the second m
  EXPECT_GT(mouth[10], 0.8f);  // inside a
  EXPECT_LT(mouth[12], 0.2f);  // the pause
  EXPECT_EQ(mouth[16], 0.0f);
  // A frame half in a vowel and half in a closure opens about half way.
  const std::vector<PhonemeSpan> half{{"a", 0.0, 0.06}, {"m", 0.06, 0.2}};
  EXPECT_NEAR(mouth_from_phonemes(half, 5, kFps)[1], 0.15 * 0.95 + 0.7 * 0.95 * 0.5, 0.01);
  // Spans past the video, backwards or negative are ignored, not trusted.
  const std::vector<PhonemeSpan> odd{{"a", 5.0, 6.0}, {"a", 0.2, 0.1}, {"a", -1.0, 0.1}};
  EXPECT_EQ(mouth_from_phonemes(odd, 10, kFps), std::vector<float>(10, 0.0f));
}

TEST(VideoMotion, BlinksAndSwayOnlyInTalkingHeadMode) {
  const std::vector<float> mouth(250, 0.0f);  // 10 s
  const auto lively = plan_motion(mouth, kFps, MotionStyle{true, true, 7});
  const auto still = plan_motion(mouth, kFps, MotionStyle{false, false, 7});
  int blinks = 0;
  float sway = 0;
  for (size_t f = 1; f < lively.size(); ++f) {
    blinks += lively[f].blink >= 1.0f && lively[f - 1].blink < 1.0f ? 1 : 0;
    sway = std::max(sway, std::abs(lively[f].roll_deg));
  }
  EXPECT_GE(blinks, 2);  // every 2.5-5.5 s
  EXPECT_LE(blinks, 4);
  EXPECT_GT(sway, 0.5f);
  for (const auto& frame : still) {
    EXPECT_EQ(frame.blink, 0.0f);
    EXPECT_EQ(frame.roll_deg, 0.0f);
  }
}

TEST(VideoPortrait, FindsTheDemoFaceAndNoFaceInAFlatImage) {
  const FaceFinder finder;
  const cv::Mat portrait = cv::imread(astronaut());
  ASSERT_FALSE(portrait.empty()) << astronaut();
  const auto layout = finder.find(portrait);
  ASSERT_TRUE(layout);
  // Eileen Collins' face in the 512x512 picture: upper middle, about a fifth of the width.
  EXPECT_GT(layout->face.width, 80);
  EXPECT_LT(layout->face.width, 260);
  EXPECT_GT(layout->mouth.y, layout->left_eye.y);
  EXPECT_LT(layout->left_eye.x, layout->right_eye.x);
  cv::Mat flat(400, 400, CV_8UC3);
  for (int r = 0; r < flat.rows; ++r) flat.row(r).setTo(cv::Scalar(r / 2, 120, 200 - r / 3));
  EXPECT_FALSE(finder.find(flat));
}

class PortraitModelTest : public ::testing::Test {
 protected:
  void SetUp() override {
    models::ModelSpec spec;
    spec.name = "portrait";
    spec.backend = "portrait";
    spec.kind = "video";
    model_ = load_portrait_model(spec);
  }

  std::string write(const std::string& name, const std::string& bytes) {
    const auto path = temp_.path() / name;
    write_file_atomically(path, bytes);
    return path.string();
  }

  models::ModelOutput run(nlohmann::json input) {
    models::JobContext context;
    models::ModelInput model_input{"job" + std::to_string(++jobs_), std::move(input)};
    model_input.scratch_dir = temp_.path() / "scratch";
    return model_->run(model_input, context);
  }

  ErrorCode failure(nlohmann::json input, std::string* message = nullptr) {
    try {
      run(std::move(input));
    } catch (const ModelError& error) {
      if (message != nullptr) *message = error.what();
      return error.code();
    }
    return ErrorCode::kInternal;
  }

  gpufleet::testing::TempDir temp_;
  std::unique_ptr<models::Model> model_;
  int jobs_ = 0;
};

TEST_F(PortraitModelTest, TheVideoHasBothStreamsTheSpeechsLengthAndAMouthThatMovesWithIt) {
  const auto speech = speech_like_audio(4.2, kRate);
  const std::string audio = write("speech.wav", encode_wav_pcm16(speech, kRate));
  auto output =
      run({{"audio_path", audio}, {"reference_image", astronaut()}, {"mode", "lip_sync"}, {"size", 256}});
  ASSERT_TRUE(output.file);
  EXPECT_EQ(output.file->content_type, "video/mp4");
  const size_t frames = output.details["frames"];
  EXPECT_EQ(frames, 105u);
  EXPECT_EQ(output.details["width"], 256);

  const auto probe = gpufleet::testing::probe_media(output.file->path);
  ASSERT_TRUE(probe.contains("streams")) << "ffprobe cannot read the video";
  std::map<std::string, nlohmann::json> streams;
  for (const auto& stream : probe["streams"]) streams[stream.value("codec_type", "")] = stream;
  ASSERT_TRUE(streams.count("video") && streams.count("audio")) << probe.dump();
  EXPECT_EQ(streams["video"]["codec_name"], "h264");
  EXPECT_EQ(streams["video"]["pix_fmt"], "yuv420p");
  EXPECT_EQ(streams["video"]["r_frame_rate"], "25/1");
  EXPECT_EQ(streams["audio"]["codec_name"], "aac");
  EXPECT_EQ(std::stoul(streams["video"]["nb_read_frames"].get<std::string>()), frames);
  const double audio_s = static_cast<double>(speech.size()) / kRate;
  EXPECT_NEAR(std::stod(streams["video"]["duration"].get<std::string>()), audio_s, 1.0 / kFps);
  EXPECT_NEAR(std::stod(streams["audio"]["duration"].get<std::string>()), audio_s, 1.0 / kFps);

  // The mouth: how much its region changes from frame to frame, against the audio's energy.
  const auto decoded = gpufleet::testing::decode_gray_frames(output.file->path, 256, 256);
  ASSERT_EQ(decoded.size(), frames);
  const auto& face = output.details["face"];
  const int fx = face[0], fy = face[1], fw = face[2], fh = face[3];
  const cv::Rect mouth(fx + fw * 3 / 10, fy + fh * 65 / 100, fw * 4 / 10, fh * 40 / 100);
  std::vector<double> change(frames, 0.0), opening(frames, 0.0);
  for (size_t f = 0; f < frames; ++f) {
    const cv::Mat now(256, 256, CV_8U, const_cast<uint8_t*>(decoded[f].data()));
    const cv::Mat first(256, 256, CV_8U, const_cast<uint8_t*>(decoded[0].data()));
    opening[f] = cv::norm(now(mouth), first(mouth), cv::NORM_L1) / mouth.area();
    if (f == 0) continue;
    const cv::Mat before(256, 256, CV_8U, const_cast<uint8_t*>(decoded[f - 1].data()));
    change[f] = cv::norm(now(mouth), before(mouth), cv::NORM_L1) / mouth.area();
  }
  const auto energy = frame_energy(speech, frames);
  const double with_change = correlation(change, energy);
  const double with_opening = correlation(opening, energy);
  std::printf(
      "mouth region vs audio energy: frame-to-frame change r=%.2f, difference from the first frame r=%.2f\n",
      with_change, with_opening);
  EXPECT_GT(with_change, 0.3);
  EXPECT_GT(with_opening, 0.6);
}

TEST_F(PortraitModelTest, TheRestOfTheFrameStaysStillWhileTheHeadMoves) {
  const auto speech = speech_like_audio(3.0, kRate);
  const std::string audio = write("speech.wav", encode_wav_pcm16(speech, kRate));
  auto output = run({{"audio_path", audio}, {"reference_image", astronaut()}, {"seed", 3}});
  ASSERT_TRUE(output.file);
  const int width = output.details["width"], height = output.details["height"];
  EXPECT_EQ(width, 512);  // the portrait's own size
  const auto decoded = gpufleet::testing::decode_gray_frames(output.file->path, width, height);
  ASSERT_EQ(decoded.size(), output.details["frames"].get<size_t>());
  const auto& face = output.details["face"];
  const int fx = face[0], fy = face[1], fw = face[2], fh = face[3];
  // Against the first frame: outside the head region (the face box widened as the animator does) only the
  // codec's noise; inside the face box, the mouth, blinks and sway.
  cv::Mat outside(height, width, CV_8U, cv::Scalar(255));
  outside(cv::Rect(fx - fw / 2, fy - fh * 6 / 10, fw * 2, fh * 23 / 10) & cv::Rect(0, 0, width, height))
      .setTo(0);
  cv::Mat inside(height, width, CV_8U, cv::Scalar(0));
  inside(cv::Rect(fx, fy, fw, fh)).setTo(255);
  const cv::Mat first(height, width, CV_8U, const_cast<uint8_t*>(decoded[0].data()));
  double still = 0, moving = 0;
  for (size_t f = 1; f < decoded.size(); ++f) {
    const cv::Mat now(height, width, CV_8U, const_cast<uint8_t*>(decoded[f].data()));
    cv::Mat difference;
    cv::absdiff(now, first, difference);
    still = std::max(still, cv::mean(difference, outside)[0]);
    moving = std::max(moving, cv::mean(difference, inside)[0]);
  }
  std::printf(
      "largest mean difference from the first frame: outside the head %.2f, in the face %.2f (grey levels)\n",
      still, moving);
  EXPECT_LT(still, 2.5);  // the codec's noise only (CRF 23 on a detailed photograph)
  EXPECT_GT(moving, 5 * still);
}

// The animator itself leaves everything outside its head region exactly as the portrait was.
TEST(VideoAnimator, OutsideTheHeadRegionFramesEqualThePortrait) {
  const cv::Mat portrait = cv::imread(astronaut());
  const auto layout = FaceFinder().find(portrait);
  ASSERT_TRUE(layout);
  const PortraitAnimator animator(portrait, *layout);
  cv::Mat outside(portrait.size(), CV_8U, cv::Scalar(255));
  outside(animator.head_region()).setTo(0);
  cv::Mat frame;
  for (const FrameMotion motion :
       {FrameMotion{1.0f, 1.0f, 2.0f, 0.02f, 0.02f}, FrameMotion{0.5f, 0.0f, -1.5f, -0.01f, 0.0f}}) {
    animator.render(motion, frame);
    cv::Mat difference;
    cv::absdiff(frame, portrait, difference);
    cv::Mat gray;
    cv::cvtColor(difference, gray, cv::COLOR_BGR2GRAY);
    EXPECT_EQ(cv::countNonZero(gray & outside), 0);
    EXPECT_GT(cv::countNonZero(gray), 1000);  // and inside it, something moved
  }
}

TEST_F(PortraitModelTest, BadInputsAreClearErrors) {
  const auto speech = speech_like_audio(1.0, kRate);
  const std::string audio = write("speech.wav", encode_wav_pcm16(speech, kRate));
  const std::string face = astronaut();
  std::string message;

  EXPECT_EQ(failure({{"audio_path", audio}, {"reference_image", write("text.png", "this is not an image")}},
                    &message),
            ErrorCode::kInvalidInput);
  EXPECT_NE(message.find("not a PNG or JPEG"), std::string::npos) << message;

  cv::Mat flat(300, 300, CV_8UC3, cv::Scalar(90, 140, 200));
  std::vector<uint8_t> png;
  cv::imencode(".png", flat, png);
  EXPECT_EQ(failure({{"audio_path", audio},
                     {"reference_image", write("flat.png", std::string(png.begin(), png.end()))}},
                    &message),
            ErrorCode::kNoFace);
  EXPECT_NE(message.find("no face"), std::string::npos) << message;

  EXPECT_EQ(failure({{"audio_path", write("text.wav", "RIFF but not really")}, {"reference_image", face}},
                    &message),
            ErrorCode::kInvalidInput);
  EXPECT_NE(message.find("not a WAV"), std::string::npos) << message;

  EXPECT_EQ(
      failure({{"audio_path", write("empty.wav", encode_wav_pcm16({}, kRate))}, {"reference_image", face}},
              &message),
      ErrorCode::kInvalidInput);
  EXPECT_NE(message.find("no samples"), std::string::npos) << message;

  // A few hundred bytes that claim 100000 x 100000 pixels: refused from the header, nothing decoded.
  std::string huge("\x89PNG\r\n\x1a\n\0\0\0\x0dIHDR\0\x01\x86\xa0\0\x01\x86\xa0\x08\x02\0\0\0", 29);
  huge += std::string(300, '\0');
  EXPECT_EQ(failure({{"audio_path", audio}, {"reference_image", write("huge.png", huge)}}, &message),
            ErrorCode::kInvalidInput);
  EXPECT_NE(message.find("limit"), std::string::npos) << message;

  EXPECT_EQ(failure({{"audio_path", audio}, {"reference_image", face}, {"mode", "dance"}}),
            ErrorCode::kInvalidInput);
  EXPECT_EQ(failure({{"audio_path", audio}, {"reference_image", face}, {"size", 100}}),
            ErrorCode::kInvalidInput);
  EXPECT_EQ(failure({{"reference_image", face}}), ErrorCode::kMissingField);
  for (const auto& phonemes :
       {nlohmann::json("m a"), nlohmann::json::array({{{"phoneme", "a"}, {"start_ms", 50}, {"end_ms", 10}}}),
        nlohmann::json::array({{{"phoneme", "a"}, {"start_ms", -5}, {"end_ms", 10}}}),
        nlohmann::json::array({{{"phoneme", 3}, {"start_ms", 0}, {"end_ms", 10}}}),
        nlohmann::json::array({{{"phoneme", "a"}, {"start_ms", 0}}})}) {
    EXPECT_EQ(failure({{"audio_path", audio}, {"reference_image", face}, {"phonemes", phonemes}}, &message),
              ErrorCode::kInvalidInput)
        << phonemes.dump();
    EXPECT_NE(message.find("phonemes"), std::string::npos) << message;
  }
  // Nothing was left behind in the scratch folder by the failures.
  std::error_code ec;
  EXPECT_TRUE(!fs::exists(temp_.path() / "scratch", ec) || fs::is_empty(temp_.path() / "scratch", ec));
}

FaceLayout layout_at(int x, int y, int width) {
  FaceLayout layout;
  layout.face = cv::Rect(x, y, width, width);
  layout.mouth = cv::Point2f(static_cast<float>(x) + width / 2.0f, static_cast<float>(y) + 0.8f * width);
  layout.mouth_width = 0.36f * width;
  layout.eye_width = 0.2f * width;
  return layout;
}

TEST(FaceTrack, FillsShortGapsSmoothsJitterAndLeavesFarFramesEmpty) {
  std::vector<std::optional<FaceLayout>> detected(40);
  // A face seen on frames 0-9 with a one-pixel jitter, missed on 10-13, seen again on 14-19 four pixels
  // further; then gone for good.
  for (int f = 0; f < 10; ++f) detected[f] = layout_at(100 + (f % 2), 50, 80);
  for (int f = 14; f < 20; ++f) detected[f] = layout_at(104, 50, 80);
  TrackOptions options;
  options.max_gap = 5;
  options.hold = 2;
  options.smooth_radius = 2;
  const auto track = track_faces(detected, options);
  ASSERT_EQ(track.size(), detected.size());
  for (int f = 0; f < 22; ++f) ASSERT_TRUE(track[f]) << "frame " << f;
  // The gap is bridged between the two sides, in order.
  EXPECT_GE(track[12]->face.x, track[10]->face.x);
  EXPECT_LE(track[12]->face.x, 104);
  // Jitter is averaged out: neighbours differ by less than the raw one pixel.
  EXPECT_LE(std::abs(track[4]->face.x - track[5]->face.x), 1);
  // Held two frames past the last detection, then no face: those frames pass through.
  EXPECT_EQ(track[21]->face.x, track[19]->face.x);
  for (size_t f = 22; f < track.size(); ++f) EXPECT_FALSE(track[f]) << "frame " << f;
}

TEST(FaceTrack, DoesNotBridgeALongGapOrTwoDifferentFaces) {
  std::vector<std::optional<FaceLayout>> detected(30);
  detected[0] = layout_at(10, 10, 50);
  detected[20] = layout_at(10, 10, 50);   // 19 frames later: too long a gap
  detected[22] = layout_at(200, 10, 50);  // another face, two frames on
  TrackOptions options;
  options.max_gap = 5;
  options.hold = 1;
  options.smooth_radius = 0;
  const auto track = track_faces(detected, options);
  EXPECT_TRUE(track[1]);
  EXPECT_FALSE(track[5]);
  EXPECT_FALSE(track[10]);
  ASSERT_TRUE(track[21]);
  EXPECT_TRUE(track[21]->face.x == 10 || track[21]->face.x == 200) << "interpolated between two faces";
  EXPECT_FLOAT_EQ(layout_distance(layout_at(0, 0, 100), layout_at(3, 0, 100)), 0.03f);
}

class VideoLipSyncTest : public PortraitModelTest {
 protected:
  std::string video(const std::string& name, double seconds, const std::string& rate, double dark_s,
                    bool with_sound = true, const std::string& picture = astronaut()) {
    const auto path = temp_.path() / name;
    EXPECT_TRUE(gpufleet::testing::make_test_video(picture, path, seconds, rate, 256, dark_s, with_sound))
        << "ffmpeg could not make " << name;
    return path.string();
  }
};

TEST_F(VideoLipSyncTest, KeepsTheFramesAndTimesReplacesTheSoundAndMovesTheMouth) {
  const std::string input = video("talk.mp4", 3.0, "25", 0.6);
  const auto speech = speech_like_audio(2.0, kRate);
  auto output = run({{"video", input}, {"audio_path", write("speech.wav", encode_wav_pcm16(speech, kRate))}});
  ASSERT_TRUE(output.file);
  EXPECT_EQ(output.details["frames"], 75);
  EXPECT_EQ(output.details["speech_fit"], "padded");
  EXPECT_EQ(output.details["source"], "video");
  const int with_face = output.details["frames_with_face"];
  // 15 dark frames have no face; all the others do (the pan is slow, the face big).
  EXPECT_GE(with_face, 55);
  EXPECT_LE(with_face, 62);

  const auto probe = gpufleet::testing::probe_media(output.file->path);
  std::map<std::string, nlohmann::json> streams;
  for (const auto& stream : probe["streams"]) streams[stream.value("codec_type", "")] = stream;
  ASSERT_TRUE(streams.count("video") && streams.count("audio")) << probe.dump();
  EXPECT_EQ(streams["video"]["r_frame_rate"], "25/1");
  EXPECT_EQ(streams["video"]["width"], 256);
  EXPECT_EQ(std::stoul(streams["video"]["nb_read_frames"].get<std::string>()), 75u);
  EXPECT_NEAR(std::stod(streams["video"]["duration"].get<std::string>()), 3.0, 0.05);
  // The sound is the speech padded to the video, not the input's tone.
  EXPECT_NEAR(std::stod(streams["audio"]["duration"].get<std::string>()), 3.0, 0.06);

  const auto before = gpufleet::testing::decode_gray_frames(input, 256, 256);
  const auto after = gpufleet::testing::decode_gray_frames(output.file->path, 256, 256);
  ASSERT_EQ(before.size(), 75u);
  ASSERT_EQ(after.size(), 75u);
  // Re-encoding costs a little everywhere; the mouth moving changes one place a lot. Per frame: the mean
  // difference of the 16 x 16 block that changed most, against the input's frame.
  auto difference = [&](size_t f) {
    const cv::Mat a(256, 256, CV_8U, const_cast<uint8_t*>(before[f].data()));
    const cv::Mat b(256, 256, CV_8U, const_cast<uint8_t*>(after[f].data()));
    cv::Mat delta, blocks;
    cv::absdiff(a, b, delta);
    cv::resize(delta, blocks, cv::Size(16, 16), 0, 0, cv::INTER_AREA);
    double largest = 0;
    cv::minMaxLoc(blocks, nullptr, &largest);
    return largest;
  };
  // Faceless frames pass through (only the encoder's loss); speaking frames changed where the mouth is;
  // after the speech the mouth is shut again and the frames are the input's.
  for (size_t f = 0; f < 14; ++f) EXPECT_LT(difference(f), 2.0) << "dark frame " << f;
  const auto energy = frame_energy(speech, 75);
  double speaking = 0, quiet_after = 0;
  int speaking_frames = 0;
  for (size_t f = 16; f < 50; ++f) {
    if (energy[f] > 4000) speaking = std::max(speaking, difference(f)), ++speaking_frames;
  }
  for (size_t f = 56; f < 75; ++f) quiet_after = std::max(quiet_after, difference(f));
  std::printf(
      "most changed 16x16 block: speaking frames %.1f, after the speech %.1f (mean |gray| difference)\n",
      speaking, quiet_after);
  EXPECT_GT(speaking_frames, 5);
  EXPECT_GT(speaking, 2.0 * quiet_after + 2.0) << "the mouth did not move with the speech";
}

TEST_F(VideoLipSyncTest, AWebmAtNtscRateKeepsItsRateAndLongSpeechIsCut) {
  const std::string input = video("talk.webm", 2.0, "30000/1001", 0.0);
  const auto speech = speech_like_audio(3.5, kRate);
  auto output = run({{"video", input}, {"audio_path", write("speech.wav", encode_wav_pcm16(speech, kRate))}});
  ASSERT_TRUE(output.file);
  EXPECT_EQ(output.details["codec"], "vp8");
  EXPECT_EQ(output.details["speech_fit"], "cut");
  const auto probe = gpufleet::testing::probe_media(output.file->path);
  std::map<std::string, nlohmann::json> streams;
  for (const auto& stream : probe["streams"]) streams[stream.value("codec_type", "")] = stream;
  ASSERT_TRUE(streams.count("video") && streams.count("audio")) << probe.dump();
  EXPECT_EQ(streams["video"]["r_frame_rate"], "30000/1001");
  const auto input_probe = gpufleet::testing::probe_media(input);
  size_t input_frames = 0;
  for (const auto& stream : input_probe["streams"]) {
    if (stream.value("codec_type", "") == "video")
      input_frames = std::stoul(stream["nb_read_frames"].get<std::string>());
  }
  EXPECT_EQ(std::stoul(streams["video"]["nb_read_frames"].get<std::string>()), input_frames);
  EXPECT_NEAR(std::stod(streams["audio"]["duration"].get<std::string>()),
              output.details["video_duration_s"].get<double>(), 0.06);
  EXPECT_LT(std::stod(streams["audio"]["duration"].get<std::string>()), 2.2);
}

TEST_F(VideoLipSyncTest, BadVideosAreClearErrors) {
  const std::string audio = write("speech.wav", encode_wav_pcm16(speech_like_audio(1.0, kRate), kRate));
  std::string message;
  // No face anywhere.
  cv::Mat sky(256, 256, CV_8UC3, cv::Scalar(230, 180, 120));
  cv::imwrite((temp_.path() / "sky.png").string(), sky);
  const std::string faceless = video("sky.mp4", 1.0, "25", 0.0, false, (temp_.path() / "sky.png").string());
  EXPECT_EQ(failure({{"video", faceless}, {"audio_path", audio}}, &message), ErrorCode::kNoFace);
  EXPECT_NE(message.find("no face"), std::string::npos) << message;
  // A corrupt container: the file cut before its index.
  const std::string whole = video("whole.mp4", 1.0, "25", 0.0);
  const auto bytes = read_file(whole, 64 << 20);
  ASSERT_TRUE(bytes);
  const std::string cut = write("cut.mp4", bytes->substr(0, bytes->size() / 2));
  EXPECT_EQ(failure({{"video", cut}, {"audio_path", audio}}, &message), ErrorCode::kUnreadableMedia);
  EXPECT_EQ(failure({{"video", write("text.mp4", "not a video at all")}, {"audio_path", audio}}),
            ErrorCode::kUnreadableMedia);
  // Sound only: no video stream.
  const std::string sound = (temp_.path() / "sound.m4a").string();
  ASSERT_EQ(
      std::system(("ffmpeg -v error -y -f lavfi -i sine=duration=1 -c:a aac '" + sound + "' >/dev/null 2>&1")
                      .c_str()),
      0);
  EXPECT_EQ(failure({{"video", sound}, {"audio_path", audio}}, &message), ErrorCode::kUnreadableMedia);
  EXPECT_NE(message.find("no video stream"), std::string::npos) << message;
  // Longer than the model's limit.
  models::ModelSpec spec;
  spec.name = "short";
  spec.backend = "portrait";
  spec.kind = "video";
  spec.options = {{"max_video_s", 1}};
  model_ = load_portrait_model(spec);
  const std::string long_video = video("long.mp4", 2.5, "25", 0.0, false);
  EXPECT_EQ(failure({{"video", long_video}, {"audio_path", audio}}, &message), ErrorCode::kMediaTooLong);
  // Nothing was left behind in the scratch folder by the failures.
  std::error_code ec;
  EXPECT_TRUE(!fs::exists(temp_.path() / "scratch", ec) || fs::is_empty(temp_.path() / "scratch", ec));
}

}  // namespace
}  // namespace gpufleet::video
