// gpufleet-video-bench: speed of the embedded talking-head backend on this machine. For each output size,
// renders the same speech-driven animation of one portrait and prints frames per second of the animator
// alone, of the H.264/AAC encoder alone, and of the whole job (read, detect, render, encode, mux), with the
// real-time factor at 25 fps.
//
//   gpufleet-video-bench [--image FILE] [--seconds S] [--sizes 0,512,256] [--keep DIR]
//
// --keep DIR leaves each job's MP4 in DIR (video-<size>.mp4), to look at.
//
// Size 0 is the portrait's own size; others are square crops around the face. Default image: the demo
// portrait tests/data/astronaut.png (512x512), and a 2x upscale of it to show a larger own size.
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include <chrono>
#include <cmath>
#include <algorithm>
#include <cstdio>
#include <string>
#include <thread>
#include <vector>

#include <unistd.h>

#include "common/config.hpp"
#include "common/files.hpp"
#include "common/wav.hpp"
#include "models/video/animator.hpp"
#include "models/video/motion.hpp"
#include "models/video/mp4_writer.hpp"
#include "models/video/portrait.hpp"
#include "models/video/talking_head.hpp"

namespace {

using namespace gpufleet;
using Clock = std::chrono::steady_clock;
namespace fs = std::filesystem;

double seconds_since(Clock::time_point start) { return std::chrono::duration<double>(Clock::now() - start).count(); }

// Voiced bursts at syllable rate with pauses, 24 kHz.
std::vector<int16_t> speech(double seconds) {
  std::vector<int16_t> samples(static_cast<size_t>(seconds * 24000));
  for (size_t i = 0; i < samples.size(); ++i) {
    const double t = static_cast<double>(i) / 24000;
    const double word = std::fmod(t, 1.4);
    const double envelope = word < 0.9 ? std::pow(std::sin(M_PI * word / 0.25), 2) : 0.0;
    samples[i] = static_cast<int16_t>(10000 * envelope * std::sin(2 * M_PI * 140 * t));
  }
  return samples;
}

struct Row {
  std::string image;
  int width = 0, height = 0;
  size_t frames = 0;
  double render_fps = 0, encode_fps = 0, job_fps = 0;
};

Row measure(const fs::path& image_file, const std::string& label, int size, const std::vector<int16_t>& audio,
            const fs::path& scratch, const std::string& keep) {
  Row row;
  row.image = label;
  // The whole job through the model, as a worker runs it.
  models::ModelSpec spec;
  spec.name = "portrait";
  spec.backend = "portrait";
  spec.kind = "video";
  auto model = video::load_portrait_model(spec);
  const auto audio_file = scratch / "speech.wav";
  write_file_atomically(audio_file, encode_wav_pcm16(audio, 24000));
  models::JobContext context;
  models::ModelInput input{"bench", {{"audio_path", audio_file.string()}, {"reference_image", image_file.string()}, {"size", size}}};
  input.scratch_dir = scratch;
  auto start = Clock::now();
  const auto output = model->run(input, context);
  const double job_s = seconds_since(start);
  row.frames = output.details["frames"];
  row.width = output.details["width"];
  row.height = output.details["height"];
  row.job_fps = static_cast<double>(row.frames) / job_s;
  if (keep.empty()) {
    fs::remove(output.file->path);
  } else {
    fs::create_directories(keep);
    fs::rename(output.file->path, fs::path(keep) / ("video-" + std::to_string(row.width) + "x" + std::to_string(row.height) + ".mp4"));
  }

  // The animator and the encoder apart, on the same frames.
  const cv::Mat source = cv::imread(image_file.string());
  const video::FaceFinder finder;
  const auto found = finder.find(source);
  const cv::Mat portrait = video::frame_portrait(source, found->face, size);
  const auto layout = finder.find(portrait);
  const auto plan = video::plan_motion(video::mouth_from_audio(audio, 24000, 25), 25, video::MotionStyle{});
  video::PortraitAnimator animator(portrait, *layout);
  cv::Mat frame;
  start = Clock::now();
  for (const auto& motion : plan) animator.render(motion, frame);
  row.render_fps = static_cast<double>(plan.size()) / seconds_since(start);
  // The encoder gets the first two seconds' frames over and over: rendered beforehand, so that only encoding
  // is timed, without holding every frame of a long video in memory.
  std::vector<cv::Mat> frames(std::min<size_t>(plan.size(), 50));
  for (size_t f = 0; f < frames.size(); ++f) animator.render(plan[f], frames[f]);
  video::Mp4Settings settings;
  settings.width = portrait.cols;
  settings.height = portrait.rows;
  settings.audio_sample_rate = 24000;
  start = Clock::now();
  {
    video::Mp4Writer writer(scratch / "encode.mp4", settings);
    for (size_t f = 0; f < plan.size(); ++f) writer.write_frame(frames[f % frames.size()]);
    writer.write_audio(audio);
    writer.finish();
  }
  row.encode_fps = static_cast<double>(plan.size()) / seconds_since(start);
  fs::remove(scratch / "encode.mp4");
  return row;
}

}  // namespace

