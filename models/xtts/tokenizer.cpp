#include "models/xtts/tokenizer.hpp"

#include <algorithm>
#include <limits>
#include <nlohmann/json.hpp>

#include "common/error.hpp"
#include "common/files.hpp"
#include "common/json_text.hpp"
#include "common/utf8.hpp"
#include "models/xtts/hangul.hpp"

namespace gpufleet::xtts {

BpeTokenizer BpeTokenizer::load(const std::filesystem::path& vocab_json) {
  auto text = read_file(vocab_json, 64u << 20);
  if (!text)
    throw ModelError(ErrorCode::kModelError, "cannot read the XTTS vocabulary " + vocab_json.string());
  return from_json(*text);
}

BpeTokenizer BpeTokenizer::from_json(std::string_view json_text) {
  auto json = parse_json_or_discarded(json_text);
  if (!json.is_object() || !json.contains("model") || json["model"].value("type", "") != "BPE") {
    throw ModelError(ErrorCode::kModelError, "the XTTS vocabulary is not a BPE tokenizer.json");
  }
  BpeTokenizer tokenizer;
  const auto& model = json["model"];
  for (const auto& [token, id] : model.at("vocab").items()) tokenizer.vocab_[token] = id.get<int64_t>();
  int64_t rank = 0;
  for (const auto& merge : model.at("merges")) {
    // Older files write a merge as "left right", newer ones as ["left", "right"].
    std::string key = merge.is_string()
                          ? merge.get<std::string>()
                          : merge.at(0).get<std::string>() + " " + merge.at(1).get<std::string>();
    // A pair listed twice takes its last rank: the tokenizers library builds its merge map by inserting
    // in order, so later entries overwrite earlier ones. XTTS' vocabulary repeats 1745 pairs.
    tokenizer.merge_ranks_[std::move(key)] = rank++;
  }
  if (auto unk = model.find("unk_token"); unk != model.end() && unk->is_string()) {
    if (auto id = tokenizer.token_id(unk->get<std::string>())) tokenizer.unk_id_ = *id;
  }
  for (const auto& added : json.value("added_tokens", nlohmann::json::array())) {
    tokenizer.added_tokens_.emplace_back(added.at("content").get<std::string>(),
                                         added.at("id").get<int64_t>());
    tokenizer.vocab_.emplace(added.at("content").get<std::string>(), added.at("id").get<int64_t>());
  }
  std::stable_sort(tokenizer.added_tokens_.begin(), tokenizer.added_tokens_.end(),
                   [](const auto& a, const auto& b) { return a.first.size() > b.first.size(); });
  return tokenizer;
}

std::optional<int64_t> BpeTokenizer::token_id(const std::string& token) const {
  auto it = vocab_.find(token);
  if (it == vocab_.end()) return std::nullopt;
  return it->second;
}

void BpeTokenizer::encode_word(std::u32string_view word, std::vector<int64_t>& ids) const {
  // Symbols start as single characters; a character outside the vocabulary is [UNK] and never merges.
  std::vector<std::string> symbols;
  std::vector<bool> known;
  for (char32_t c : word) {
    std::string symbol;
    utf8_append(symbol, c);
    known.push_back(vocab_.count(symbol) != 0);
    symbols.push_back(std::move(symbol));
  }
  while (symbols.size() > 1) {
    int64_t best_rank = std::numeric_limits<int64_t>::max();
    size_t best = 0;
    for (size_t i = 0; i + 1 < symbols.size(); ++i) {
      if (!known[i] || !known[i + 1]) continue;
      auto it = merge_ranks_.find(symbols[i] + " " + symbols[i + 1]);
      if (it != merge_ranks_.end() && it->second < best_rank) {
        best_rank = it->second;
        best = i;
      }
    }
    if (best_rank == std::numeric_limits<int64_t>::max()) break;
    // One merge per step, the leftmost pair of the lowest rank, as the tokenizers library's heap does it:
    // merging every occurrence at once (GPT-2's loop) differs when the merged symbol and its neighbour
    // form a pair of a lower rank than the next occurrence.
    symbols[best] += symbols[best + 1];
    symbols.erase(symbols.begin() + static_cast<std::ptrdiff_t>(best) + 1);
    known.erase(known.begin() + static_cast<std::ptrdiff_t>(best) + 1);
  }
  for (size_t i = 0; i < symbols.size(); ++i) {
    auto it = known[i] ? vocab_.find(symbols[i]) : vocab_.end();
    if (it != vocab_.end()) {
      ids.push_back(it->second);
    } else if (unk_id_ >= 0) {
      ids.push_back(unk_id_);
    }
  }
}

std::vector<int64_t> BpeTokenizer::encode(std::string_view text) const {
  std::vector<int64_t> ids;
  // Whitespace pre-tokenizer on the text between added tokens: runs of word characters, runs of other
  // non-space characters; spaces separate and disappear.
  auto pre_tokenize = [&](std::string_view segment) {
    const std::u32string chars = utf8_decode(segment);
    size_t i = 0;
    while (i < chars.size()) {
      if (is_space(chars[i])) {
        ++i;
        continue;
      }
      const bool word = is_word_char(chars[i]);
      size_t j = i + 1;
      while (j < chars.size() && !is_space(chars[j]) && is_word_char(chars[j]) == word) ++j;
      encode_word(std::u32string_view(chars).substr(i, j - i), ids);
      i = j;
    }
  };
  size_t start = 0;
  size_t at = 0;
  while (at < text.size()) {
    const std::pair<std::string, int64_t>* match = nullptr;
    for (const auto& added : added_tokens_) {
      if (text.compare(at, added.first.size(), added.first) == 0) {
        match = &added;
        break;  // longest first
      }
    }
    if (match == nullptr) {
      ++at;
      continue;
    }
    pre_tokenize(text.substr(start, at - start));
    ids.push_back(match->second);
    at += match->first.size();
    start = at;
  }
  pre_tokenize(text.substr(start));
  return ids;
}

std::string preprocess_text(std::string_view text, std::string_view language) {
  std::string cleaned = clean_text(text, language);
  return language == "ko" ? hangul_romanize(cleaned) : cleaned;
}

std::vector<int64_t> encode_xtts_text(const BpeTokenizer& tokenizer, std::string_view text,
                                      std::string_view language) {
  std::string lang(language.substr(0, language.find('-')));  // "zh-cn" -> "zh", as upstream
  std::string cleaned = preprocess_text(text, lang);
  if (lang == "zh") lang = "zh-cn";
  std::string prefixed = "[" + lang + "]";
  for (char c : cleaned) {
    if (c == ' ') {
      prefixed += "[SPACE]";
    } else {
      prefixed.push_back(c);
    }
  }
  return tokenizer.encode(prefixed);
}

}  // namespace gpufleet::xtts
