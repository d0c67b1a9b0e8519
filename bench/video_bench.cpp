// gpufleet-video-bench: speed of the embedded talking-head backend on this machine. For each output size,
// renders the same speech-driven animation of one portrait and prints frames per second of the animator
// alone, of the H.264/AAC encoder alone, and of the whole job (read, detect, render, encode, mux), with the
// real-time factor at 25 fps.
//
//   gpufleet-video-bench [--image FILE] [--seconds S] [--sizes 0,512,256] [--keep DIR]
//   gpufleet-video-bench --neural liveportrait|wav2lip:DIR [--device cpu|cuda:0] [--crop N] [--batches
//   1,8,32]
//                        [--dtype float32|float16] [--seconds S] [--sizes 512]
//
// --keep DIR leaves each job's MP4 in DIR (video-<size>.mp4), to look at.
// --neural runs a neural renderer's TorchScript modules from DIR (docs/video.md, "GPU backends") through the
// worker's LibTorch plugin instead: frames per second of the renderer alone at each frame batch, and of the
// whole job (crop, render, paste back, encode) at the first batch size.
//
// Size 0 is the portrait's own size; others are square crops around the face. Default image: the demo
// portrait tests/data/astronaut.png (512x512), and a 2x upscale of it to show a larger own size.
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "common/config.hpp"
#include "common/files.hpp"
#include "common/usage.hpp"
#include "common/wav.hpp"
#include "models/video/animator.hpp"
#include "models/video/face_renderer.hpp"
#include "models/video/motion.hpp"
#include "models/video/mp4_writer.hpp"
#include "models/video/portrait.hpp"
#include "models/video/talking_head.hpp"
#include "worker/torch_runtime.hpp"

namespace {

using namespace gpufleet;
using Clock = std::chrono::steady_clock;
namespace fs = std::filesystem;

double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

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
  models::ModelInput input{
      "bench",
      {{"audio_path", audio_file.string()}, {"reference_image", image_file.string()}, {"size", size}}};
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
    fs::rename(output.file->path, fs::path(keep) / ("video-" + std::to_string(row.width) + "x" +
                                                    std::to_string(row.height) + ".mp4"));
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

// The neural renderer rows: renderer-only fps per frame batch, and the whole job at the first batch.
int run_neural(const std::string& neural, const std::string& device, int crop, const std::string& batches,
               const std::string& dtype, double seconds, const std::string& sizes) {
  const auto colon = neural.find(':');
  if (colon == std::string::npos) {
    std::fprintf(stderr, "--neural takes FAMILY:DIR (liveportrait or wav2lip)\n");
    return 2;
  }
  models::ModelSpec spec;
  spec.backend = neural.substr(0, colon);
  spec.name = spec.backend;
  spec.kind = "video";
  spec.device = device;
  spec.dtype = dtype;
  spec.files["dir"] = neural.substr(colon + 1);
  if (crop > 0) spec.options["crop_size"] = crop;
  auto runtime = worker::load_torch_runtime();
  const fs::path scratch = fs::temp_directory_path() / ("gpufleet-video-bench-" + std::to_string(::getpid()));
  fs::create_directories(scratch);
  const auto audio = speech(seconds);
  const auto plan = video::plan_motion(video::mouth_from_audio(audio, 24000, 25), 25, video::MotionStyle{});
  std::printf("gpufleet-video-bench: %s on %s (%s), %.1f s of speech = %zu frames\n\n", spec.backend.c_str(),
              device.c_str(), dtype.c_str(), seconds, plan.size());
  std::printf("| %-12s | %-8s | %4s | %5s | %12s |\n", "renderer", "device", "crop", "batch", "render fps");
  std::printf("|--------------|----------|------|-------|--------------|\n");
  const auto batch_list = split_list(batches);
  for (const auto& batch_text : batch_list) {
    spec.options["frame_batch"] = std::stoi(batch_text);
    auto renderer = runtime->load_face_renderer(spec, device);
    const int size = renderer->crop_size();
    std::vector<uint8_t> face(static_cast<size_t>(size) * size * 3, 128), out;
    auto session = renderer->begin(video::FaceRenderJob{face.data(), audio, 24000, 25});
    const size_t batch = renderer->frame_batch();
    out.resize(batch * face.size());
    session->render(0, std::span<const video::FrameMotion>(plan.data(), std::min(batch, plan.size())),
                    out.data());  // warm-up
    const auto start = Clock::now();
    for (size_t first = 0; first < plan.size(); first += batch) {
      const size_t count = std::min(batch, plan.size() - first);
      session->render(first, std::span<const video::FrameMotion>(plan.data() + first, count), out.data());
    }
    std::printf("| %-12s | %-8s | %4d | %5zu | %12.1f |\n", renderer->family().c_str(),
                renderer->device().c_str(), size, batch,
                static_cast<double>(plan.size()) / seconds_since(start));
  }
  spec.options["frame_batch"] = std::stoi(batch_list.front());
  const fs::path image = fs::path(GPUFLEET_SOURCE_DIR) / "tests/data/astronaut.png";
  const auto audio_file = scratch / "speech.wav";
  write_file_atomically(audio_file, encode_wav_pcm16(audio, 24000));
  std::printf("\n| %-9s | %6s | %9s | %9s |\n", "output", "frames", "job fps", "job RTF");
  std::printf("|-----------|--------|-----------|-----------|\n");
  for (const auto& size_text : split_list(sizes)) {
    auto model = video::load_neural_head_model(spec, runtime->load_face_renderer(spec, device));
    models::JobContext context;
    models::ModelInput input{"bench",
                             {{"audio_path", audio_file.string()},
                              {"reference_image", image.string()},
                              {"size", std::stoi(size_text)}}};
    input.scratch_dir = scratch;
    const auto start = Clock::now();
    const auto output = model->run(input, context);
    const double fps = static_cast<double>(output.details["frames"].get<size_t>()) / seconds_since(start);
    const std::string shape = std::to_string(output.details["width"].get<int>()) + "x" +
                              std::to_string(output.details["height"].get<int>());
    std::printf("| %-9s | %6zu | %9.1f | %9.3f |\n", shape.c_str(), output.details["frames"].get<size_t>(),
                fps, 25.0 / fps);
    fs::remove(output.file->path);
  }
  fs::remove_all(scratch);
  return 0;
}

// A pixel count, frame batch or size: a whole number within [min, max].
std::optional<int> whole_number(std::string_view text, double min, double max) {
  const auto value = gpufleet::option_number(text, min, max);
  if (!value || std::floor(*value) != *value) return std::nullopt;
  return static_cast<int>(*value);
}

}  // namespace

