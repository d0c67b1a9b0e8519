#pragma once
// What a talking head does in each video frame, planned from the speech before anything is drawn: how far
// the mouth opens, when the eyes blink, how the head sways. Plain numbers, no images, so the plan is tested
// on its own (and the same plan could drive a neural renderer's keypoints).

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace gpufleet::video {

struct FrameMotion {
  float mouth_open = 0;  // 0 closed .. 1 wide open
  float blink = 0;       // 0 open eyes .. 1 closed
  float roll_deg = 0;    // head tilt, degrees
  float dx = 0;          // head shift, in face widths
  float dy = 0;
};

// How many frames `samples` at `sample_rate` last at `fps`: the duration rounded to whole frames, at least 1.
size_t frame_count(size_t samples, uint32_t sample_rate, double fps);

// Mouth opening per frame from the audio envelope: each frame's RMS against the loud level of the whole
// track (its 95th percentile), quiet frames gated shut, with a fast attack and a slower release so that the
// jaw follows syllables without jitter.
std::vector<float> mouth_from_audio(std::span<const int16_t> samples, uint32_t sample_rate, double fps);

// A phoneme and when it is spoken, as a TTS model reports it (espeak-ng's "timings").
struct PhonemeSpan {
  std::string name;  // espeak-ng's mnemonic ("aI", "m", "_:") or an IPA symbol
  double start_s = 0;
  double end_s = 0;
};

// How far a phoneme opens the mouth, 0..1: pauses and the lip closures (m, b, p) 0, lip-teeth (f, v) barely,
// open vowels (a) most, close and rounded vowels (i, u) less, other consonants a little.
float phoneme_openness(std::string_view name);

// Mouth opening per frame from phoneme timings: each of `frames` frames gets the time-weighted openness of
// the phonemes it covers (silence counts as closed), smoothed over neighbouring frames only, so that the lips
// still meet on an m or b of two frames.
std::vector<float> mouth_from_phonemes(std::span<const PhonemeSpan> phonemes, size_t frames, double fps);

struct MotionStyle {
  bool blinks = true;       // off for lip sync only
  bool head_motion = true;  // off for lip sync only
  uint64_t seed = 1;        // blink times and sway phases, reproducible per job
};

// The whole plan: the mouth track as given, blinks every 2.5-5.5 s (about 200 ms each), a slow sway and a
// slight nod that follows the mouth.
std::vector<FrameMotion> plan_motion(const std::vector<float>& mouth, double fps, const MotionStyle& style);

}  // namespace gpufleet::video
