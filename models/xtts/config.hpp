#pragma once
// The parts of an upstream XTTS-v2 config.json that inference needs. Sizes that config.json cannot express
// (HiFi-GAN width, speaker-encoder depth) are read off the weight shapes instead, never assumed.

#include <cstdint>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

namespace gpufleet::xtts {

struct XttsConfig {
  // model_args
  int64_t gpt_layers = 30;
  int64_t gpt_n_model_channels = 1024;
  int64_t gpt_n_heads = 16;
  int64_t gpt_max_audio_tokens = 605;
  int64_t gpt_max_text_tokens = 402;
  int64_t gpt_max_prompt_tokens = 70;
  int64_t gpt_number_text_tokens = 6681;
  int64_t gpt_start_text_token = 261;
  int64_t gpt_stop_text_token = 0;
  int64_t gpt_num_audio_tokens = 1026;
  int64_t gpt_start_audio_token = 1024;
  int64_t gpt_stop_audio_token = 1025;
  int64_t gpt_code_stride_len = 1024;
  bool gpt_use_perceiver_resampler = true;
  int64_t input_sample_rate = 22050;
  int64_t output_sample_rate = 24000;
  int64_t output_hop_length = 256;
  int64_t decoder_input_dim = 1024;
  int64_t d_vector_dim = 512;
  bool cond_d_vector_in_each_upsampling_layer = true;
  // Inference settings where config.json lacks them: upstream XttsConfig's defaults, which its load_json
  // fills in and Xtts.synthesize passes on (not Xtts.full_inference's keyword defaults, which differ).
  double temperature = 0.85;
  double length_penalty = 1.0;
  double repetition_penalty = 2.0;
  int64_t top_k = 50;
  double top_p = 0.85;
  double gpt_cond_len = 12;
  double gpt_cond_chunk_len = 4;
  double max_ref_len = 10;
  bool sound_norm_refs = false;
  std::vector<std::string> languages;

  // Generation stops after this many codes (upstream: gpt_max_audio_tokens - 3).
  int64_t max_generated_codes() const { return gpt_max_audio_tokens - 3; }

  // Throws ModelError(kModelError) for a missing or malformed file.
  static XttsConfig load(const std::filesystem::path& path);
  static XttsConfig from_json_text(std::string_view text);
};

// JSON as Python's json module writes it: bare Infinity, -Infinity and NaN outside strings are accepted
// (as the largest double, its negative, and null). Returns a discarded value on a syntax error.
nlohmann::json parse_python_json(std::string_view text);

}  // namespace gpufleet::xtts
