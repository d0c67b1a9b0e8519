#pragma once
// XTTS-v2's text front end: the BPE tokenizer read from the checkpoint's vocab.json, applied the way the
// HF tokenizers library applies that file (added tokens first, then the Whitespace pre-tokenizer
// `\w+|[^\w\s]+`, then BPE merges by rank, unknown characters as [UNK]), and the upstream encode step:
// clean the text for its language, prefix "[lang]", spaces as "[SPACE]".

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace gpufleet::xtts {

class BpeTokenizer {
 public:
  // Throws ModelError(kModelError) when the file is missing or not a BPE tokenizer.json.
  static BpeTokenizer load(const std::filesystem::path& vocab_json);
  static BpeTokenizer from_json(std::string_view json_text);

  // Token ids of `text`, exactly as tokenizers' Tokenizer.encode(text).ids.
  std::vector<int64_t> encode(std::string_view text) const;
  std::optional<int64_t> token_id(const std::string& token) const;
  size_t vocab_size() const { return vocab_.size(); }

 private:
  void encode_word(std::u32string_view word, std::vector<int64_t>& ids) const;

  std::unordered_map<std::string, int64_t> vocab_;
  std::unordered_map<std::string, int64_t> merge_ranks_;       // "left right" -> rank
  std::vector<std::pair<std::string, int64_t>> added_tokens_;  // longest first
  int64_t unk_id_ = -1;
};

// Upstream's multilingual_cleaners for a language: quotes, lower case, numbers (worded as num2words words
// them), abbreviations, symbols and whitespace, equal to upstream's output in all 15 languages it cleans
// (tests/parity). Throws ModelError(kUnsupportedLanguage) for a language it cannot clean (zh, ja and
// unknown tags), ModelError(kInvalidInput) where upstream raises (digits in Hindi, Czech ordinals, a number
// past a language's largest word, ...) or for a number of more than 36 digits.
std::string clean_text(std::string_view text, std::string_view language);
// VoiceBpeTokenizer.preprocess_text: clean_text, then Korean romanised (hangul.hpp). What is tokenised.
std::string preprocess_text(std::string_view text, std::string_view language);
// Whether clean_text cleans a language of a checkpoint's list ("zh-cn" -> zh): a worker announces only
// these, so that a job in Japanese is refused when it is submitted, not after its voice was computed.
bool text_front_end_speaks(std::string_view language);

// Python's str.lower(), which upstream applies: Unicode's lower-case mapping, with U+0130 (İ) becoming
// "i" and a combining dot above. Greek's final sigma (no XTTS language) is lowered as any sigma.
std::string python_lower(std::string_view text);
// What Xtts.inference hands its tokenizer: text.strip().lower(), with Python's whitespace.
std::string inference_text(std::string_view text);

// What upstream's VoiceBpeTokenizer.encode(text, lang) returns, for text already strip()ped and lower()ed.
std::vector<int64_t> encode_xtts_text(const BpeTokenizer& tokenizer, std::string_view text,
                                      std::string_view language);

}  // namespace gpufleet::xtts
