#pragma once
// Structure-aware mutations of JSON text, for the fuzz targets whose input is a JSON body: the two shapes of
// hostile input that byte flips almost never build, and that crashed the gateway before #15's fixes:
//  - deep nesting: one value (a field's value where the input has fields, else the whole input) wrapped in
//    many levels of arrays or objects, with depths around the parser's limit (64) and far beyond it;
//  - ill-formed text inside strings: lone continuation bytes, sequences cut short, overlong forms, UTF-16
//    surrogates and code points past U+10FFFF as raw bytes, and lone surrogate escapes ("\ud800").
// Header-only and free of libFuzzer, so that the replay build (any compiler) uses the same mutations.

#include <array>
#include <cstddef>
#include <random>
#include <string>
#include <string_view>

namespace gpufleet::fuzz {

// Where the JSON value starting at `begin` ends (one past it), by bracket and string matching; the end of
// the text when it does not end.
inline size_t json_value_end(std::string_view text, size_t begin) {
  size_t depth = 0;
  bool in_string = false;
  for (size_t i = begin; i < text.size(); ++i) {
    const char c = text[i];
    if (in_string) {
      if (c == '\\') {
        ++i;
      } else if (c == '"') {
        in_string = false;
        if (depth == 0) return i + 1;
      }
      continue;
    }
    if (c == '"') {
      in_string = true;
    } else if (c == '[' || c == '{') {
      ++depth;
    } else if (c == ']' || c == '}') {
      if (depth == 0) return i;  // a scalar ended by its container
      if (--depth == 0) return i + 1;
    } else if (depth == 0 && (c == ',' || c == ' ' || c == '\n')) {
      return i;
    }
  }
  return text.size();
}

// Position of a randomly chosen byte `wanted` in `text`, or npos.
inline size_t random_position_of(std::string_view text, char wanted, std::mt19937_64& random) {
  size_t count = 0;
  for (char c : text) count += c == wanted ? 1 : 0;
  if (count == 0) return std::string_view::npos;
  size_t pick = random() % count;
  for (size_t i = 0; i < text.size(); ++i) {
    if (text[i] == wanted && pick-- == 0) return i;
  }
  return std::string_view::npos;
}

// A nesting depth: near the limit most of the time, sometimes as deep as the room allows.
inline size_t nesting_depth(size_t room, std::mt19937_64& random) {
  static constexpr std::array<size_t, 7> kNearLimit{2, 63, 64, 65, 128, 1000, 10000};
  const size_t depth = random() % 4 == 0 ? room : kNearLimit[random() % kNearLimit.size()];
  return depth < room ? depth : room;
}

// `value` wrapped `depth` times in arrays ("[...]") or objects ('{"a":...}').
inline std::string nested(std::string_view value, size_t depth, bool objects) {
  std::string out;
  const std::string_view open = objects ? std::string_view(R"({"a":)") : std::string_view("[");
  out.reserve(depth * (open.size() + 1) + value.size());
  for (size_t i = 0; i < depth; ++i) out += open;
  out += value;
  out.append(depth, objects ? '}' : ']');
  return out;
}

// Ill-formed or unusual text to put inside a JSON string.
inline std::string_view hostile_text(std::mt19937_64& random) {
  static constexpr std::array<std::string_view, 12> kPieces{
      "\x80",              // a continuation byte alone
      "\xC3",              // a lead byte without its continuation
      "\xE2\x82",          // a three-byte sequence cut short
      "\xC0\xAF",          // overlong "/"
      "\xE0\x80\xAF",      // overlong "/", three bytes
      "\xED\xA0\x80",      // a UTF-16 surrogate as UTF-8
      "\xF4\x90\x80\x80",  // past U+10FFFF
      "\xFF",              // never valid
      "\\ud800",           // a lone high surrogate escape
      "\\udc00x",          // a lone low surrogate escape
      "\\u0000",           // NUL
      "\xE2\x80\xAF",      // U+202F, valid: narrow no-break space
  };
  return kPieces[random() % kPieces.size()];
}

// One structure-aware mutation of `input`; the result is at most `max_size` bytes.
inline std::string mutate_json_structure(std::string input, size_t max_size, std::mt19937_64& random) {
  if (random() % 2 == 0) {
    // Nest a field's value (after a ':'), or the whole input.
    const size_t colon = random_position_of(input, ':', random);
    size_t begin = colon == std::string::npos ? 0 : colon + 1;
    while (begin < input.size() && input[begin] == ' ') ++begin;
    const size_t end = colon == std::string::npos ? input.size() : json_value_end(input, begin);
    const bool objects = random() % 2 == 0;
    const size_t per_level = objects ? 6 : 2;
    std::string value = input.substr(begin, end - begin);
    if (value.empty()) value = "0";
    const size_t others = input.size() - (end - begin);  // the bytes around the value
    if (others + value.size() >= max_size) return input.substr(0, max_size);
    const size_t room = (max_size - others - value.size()) / per_level;
    input.replace(begin, end - begin, nested(value, nesting_depth(room, random), objects));
  } else {
    // Ill-formed text inside a string (after one of its quotes), or at a random place.
    const auto piece = hostile_text(random);
    const size_t quote = random_position_of(input, '"', random);
    const size_t at = quote == std::string::npos ? (input.empty() ? 0 : random() % input.size()) : quote + 1;
    input.insert(at, piece);
  }
  if (input.size() > max_size) input.resize(max_size);
  return input;
}

}  // namespace gpufleet::fuzz
