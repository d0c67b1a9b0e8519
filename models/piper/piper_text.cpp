#include "models/piper/piper_text.hpp"

#include <espeak-ng/speak_lib.h>

#include <algorithm>
#include <cctype>
#include <nlohmann/json.hpp>

#include "common/error.hpp"
#include "common/json_text.hpp"
#include "common/utf8.hpp"
#include "models/espeak/espeak_tts.hpp"

namespace gpufleet::models {
namespace {

constexpr char32_t kPad = U'_';
constexpr char32_t kBos = U'^';
constexpr char32_t kEos = U'$';

bool ends_sentence(char c) {
  return c == '.' || c == '!' || c == '?';
}
bool ends_clause(char c) {
  return ends_sentence(c) || c == ',' || c == ';' || c == ':';
}

// espeak-ng's IPA for one clause (it may answer in several pieces), joined by spaces.
std::string clause_ipa(const std::string& clause) {
  std::string ipa;
  const void* cursor = clause.c_str();
  while (cursor != nullptr) {
    const char* piece = espeak_TextToPhonemes(&cursor, espeakCHARS_UTF8, espeakPHONEMES_IPA);
    if (piece == nullptr) break;
    std::string text(piece);
    while (!text.empty() && (text.back() == ' ' || text.back() == '\n')) text.pop_back();
    if (text.empty()) continue;
    if (!ipa.empty()) ipa += ' ';
    ipa += text;
  }
  return ipa;
}

}  // namespace

PiperVoiceConfig parse_piper_voice_config(std::string_view json_text) {
  auto json = parse_json_or_discarded(json_text);
  if (!json.is_object()) throw ConfigError("piper voice config: not a JSON object");
  PiperVoiceConfig config;
  try {
    if (json.contains("audio")) config.sample_rate = json["audio"].value("sample_rate", config.sample_rate);
    if (json.contains("espeak")) config.espeak_voice = json["espeak"].value("voice", config.espeak_voice);
    if (json.contains("inference")) {
      const auto& inference = json["inference"];
      config.noise_scale = inference.value("noise_scale", config.noise_scale);
      config.length_scale = inference.value("length_scale", config.length_scale);
      config.noise_w = inference.value("noise_w", config.noise_w);
    }
    std::string code = config.espeak_voice;
    if (json.contains("language") && json["language"].is_object())
      code = json["language"].value("code", code);
    code = code.substr(0, code.find_first_of("_-"));
    std::transform(code.begin(), code.end(), code.begin(), [](unsigned char c) { return std::tolower(c); });
    if (code.empty()) throw ConfigError("piper voice config: no language (language.code or espeak.voice)");
    config.language = code;
    config.num_speakers = json.value("num_speakers", config.num_speakers);
    if (json.contains("speaker_id_map"))
      config.speaker_id_map = json["speaker_id_map"].get<std::map<std::string, int64_t>>();
    if (!json.contains("phoneme_id_map") || !json["phoneme_id_map"].is_object()) {
      throw ConfigError("piper voice config: no phoneme_id_map");
    }
    for (const auto& [symbol, ids] : json["phoneme_id_map"].items()) {
      const std::u32string code_points = utf8_decode(symbol);
      if (code_points.size() != 1)
        throw ConfigError("piper voice config: phoneme '" + symbol + "' is not one code point");
      config.phoneme_id_map[code_points[0]] = ids.get<std::vector<int64_t>>();
    }
  } catch (const nlohmann::json::exception& error) {
    throw ConfigError(std::string("piper voice config: ") + error.what());
  }
  for (char32_t symbol : {kPad, kBos, kEos}) {
    if (config.phoneme_id_map.count(symbol) == 0) {
      throw ConfigError("piper voice config: phoneme_id_map lacks '" +
                        utf8_encode(std::u32string(1, symbol)) + "'");
    }
  }
  if (config.sample_rate == 0 || config.num_speakers == 0)
    throw ConfigError("piper voice config: zero sample rate or speakers");
  return config;
}

std::vector<std::u32string> espeak_ipa_sentences(const std::string& text, const std::string& voice) {
  std::vector<std::u32string> sentences;
  std::lock_guard lock(espeak_engine_mutex());
  if (espeak_engine_sample_rate() <= 0)
    throw ModelError(ErrorCode::kModelError, "espeak-ng could not initialise");
  if (espeak_SetVoiceByName(voice.c_str()) != EE_OK) {
    throw ModelError(ErrorCode::kModelError, "espeak-ng has no voice '" + voice + "'");
  }
  std::string sentence;
  std::string clause;
  auto finish_clause = [&](char mark) {
    std::string ipa = clause_ipa(clause);
    clause.clear();
    if (ipa.empty()) return;
    if (!sentence.empty()) sentence += ' ';
    sentence += ipa;
    if (mark != 0) sentence += mark;
  };
  auto finish_sentence = [&] {
    if (!sentence.empty()) sentences.push_back(utf8_decode(sentence));
    sentence.clear();
  };
  for (char c : text) {
    if (ends_clause(c)) {
      finish_clause(c);
      if (ends_sentence(c)) finish_sentence();
    } else {
      clause += c;
    }
  }
  finish_clause(0);
  finish_sentence();
  return sentences;
}

std::vector<int64_t> piper_phoneme_ids(const std::u32string& phonemes, const PiperVoiceConfig& config,
                                       size_t* missing) {
  const auto& map = config.phoneme_id_map;
  const auto& pad = map.at(kPad);
  std::vector<int64_t> ids(map.at(kBos));
  ids.insert(ids.end(), pad.begin(), pad.end());
  size_t skipped = 0;
  for (char32_t phoneme : phonemes) {
    auto found = map.find(phoneme);
    if (found == map.end()) {
      ++skipped;
      continue;
    }
    ids.insert(ids.end(), found->second.begin(), found->second.end());
    ids.insert(ids.end(), pad.begin(), pad.end());
  }
  const auto& eos = map.at(kEos);
  ids.insert(ids.end(), eos.begin(), eos.end());
  if (missing != nullptr) *missing = skipped;
  return ids;
}

}  // namespace gpufleet::models
