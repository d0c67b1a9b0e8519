#include "models/xtts/sentences.hpp"

#include <map>

#include "common/utf8.hpp"

namespace gpufleet::xtts {

namespace {

// The marks of spaCy's sentencizer (its default punct_chars, which upstream's split_sentence uses) in the
// scripts XTTS speaks and their neighbours: ';' and '…' are not among them, '।' and '؟' are.
bool ends_sentence(char32_t c) {
  switch (c) {
    case U'.':
    case U'!':
    case U'?':
    case U'\u0589':  // ։ Armenian
    case U'\u061f':
    case U'\u06d4':  // ؟ ۔ Arabic, Urdu
    case U'\u0964':
    case U'\u0965':  // । ॥ Devanagari
    case U'\u104b':
    case U'\u1362':  // ။ ። Myanmar, Ethiopic
    case U'\u203c':
    case U'\u203d':
    case U'\u2047':
    case U'\u2048':
    case U'\u2049':  // ‼ ‽ ⁇ ⁈ ⁉
    case U'\ufe52':
    case U'\ufe56':
    case U'\ufe57':  // small . ? !
    case U'\uff01':
    case U'\uff0e':
    case U'\uff1f':
    case U'\uff61':
    case U'\u3002':  // ！ ． ？ ｡ 。
      return true;
    default:
      return false;
  }
}

bool closes(char32_t c) {
  return c == U'"' || c == U'\'' || c == U')' || c == U']' || c == U'\u201d' || c == U'\u2019' ||
         c == U'\u00bb' || c == U'\u300d' || c == U'\u300f' || c == U'\uff09';
}

bool is_space(char32_t c) {
  return c == U' ' || c == U'\t' || c == U'\n' || c == U'\r' || c == U'\u3000';
}

std::u32string trim(std::u32string_view text) {
  size_t begin = 0, end = text.size();
  while (begin < end && is_space(text[begin])) ++begin;
  while (end > begin && is_space(text[end - 1])) --end;
  return std::u32string(text.substr(begin, end - begin));
}

// Sentences, each with its final punctuation and closing quotes.
std::vector<std::u32string> sentences(const std::u32string& text) {
  std::vector<std::u32string> out;
  size_t start = 0;
  for (size_t i = 0; i < text.size(); ++i) {
    if (!ends_sentence(text[i])) continue;
    size_t end = i + 1;
    while (end < text.size() && (ends_sentence(text[end]) || closes(text[end]))) ++end;
    // "3.5" or "e.g.x" is not an end: a sentence ends before a space or the end of the text (CJK marks
    // need no space after them).
    const bool cjk = text[i] >= U'\u3000';
    if (!cjk && end < text.size() && !is_space(text[end])) continue;
    if (auto sentence = trim(std::u32string_view(text).substr(start, end - start)); !sentence.empty())
      out.push_back(sentence);
    start = end;
    i = end - 1;
  }
  if (auto rest = trim(std::u32string_view(text).substr(start)); !rest.empty()) out.push_back(rest);
  return out;
}

}  // namespace

size_t xtts_char_limit(std::string_view language) {
  static const std::map<std::string, size_t, std::less<>> kLimits{
      {"en", 250}, {"de", 253}, {"fr", 273}, {"es", 239}, {"it", 213}, {"pt", 203},
      {"pl", 224}, {"zh", 82},  {"ar", 166}, {"cs", 186}, {"ru", 182}, {"nl", 251},
      {"tr", 226}, {"ja", 71},  {"hu", 224}, {"ko", 95},  {"hi", 150}};
  const auto found = kLimits.find(language.substr(0, language.find('-')));
  return found == kLimits.end() ? 250 : found->second;
}

std::vector<std::string> split_xtts_text(std::string_view text, size_t limit) {
  if (limit == 0) limit = 1;
  std::vector<std::u32string> pieces;
  auto add = [&pieces, limit](std::u32string sentence) {
    // Too long on its own: cut at the last space that fits, or at the limit.
    while (sentence.size() > limit) {
      size_t cut = sentence.find_last_of(U" \t\n\u3000", limit);
      if (cut == std::u32string::npos || cut == 0) cut = limit;
      pieces.push_back(trim(std::u32string_view(sentence).substr(0, cut)));
      sentence = trim(std::u32string_view(sentence).substr(cut));
    }
    if (sentence.empty()) return;
    if (!pieces.empty() && pieces.back().size() + 1 + sentence.size() <= limit) {
      pieces.back() += U' ';
      pieces.back() += sentence;
    } else {
      pieces.push_back(std::move(sentence));
    }
  };
  for (auto& sentence : sentences(utf8_decode(text))) add(std::move(sentence));
  std::vector<std::string> out;
  for (const auto& piece : pieces) {
    if (!piece.empty()) out.push_back(utf8_encode(piece));
  }
  return out;
}

}  // namespace gpufleet::xtts
