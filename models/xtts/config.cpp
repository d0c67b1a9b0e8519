#include "models/xtts/config.hpp"

#include <limits>

#include "common/error.hpp"
#include "common/files.hpp"
#include "common/json_text.hpp"

namespace gpufleet::xtts {

nlohmann::json parse_python_json(std::string_view text) {
  // Rewrite the three non-standard literals outside string literals, then parse strictly.
  std::string rewritten;
  rewritten.reserve(text.size());
  bool in_string = false;
  for (size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (in_string) {
      rewritten.push_back(c);
      if (c == '\\' && i + 1 < text.size()) {
        rewritten.push_back(text[++i]);
      } else if (c == '"') {
        in_string = false;
      }
      continue;
    }
    if (c == '"') {
      in_string = true;
      rewritten.push_back(c);
    } else if (text.compare(i, 8, "Infinity") == 0) {
      rewritten += "1.7976931348623157e308";
      i += 7;
    } else if (text.compare(i, 3, "NaN") == 0) {
      rewritten += "null";
      i += 2;
    } else {
      rewritten.push_back(c);
    }
  }
  return parse_json_or_discarded(rewritten);
}

namespace {

template <typename T>
void read(const nlohmann::json& object, const char* name, T& field) {
  auto it = object.find(name);
  if (it == object.end() || it->is_null()) return;
  try {
    field = it->get<T>();
  } catch (const nlohmann::json::exception&) {
    throw ModelError(ErrorCode::kModelError, std::string("XTTS config: ") + name + " has the wrong type");
  }
}

}  // namespace

XttsConfig XttsConfig::from_json_text(std::string_view text) {
  const auto json = parse_python_json(text);
  if (!json.is_object()) throw ModelError(ErrorCode::kModelError, "XTTS config is not a JSON object");
  const auto args = json.value("model_args", nlohmann::json::object());
  XttsConfig config;
  read(args, "gpt_layers", config.gpt_layers);
  read(args, "gpt_n_model_channels", config.gpt_n_model_channels);
  read(args, "gpt_n_heads", config.gpt_n_heads);
  read(args, "gpt_max_audio_tokens", config.gpt_max_audio_tokens);
  read(args, "gpt_max_text_tokens", config.gpt_max_text_tokens);
  read(args, "gpt_max_prompt_tokens", config.gpt_max_prompt_tokens);
  read(args, "gpt_number_text_tokens", config.gpt_number_text_tokens);
  read(args, "gpt_start_text_token", config.gpt_start_text_token);
  read(args, "gpt_stop_text_token", config.gpt_stop_text_token);
  read(args, "gpt_num_audio_tokens", config.gpt_num_audio_tokens);
  read(args, "gpt_start_audio_token", config.gpt_start_audio_token);
  read(args, "gpt_stop_audio_token", config.gpt_stop_audio_token);
  read(args, "gpt_code_stride_len", config.gpt_code_stride_len);
  read(args, "gpt_use_perceiver_resampler", config.gpt_use_perceiver_resampler);
  read(args, "input_sample_rate", config.input_sample_rate);
  read(args, "output_sample_rate", config.output_sample_rate);
  read(args, "output_hop_length", config.output_hop_length);
  read(args, "decoder_input_dim", config.decoder_input_dim);
  read(args, "d_vector_dim", config.d_vector_dim);
  read(args, "cond_d_vector_in_each_upsampling_layer", config.cond_d_vector_in_each_upsampling_layer);
  read(json, "temperature", config.temperature);
  read(json, "length_penalty", config.length_penalty);
  read(json, "repetition_penalty", config.repetition_penalty);
  read(json, "top_k", config.top_k);
  read(json, "top_p", config.top_p);
  read(json, "gpt_cond_len", config.gpt_cond_len);
  read(json, "gpt_cond_chunk_len", config.gpt_cond_chunk_len);
  read(json, "max_ref_len", config.max_ref_len);
  read(json, "sound_norm_refs", config.sound_norm_refs);
  read(json, "languages", config.languages);
  if (config.gpt_n_heads <= 0 || config.gpt_n_model_channels % config.gpt_n_heads != 0) {
    throw ModelError(ErrorCode::kModelError,
                     "XTTS config: gpt_n_model_channels must be a multiple of gpt_n_heads");
  }
  if (config.gpt_layers <= 0 || config.gpt_max_audio_tokens <= 3) {
    throw ModelError(ErrorCode::kModelError,
                     "XTTS config: gpt_layers and gpt_max_audio_tokens must be positive");
  }
  return config;
}

XttsConfig XttsConfig::load(const std::filesystem::path& path) {
  auto text = read_file(path, 16u << 20);
  if (!text) throw ModelError(ErrorCode::kModelError, "cannot read XTTS config " + path.string());
  return from_json_text(*text);
}

}  // namespace gpufleet::xtts
