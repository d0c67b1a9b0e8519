#include "tests/support/media.hpp"

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <memory>

namespace gpufleet::testing {

namespace {

std::string run_capture(const std::string& command) {
  std::unique_ptr<FILE, int (*)(FILE*)> pipe(::popen(command.c_str(), "r"), ::pclose);
  if (!pipe) return {};
  std::string out;
  char buffer[1 << 16];
  size_t got = 0;
  while ((got = std::fread(buffer, 1, sizeof(buffer), pipe.get())) > 0) out.append(buffer, got);
  return out;
}

std::string quoted(const std::filesystem::path& path) {
  return "'" + path.string() + "'";
}

}  // namespace

nlohmann::json probe_media(const std::filesystem::path& file) {
  const auto text =
      run_capture("ffprobe -v error -count_frames -print_format json -show_streams -show_format " +
                  quoted(file) + " 2>/dev/null");
  auto json = nlohmann::json::parse(text, nullptr, false);
  return json.is_discarded() ? nlohmann::json::object() : json;
}

std::vector<std::vector<uint8_t>> decode_gray_frames(const std::filesystem::path& file, int width,
                                                     int height) {
  const auto raw =
      run_capture("ffmpeg -v error -i " + quoted(file) + " -f rawvideo -pix_fmt gray - 2>/dev/null");
  const size_t frame_bytes = static_cast<size_t>(width) * static_cast<size_t>(height);
  std::vector<std::vector<uint8_t>> frames;
  for (size_t at = 0; frame_bytes > 0 && at + frame_bytes <= raw.size(); at += frame_bytes) {
    frames.emplace_back(raw.begin() + static_cast<std::ptrdiff_t>(at),
                        raw.begin() + static_cast<std::ptrdiff_t>(at + frame_bytes));
  }
  return frames;
}

bool make_test_video(const std::filesystem::path& picture, const std::filesystem::path& out, double seconds,
                     const std::string& rate, int side, double dark_s, bool with_sound) {
  const bool webm = out.extension() == ".webm";
  const std::string duration = std::to_string(seconds);
  // Scaled a little larger than the frame and panned across it: the face moves by a few pixels a second.
  const std::string filter = "scale=" + std::to_string(side + 24) + ":" + std::to_string(side + 24) +
                             ",crop=" + std::to_string(side) + ":" + std::to_string(side) +
                             ":x='12+10*sin(t)':y=12,drawbox=enable='lt(t," + std::to_string(dark_s) +
                             ")':x=0:y=0:w=iw:h=ih:color=black:t=fill,format=yuv420p";
  std::string command = "ffmpeg -v error -y -loop 1 -framerate " + rate + " -i " + quoted(picture);
  if (with_sound) command += " -f lavfi -i sine=frequency=440:duration=" + duration;
  command += " -t " + duration + " -vf \"" + filter + "\" -r " + rate;
  command += webm ? " -c:v libvpx -b:v 1M" : " -c:v libx264 -preset ultrafast";
  if (with_sound) command += webm ? " -c:a libopus" : " -c:a aac";
  command += " " + quoted(out) + " </dev/null >/dev/null 2>&1";
  return std::system(command.c_str()) == 0;
}

double correlation(const std::vector<double>& a, const std::vector<double>& b) {
  const size_t n = std::min(a.size(), b.size());
  if (n < 2) return 0;
  double mean_a = 0, mean_b = 0;
  for (size_t i = 0; i < n; ++i) mean_a += a[i], mean_b += b[i];
  mean_a /= static_cast<double>(n);
  mean_b /= static_cast<double>(n);
  double cov = 0, var_a = 0, var_b = 0;
  for (size_t i = 0; i < n; ++i) {
    cov += (a[i] - mean_a) * (b[i] - mean_b);
    var_a += (a[i] - mean_a) * (a[i] - mean_a);
    var_b += (b[i] - mean_b) * (b[i] - mean_b);
  }
  return var_a > 0 && var_b > 0 ? cov / std::sqrt(var_a * var_b) : 0.0;
}

std::vector<int16_t> speech_like_audio(double seconds, uint32_t sample_rate) {
  const size_t count = static_cast<size_t>(seconds * sample_rate);
  std::vector<int16_t> samples(count);
  uint32_t noise = 12345;
  for (size_t i = 0; i < count; ++i) {
    const double t = static_cast<double>(i) / sample_rate;
    // Words of 0.9 s with 0.5 s pauses; inside a word, syllables at 4 Hz.
    const double in_word = std::fmod(t, 1.4);
    const double envelope = in_word < 0.9 ? std::pow(std::sin(M_PI * in_word / 0.25 * 1.0), 2) : 0.0;
    noise = noise * 1664525u + 1013904223u;
    const double buzz = 0.6 * std::sin(2 * M_PI * 140 * t) + 0.3 * std::sin(2 * M_PI * 280 * t) +
                        0.1 * (static_cast<double>(noise >> 16) / 32768.0 - 1.0);
    samples[i] = static_cast<int16_t>(std::lround(12000.0 * envelope * buzz));
  }
  return samples;
}

}  // namespace gpufleet::testing
