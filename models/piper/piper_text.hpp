#pragma once
// The text side of Piper voices (VITS models trained on espeak-ng phonemes), without LibTorch: the voice's
// JSON config, text -> IPA phonemes through libespeak-ng, and phonemes -> the ids the model takes, in
// Piper's layout (BOS, then every phoneme followed by PAD, then EOS). The TorchScript module that turns the
// ids into audio runs in the worker's LibTorch plugin.

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

namespace gpufleet::models {

struct PiperVoiceConfig {
  uint32_t sample_rate = 22050;
  std::string espeak_voice = "en-us";
  std::string language =
      "en";  // as the fleet names languages: language.code "en_US" -> "en", else espeak's prefix
  float noise_scale = 0.667f;
  float length_scale = 1.0f;
  float noise_w = 0.8f;
  std::map<char32_t, std::vector<int64_t>> phoneme_id_map;  // one code point -> its ids
  uint32_t num_speakers = 1;
  std::map<std::string, int64_t> speaker_id_map;
};

// Parses a Piper voice's `.json` (`audio.sample_rate`, `espeak.voice`, `language.code`, `inference.*`,
// `phoneme_id_map`, `num_speakers`, `speaker_id_map`). Throws ConfigError: the map must have the PAD, BOS and
// EOS symbols.
PiperVoiceConfig parse_piper_voice_config(std::string_view json_text);

// One sentence's phonemes per element, punctuation kept as Piper keeps it (clauses end in their mark, a
// space between clauses). Throws ModelError when espeak-ng cannot select `voice`.
std::vector<std::u32string> espeak_ipa_sentences(const std::string& text, const std::string& voice);

// Piper's ids: ^ _ p1 _ p2 _ ... $ . Phonemes the map does not have are skipped and counted in `missing`.
std::vector<int64_t> piper_phoneme_ids(const std::u32string& phonemes, const PiperVoiceConfig& config,
                                       size_t* missing = nullptr);

}  // namespace gpufleet::models
