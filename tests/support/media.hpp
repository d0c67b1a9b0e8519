#pragma once
// Reading produced videos back with the FFmpeg command-line tools (Debian's ffmpeg package): what a player
// would see, decoded by software independent of the encoder's own calls.
#include <cstdint>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace gpufleet::testing {

// ffprobe's view: {"streams":[...], "format":{...}} with frames counted; an empty object when ffprobe fails.
nlohmann::json probe_media(const std::filesystem::path& file);

// Every frame of the file's video as 8-bit gray, row-major width x height.
std::vector<std::vector<uint8_t>> decode_gray_frames(const std::filesystem::path& file, int width,
                                                     int height);

// A test video made by the ffmpeg command-line tool from a still picture (the portrait moving slowly
// sideways, as a filmed head would), `seconds` long at `rate` frames a second ("25", "30000/1001"), `side`
// pixels square, with a 440 Hz tone as its own sound when `with_sound`; the first `dark_s` seconds are
// black (frames without a face). The container follows the file's extension (.mp4, .mov, .webm).
// Returns whether ffmpeg succeeded.
bool make_test_video(const std::filesystem::path& picture, const std::filesystem::path& out, double seconds,
                     const std::string& rate, int side, double dark_s, bool with_sound);

// Pearson correlation of two equally long series (0 when either is constant).
double correlation(const std::vector<double>& a, const std::vector<double>& b);

// Speech-like test audio: bursts of a voiced buzz (syllables at ~4 Hz, amplitude rising and falling) with
// pauses between words; `seconds` long, mono 16-bit at `sample_rate`.
std::vector<int16_t> speech_like_audio(double seconds, uint32_t sample_rate);

}  // namespace gpufleet::testing