constexpr std::string_view kUsage =
    "usage: gpufleet-video-bench [--image FILE] [--seconds S] [--sizes 0,512,256] [--keep DIR]\n"
    "       gpufleet-video-bench --neural liveportrait|wav2lip:DIR [--device cpu|cuda:0] [--crop N]\n"
    "                            [--batches 1,8,32] [--dtype float32|float16] [--seconds S] [--sizes 512]\n"
    "  Frames per second of the talking-head backend on this machine: the animator alone, the encoder alone\n"
    "  and the whole job, per output size (0: the portrait's own), with the real-time factor at 25 fps;\n"
    "  --neural: a neural renderer's TorchScript modules from DIR instead, per frame batch.\n";

int main(int argc, char** argv) {
  if (gpufleet::asks_for_help(argc, argv)) return gpufleet::print_usage(kUsage);
  std::string image;
  double seconds = 8;
  std::string sizes = "0,512,256";
  std::string keep;
  std::string neural, device = "cpu", batches = "1,8,32", dtype = "float32";
  int crop = 0;
  bool sizes_given = false;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--neural" && i + 1 < argc) {
      neural = argv[++i];
    } else if (arg == "--device" && i + 1 < argc) {
      device = argv[++i];
    } else if (arg == "--crop" && i + 1 < argc) {
      const auto value = whole_number(argv[++i], 0, 4096);
      if (!value)
        return gpufleet::usage_error("gpufleet-video-bench", "--crop takes 0 to 4096 pixels", kUsage);
      crop = *value;
    } else if (arg == "--batches" && i + 1 < argc) {
      batches = argv[++i];
    } else if (arg == "--dtype" && i + 1 < argc) {
      dtype = argv[++i];
    } else if (arg == "--image" && i + 1 < argc) {
      image = argv[++i];
    } else if (arg == "--seconds" && i + 1 < argc) {
      const auto value = gpufleet::option_number(argv[++i], 0.1, 3600);
      if (!value) return gpufleet::usage_error("gpufleet-video-bench", "--seconds takes 0.1 to 3600", kUsage);
      seconds = *value;
    } else if (arg == "--sizes" && i + 1 < argc) {
      sizes = argv[++i];
      sizes_given = true;
    } else if (arg == "--keep" && i + 1 < argc) {
      keep = argv[++i];
    } else {
      return gpufleet::usage_error("gpufleet-video-bench",
                                   (i + 1 < argc ? "unknown option " : "unknown option or no value: ") + arg,
                                   kUsage);
    }
  }
  // Lists of numbers are checked here, before anything is loaded or rendered.
  for (const auto& [name, list, min, max] :
       {std::tuple{"--sizes", &sizes, 0.0, 8192.0}, std::tuple{"--batches", &batches, 1.0, 1024.0}}) {
    const auto items = split_list(*list);
    const bool numbers =
        !items.empty() && std::all_of(items.begin(), items.end(), [&](const std::string& item) {
          return whole_number(item, min, max).has_value();
        });
    if (!numbers) {
      return gpufleet::usage_error("gpufleet-video-bench",
                                   std::string(name) + " takes a comma-separated list of whole numbers",
                                   kUsage);
    }
  }
  if (!neural.empty()) {
    try {
      return run_neural(neural, device, crop, batches, dtype, seconds, sizes_given ? sizes : "512");
    } catch (const std::exception& error) {
      std::fprintf(stderr, "gpufleet-video-bench: %s\n", error.what());
      return 1;
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
  std::printf("| %-24s | %-9s | %6s | %11s | %11s | %9s | %9s |\n", "portrait", "output", "frames",
              "render fps", "encode fps", "job fps", "job RTF");
  std::printf("|%s|%s|%s|%s|%s|%s|%s|\n", std::string(26, '-').c_str(), std::string(11, '-').c_str(),
              std::string(8, '-').c_str(), std::string(13, '-').c_str(), std::string(13, '-').c_str(),
              std::string(11, '-').c_str(), std::string(11, '-').c_str());
  for (const auto& [file, label] : images) {
    for (const auto& size_text : split_list(sizes)) {
      const int size = std::stoi(size_text);
      const auto row = measure(file, label, size, audio, scratch, keep);
      const std::string output = std::to_string(row.width) + "x" + std::to_string(row.height);
      std::printf("| %-24s | %-9s | %6zu | %11.1f | %11.1f | %9.1f | %9.3f |\n", row.image.c_str(),
                  output.c_str(), row.frames, row.render_fps, row.encode_fps, row.job_fps,
                  25.0 / row.job_fps);
    }
  }
  fs::remove_all(scratch);
  return 0;
}
