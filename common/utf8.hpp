#pragma once
// Minimal UTF-8 helpers for text normalisation: decode to code points, encode back, Unicode lower-casing and
// word-character classes through glibc's C.UTF-8 locale (no ICU needed).

#include <string>
#include <string_view>
#include <vector>

namespace gpufleet {

// Whether `text` is well-formed UTF-8 (RFC 3629: no overlong forms, no surrogates, nothing past U+10FFFF).
bool utf8_valid(std::string_view text);
// `text` with every ill-formed byte replaced by U+FFFD: what crosses an edge from outside becomes text that
// JSON and the logs can carry.
std::string utf8_repair(std::string_view text);
// At most `max_bytes` of `text`, cut at a character boundary (never inside a multi-byte sequence).
std::string utf8_truncate(std::string_view text, size_t max_bytes);

// Invalid sequences decode to U+FFFD, one per bad byte.
std::u32string utf8_decode(std::string_view text);
std::string utf8_encode(std::u32string_view text);
void utf8_append(std::string& out, char32_t code_point);

char32_t unicode_lower(char32_t c);
std::string utf8_lower(std::string_view text);
// Regex \w as the tokenizers library (Rust regex) means it: letters, digits, marks, connector punctuation.
bool is_word_char(char32_t c);
bool is_space(char32_t c);

}  // namespace gpufleet
