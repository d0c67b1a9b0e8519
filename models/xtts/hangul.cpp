#include "models/xtts/hangul.hpp"

#include <array>
#include <set>

#include "common/utf8.hpp"

namespace gpufleet::xtts {
namespace {

// A precomposed syllable is U+AC00 + (initial * 21 + vowel) * 28 + final.
constexpr char32_t kFirstSyllable = 0xAC00;
constexpr char32_t kLastSyllable = 0xD7A3;

constexpr std::array<std::string_view, 19> kInitials{"g",  "kk", "n", "d",  "tt", "l", "m", "b", "pp", "s",
                                                     "ss", "",   "j", "jj", "ch", "k", "t", "p", "h"};
constexpr std::array<std::string_view, 21> kVowels{"a",  "ae", "ya", "yae", "eo", "e",  "yeo",
                                                   "ye", "o",  "wa", "wae", "oe", "yo", "u",
                                                   "wo", "we", "wi", "yu",  "eu", "ui", "i"};
constexpr std::array<std::string_view, 28> kFinals{"",   "g",  "kk", "gs", "n",  "nj", "nh", "d", "l",  "lg",
                                                   "lm", "lb", "ls", "lt", "lp", "lh", "m",  "b", "bs", "s",
                                                   "ss", "ng", "j",  "ch", "k",  "t",  "p",  "h"};

template <size_t N>
bool listed(const std::array<std::string_view, N>& list, std::string_view letters) {
  for (const auto entry : list) {
    if (entry == letters) return true;
  }
  return false;
}

// The joins of a final's letters and the next initial's that read as more than one (final, initial) pair
// with a non-empty initial: "kk" (k + k or "" + kk), "ss", "lss", ... (13 of them). A hyphen keeps such a
// join readable.
const std::set<std::string>& ambiguous_joins() {
  static const std::set<std::string> joins = [] {
    std::set<std::string> out;
    for (const auto final_letters : kFinals) {
      for (const auto initial_letters : kInitials) {
        const std::string joined = std::string(final_letters) + std::string(initial_letters);
        int readings = 0;
        for (size_t cut = 0; cut < joined.size(); ++cut) {
          if (listed(kFinals, std::string_view(joined).substr(0, cut)) &&
              listed(kInitials, std::string_view(joined).substr(cut))) {
            ++readings;
          }
        }
        if (readings > 1) out.insert(joined);
      }
    }
    return out;
  }();
  return joins;
}

}  // namespace

std::string hangul_romanize(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  bool after_syllable = false;
  size_t previous_final = 0;
  for (const char32_t c : utf8_decode(text)) {
    if (c < kFirstSyllable || c > kLastSyllable) {
      utf8_append(out, c);
      after_syllable = false;
      continue;
    }
    const size_t index = c - kFirstSyllable;
    const size_t initial = index / 588;
    const size_t vowel = index / 28 % 21;
    const size_t final = index % 28;
    if (after_syllable &&
        (kInitials[initial].empty() || ambiguous_joins().count(std::string(kFinals[previous_final]) +
                                                               std::string(kInitials[initial])) > 0)) {
      out += '-';
    }
    out += kInitials[initial];
    out += kVowels[vowel];
    out += kFinals[final];
    after_syllable = true;
    previous_final = final;
  }
  return out;
}

}  // namespace gpufleet::xtts
