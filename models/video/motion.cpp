#include "models/video/motion.hpp"

#include <algorithm>
#include <cmath>
#include <random>

namespace gpufleet::video {

size_t frame_count(size_t samples, uint32_t sample_rate, double fps) {
  if (sample_rate == 0) return 1;
  const double frames = std::round(static_cast<double>(samples) * fps / sample_rate);
  return std::max<size_t>(1, static_cast<size_t>(frames));
}

std::vector<float> mouth_from_audio(std::span<const int16_t> samples, uint32_t sample_rate, double fps) {
  const size_t frames = frame_count(samples.size(), sample_rate, fps);
  std::vector<double> rms(frames, 0.0);
  for (size_t f = 0; f < frames; ++f) {
    const auto begin = std::min(
        samples.size(), static_cast<size_t>(std::llround(static_cast<double>(f) * sample_rate / fps)));
    const auto end = std::min(
        samples.size(), static_cast<size_t>(std::llround(static_cast<double>(f + 1) * sample_rate / fps)));
    double sum = 0;
    for (size_t i = begin; i < end; ++i) sum += static_cast<double>(samples[i]) * samples[i];
    rms[f] = end > begin ? std::sqrt(sum / static_cast<double>(end - begin)) : 0.0;
  }
  std::vector<double> sorted = rms;
  const size_t at = std::min(frames - 1, static_cast<size_t>(0.95 * static_cast<double>(frames)));
  std::nth_element(sorted.begin(), sorted.begin() + static_cast<std::ptrdiff_t>(at), sorted.end());
  const double loud = std::max(sorted[at], 1.0);

  std::vector<float> mouth(frames, 0.0f);
  double level = 0;
  for (size_t f = 0; f < frames; ++f) {
    const double relative = rms[f] / loud;
    // Below 6% of the loud level is a pause or breath: the mouth closes.
    const double target = relative < 0.06 ? 0.0 : std::pow(std::min(relative, 1.0), 0.7);
    level += (target > level ? 0.7 : 0.6) * (target - level);
    mouth[f] = static_cast<float>(std::clamp(level, 0.0, 1.0));
  }
  return mouth;
}

float phoneme_openness(std::string_view name) {
  if (name.empty() || name.front() == '_') return 0.0f;
  // IPA names arrive as UTF-8; their first byte is ASCII for the common symbols this needs.
  switch (name.front()) {
    case 'm':
    case 'b':
    case 'p':
      return 0.0f;
    case 'f':
    case 'v':
      return 0.12f;
    case 'w':
      return 0.15f;
    case 'a':
    case 'A':
    case 'V':
      return 0.95f;
    case 'E':
    case 'e':
    case 'O':
    case 'o':
      return 0.7f;
    case '@':
    case '3':
      return 0.5f;
    case 'h':
    case 'I':
    case 'i':
      return 0.4f;
    case 'U':
    case 'u':
      return 0.35f;
    default:
      return 0.25f;
  }
}

std::vector<float> mouth_from_phonemes(std::span<const PhonemeSpan> phonemes, size_t frames, double fps) {
  std::vector<double> open(frames, 0.0);
  const double frame_s = 1.0 / fps;
  for (const auto& phoneme : phonemes) {
    if (!(phoneme.end_s > phoneme.start_s) || phoneme.start_s < 0) continue;
    const double openness = phoneme_openness(phoneme.name);
    if (openness == 0) continue;
    const auto first = static_cast<size_t>(std::floor(phoneme.start_s * fps));
    for (size_t f = first; f < frames; ++f) {
      const double begin = static_cast<double>(f) * frame_s;
      if (begin >= phoneme.end_s) break;
      const double overlap = std::min(begin + frame_s, phoneme.end_s) - std::max(begin, phoneme.start_s);
      if (overlap > 0) open[f] += openness * overlap / frame_s;
    }
  }
  std::vector<float> mouth(frames, 0.0f);
  for (size_t f = 0; f < frames; ++f) {
    const double before = f > 0 ? open[f - 1] : open[f];
    const double after = f + 1 < frames ? open[f + 1] : open[f];
    mouth[f] = static_cast<float>(std::clamp(0.15 * before + 0.7 * open[f] + 0.15 * after, 0.0, 1.0));
  }
  return mouth;
}

std::vector<FrameMotion> plan_motion(const std::vector<float>& mouth, double fps, const MotionStyle& style) {
  std::vector<FrameMotion> plan(mouth.size());
  std::mt19937_64 random(style.seed);
  std::uniform_real_distribution<double> unit(0.0, 1.0);
  const double phase_a = unit(random) * 6.283, phase_b = unit(random) * 6.283, phase_c = unit(random) * 6.283;
  // A blink closes over two frames and opens over three, at 25 fps; scaled to other rates.
  static constexpr float kBlinkShape[] = {0.5f, 1.0f, 0.7f, 0.35f, 0.1f};
  const double blink_frame_s = 0.04;
  double next_blink_s = 0.8 + unit(random) * 2.0;
  for (size_t f = 0; f < plan.size(); ++f) {
    const double t = static_cast<double>(f) / fps;
    auto& frame = plan[f];
    frame.mouth_open = mouth[f];
    if (style.head_motion) {
      frame.roll_deg = static_cast<float>(1.2 * std::sin(6.283 * t / 4.3 + phase_a) +
                                          0.4 * std::sin(6.283 * t / 1.9 + phase_b));
      frame.dx = static_cast<float>(0.010 * std::sin(6.283 * t / 5.1 + phase_c));
      frame.dy = static_cast<float>(0.006 * std::sin(6.283 * t / 3.3 + phase_b) + 0.012 * mouth[f]);
    }
    if (style.blinks && t >= next_blink_s) {
      const auto step = static_cast<size_t>((t - next_blink_s) / blink_frame_s);
      if (step < std::size(kBlinkShape)) {
        frame.blink = kBlinkShape[step];
      } else {
        next_blink_s = t + 2.5 + unit(random) * 3.0;
      }
    }
  }
  return plan;
}

}  // namespace gpufleet::video
