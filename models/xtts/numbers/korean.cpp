// num2words' Korean (lang_KO): Sino-Korean numerals on the cards machinery with myriad scale words (만 10^4,
// 억 10^8, 조 10^12, ...), "일" dropped before 십/백/천/만 by its merge, native-Korean ordinals ("첫 번째",
// "스물한 번째") rebuilt from the cardinal's last words, and only dollars among upstream's currencies.
#include <map>

#include "models/xtts/numbers/cards.hpp"
#include "models/xtts/numbers/languages.hpp"

namespace gpufleet::xtts::numbers {
namespace {

// Python's str.split(separator): every part, empty ones included.
std::vector<std::string> split_on(const std::string& text, const std::string& separator) {
  std::vector<std::string> parts;
  size_t last = 0;
  for (size_t at = text.find(separator); at != std::string::npos; at = text.find(separator, last)) {
    parts.push_back(text.substr(last, at - last));
    last = at + separator.size();
  }
  parts.push_back(text.substr(last));
  return parts;
}

std::string join(const std::vector<std::string>& parts, const std::string& separator) {
  std::string out;
  for (size_t i = 0; i < parts.size(); ++i) out += (i == 0 ? "" : separator) + parts[i];
  return out;
}

class Korean final : public CardsNumberWords {
 public:
  Korean() {
    point_word_ = "점";
    // set_high_numwords: 무량대수 10^68 down to 만 10^4, every fourth power.
    const std::vector<std::string> high{"무량대수", "불가사의", "나유타", "아승기", "항하사", "극",
                                        "재",       "정",       "간",     "구",     "양",     "자",
                                        "해",       "경",       "조",     "억",     "만"};
    std::vector<std::pair<int, std::string>> powers;
    powers.reserve(high.size());
    for (size_t i = 0; i < high.size(); ++i)
      powers.emplace_back(4 * static_cast<int>(high.size() - i), high[i]);
    set_high_powers(powers);
    set_mid({{1000, "천"}, {100, "백"}});
    set_low({"십", "구", "팔", "칠", "육", "오", "사", "삼", "이", "일", "영"});
  }

  std::string ordinal(WholeNumber n) const override {
    static const std::map<std::string, std::string> kNative{
        {"일", "한"},     {"이", "두"},     {"삼", "세"},     {"사", "네"},   {"오", "다섯"},
        {"육", "여섯"},   {"칠", "일곱"},   {"팔", "여덟"},   {"구", "아홉"}, {"십", "열"},
        {"이십", "스물"}, {"삼십", "서른"}, {"사십", "마흔"}, {"오십", "쉰"}, {"육십", "예순"},
        {"칠십", "일흔"}, {"팔십", "여든"}, {"구십", "아흔"}};
    // self.ords[...]: a KeyError upstream, which fails the request (100, 1000, 10000, 0 and their kin).
    auto native = [](const std::string& sino) {
      const auto found = kNative.find(sino);
      if (found == kNative.end()) throw NumberNotSpeakable("no Korean ordinal for '" + sino + "'");
      return found->second;
    };
    if (n == 1) return "첫 번째";
    std::vector<std::string> words = split_on(cardinal(n), " ");
    std::vector<std::string> last = split_on(words.back(), "백");
    if (last.back().find("십") != std::string::npos) {
      std::vector<std::string> ten_one = split_on(last.back(), "십");
      ten_one[0] = native(ten_one[0] + "십");
      if (const auto found = kNative.find(ten_one[1]); found != kNative.end()) {
        ten_one[1] = found->second;
        ten_one[0] = replace_all(ten_one[0], "스무", "스물");
      }
      last.back() = join(ten_one, "");
    } else {
      last.back() = native(last.back());
    }
    words.back() = join(last, "백 ");
    return join(words, " ") + " 번째";
  }

  // lang_KO.to_currency: the unit's words run together, then the cents' words and unit; only dollars have
  // words (pounds and euros raise NotImplementedError, which upstream's cleaner lets pass).
  std::string currency(double amount, Currency currency) const override {
    if (currency != Currency::kUsd) throw NumberNotSpeakable("a currency Korean has no words for");
    const auto [whole, cents] = currency_parts(amount);
    return replace_all(cardinal(whole), " ", "") + "달러 " + cardinal(cents) + "센트";
  }

 protected:
  Spoken merge(const Spoken& left, const Spoken& right) const override {
    if (left.value == 1 && right.value <= 10000) return right;
    if (10000 > left.value && left.value > right.value)
      return {left.text + right.text, left.value + right.value};
    if (left.value >= 10000 && left.value > right.value) {
      return {left.text + " " + right.text, left.value + right.value};
    }
    return {left.text + right.text, left.value * right.value};
  }
};

}  // namespace

const NumberWords& korean() {
  static const Korean words;
  return words;
}

}  // namespace gpufleet::xtts::numbers