int main(int argc, char** argv) {
  std::string image;
  double seconds = 8;
  std::string sizes = "0,512,256";
  std::string keep;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--image" && i + 1 < argc) {
      image = argv[++i];
    } else if (arg == "--seconds" && i + 1 < argc) {
      seconds = std::stod(argv[++i]);
    } else if (arg == "--sizes" && i + 1 < argc) {
      sizes = argv[++i];
    } else if (arg == "--keep" && i + 1 < argc) {
      keep = argv[++i];
    } else {
      std::fprintf(stderr, "usage: gpufleet-video-bench [--image FILE] [--seconds S] [--sizes 0,512,256] [--keep DIR]\n");
      return 2;
    }
  }
  const fs::path scratch = fs::temp_directory_path() / ("gpufleet-video-bench-" + std::to_string(::getpid()));
  fs::create_directories(scratch);
  std::vector<std::pair<fs::path, std::string>> images;
  if (!image.empty()) {
    images.emplace_back(image, fs::path(image).filename().string());
  } else {
    const fs::path demo = fs::path(GPUFLEET_SOURCE_DIR) / "tests/data/astronaut.png";
    images.emplace_back(demo, "astronaut 512x512");
    cv::Mat larger;
    cv::resize(cv::imread(demo.string()), larger, cv::Size(1024, 1024), 0, 0, cv::INTER_CUBIC);
    cv::imwrite((scratch / "astronaut-1024.png").string(), larger);
    images.emplace_back(scratch / "astronaut-1024.png", "astronaut 2x 1024x1024");
  }
  const auto audio = speech(seconds);
  std::printf("gpufleet-video-bench: %.1f s of speech at 25 fps, %u hardware threads\n\n", seconds,
              std::thread::hardware_concurrency());
  std::printf("| %-24s | %-9s | %6s | %11s | %11s | %9s | %9s |\n", "portrait", "output", "frames", "render fps",
              "encode fps", "job fps", "job RTF");
  std::printf("|%s|%s|%s|%s|%s|%s|%s|\n", std::string(26, '-').c_str(), std::string(11, '-').c_str(),
              std::string(8, '-').c_str(), std::string(13, '-').c_str(), std::string(13, '-').c_str(),
              std::string(11, '-').c_str(), std::string(11, '-').c_str());
  for (const auto& [file, label] : images) {
    for (const auto& size_text : split_list(sizes)) {
      const int size = std::stoi(size_text);
      const auto row = measure(file, label, size, audio, scratch, keep);
      const std::string output = std::to_string(row.width) + "x" + std::to_string(row.height);
      std::printf("| %-24s | %-9s | %6zu | %11.1f | %11.1f | %9.1f | %9.3f |\n", row.image.c_str(), output.c_str(),
                  row.frames, row.render_fps, row.encode_fps, row.job_fps, 25.0 / row.job_fps);
    }
  }
  fs::remove_all(scratch);
  return 0;
}
