// num2words' Hungarian (lang_HU): numbers joined into one word up to 2000 and hyphenated past it
// ("kétezer-egy"), "két" inside a number and "kettő" alone, ordinals from the last word's stem ("harmadik"),
// and decimals read as a fraction ("tizenkettő egész öt tized"), which num2words can only do with one to
// three places. Python's float-ness matters: a whole number that came from a decimal ("1000000.0") is
// measured by its repr() ("1000000.0" has nine characters), as num2words does, with the odd words that gives.
#include <cmath>
#include <map>

#include "models/xtts/numbers/cards.hpp"
#include "models/xtts/numbers/languages.hpp"

namespace gpufleet::xtts::numbers {
namespace {

// A Python int or a whole-valued Python float: num2words measures the two differently.
struct PyNumber {
  WholeNumber value;
  bool is_float;
};

class Hungarian final : public Num2WordBase {
 public:
  Hungarian() {
    currency_forms_ = european_currency_forms();
    const std::vector<std::string> low{"kilenc", "nyolc", "hét",   "hat", "öt",
                                       "négy",   "három", "kettő", "egy"};
    std::vector<std::string> descending;
    descending.reserve(3 * low.size() + 2);
    for (const auto& word : low) descending.push_back("huszon" + word);
    descending.push_back("húsz");
    for (const auto& word : low) descending.push_back("tizen" + word);
    descending.push_back("tíz");
    descending.insert(descending.end(), low.begin(), low.end());
    descending.push_back("nulla");
    WholeNumber n = descending.size();
    for (const auto& word : descending) cards_[--n] = word;
    for (const auto& [value, word] : std::vector<std::pair<int, const char*>>{{1000, "ezer"},
                                                                              {100, "száz"},
                                                                              {90, "kilencven"},
                                                                              {80, "nyolcvan"},
                                                                              {70, "hetven"},
                                                                              {60, "hatvan"},
                                                                              {50, "ötven"},
                                                                              {40, "negyven"},
                                                                              {30, "harminc"}}) {
      cards_[static_cast<WholeNumber>(value)] = word;
    }
    // Num2Word_EU's stems from the smallest: 10^6 and 10^9 from "m", 10^12 and 10^15 from "b", ...
    int exponent = 6;
    for (const char* stem : {"m", "b", "tr", "quadr", "quint", "sext"}) {
      if (exponent <= 38) cards_[power_of_ten(exponent)] = std::string(stem) + "illió";
      if (exponent + 3 <= 38) cards_[power_of_ten(exponent + 3)] = std::string(stem) + "illiárd";
      exponent += 6;
    }
  }

  std::string cardinal(WholeNumber n) const override { return to_cardinal({n, false}, "nulla"); }

  std::string ordinal(WholeNumber n) const override {
    if (n == 1) return "első";
    if (n == 2) return "második";
    static const std::vector<std::pair<std::string, std::string>> kPartialOrdinals{
        {"nulla", "nullad"},
        {"egy", "egyed"},
        {"kettő", "ketted"},
        {"három", "harmad"},
        {"négy", "negyed"},
        {"öt", "ötöd"},
        {"hat", "hatod"},
        {"hét", "heted"},
        {"nyolc", "nyolcad"},
        {"kilenc", "kilenced"},
        {"tíz", "tized"},
        {"húsz", "huszad"},
        {"harminc", "harmincad"},
        {"negyven", "negyvened"},
        {"ötven", "ötvened"},
        {"hatvan", "hatvanad"},
        {"hetven", "hetvened"},
        {"nyolcvan", "nyolcvanad"},
        {"kilencven", "kilencvened"},
        {"száz", "század"},
        {"ezer", "ezred"},
        {"illió", "milliomod"},
        {"illiárd", "milliárdod"}};
    std::string out = cardinal(n);
    for (const auto& [card, ordinal] : kPartialOrdinals) {
      if (ends_with(out, card)) {
        out = out.substr(0, out.size() - card.size()) + ordinal;
        break;
      }
    }
    return out + "ik";
  }

  std::string real(double value) const override {
    if (!std::isfinite(value)) throw NumberNotSpeakable("a number that is not finite");
    if (std::trunc(value) == value) {
      if (std::fabs(value) >= 9007199254740992.0) throw NumberNotSpeakable("a whole decimal past 2^53");
      return to_cardinal({static_cast<WholeNumber>(std::fabs(value)), true}, "nulla");
    }
    // to_cardinal_float: str(value).split('.'), the fraction as "<n> tized/század/ezred".
    const PointSplit split = split_at_point(value);
    const std::string& left = split.whole;
    const std::string& right = split.fraction;
    static const std::map<size_t, const char*> kFractions{{1, "tized"}, {2, "század"}, {3, "ezred"}};
    const auto fraction = kFractions.find(right.size());
    if (fraction == kFractions.end()) throw NumberNotSpeakable("more than three decimal places in Hungarian");
    return cardinal(parse_whole_number(left)) + " egész " + cardinal(parse_whole_number(right)) + " " +
           fraction->second;
  }

 private:
  std::string card(WholeNumber value) const {
    const auto found = cards_.find(value);
    if (found == cards_.end()) throw NumberNotSpeakable("no Hungarian word for a scale");  // KeyError
    return found->second;
  }

  std::string to_cardinal(PyNumber number, const std::string& zero) const {
    const WholeNumber value = number.value;
    if (value == 0) return zero;
    if (zero.empty() && value == 2) return "két";
    if (value < 30) return card(value);
    if (value < 100) {
      const auto found = cards_.find(value);
      if (found != cards_.end()) return found->second;
      return card(value / 10 * 10) + to_cardinal({value % 10, number.is_float}, "nulla");
    }
    if (value < 1000) {
      const WholeNumber hundreds = value / 100;
      const std::string prefix =
          hundreds == 1 ? "száz" : to_cardinal({hundreds, number.is_float}, "") + "száz";
      return prefix + to_cardinal({value % 100, number.is_float}, "");
    }
    if (value < 1000000) {
      const WholeNumber thousands = value / 1000;
      const std::string prefix =
          thousands == 1 ? "ezer" : to_cardinal({thousands, number.is_float}, "") + "ezer";
      const std::string postfix = to_cardinal({value % 1000, number.is_float}, "");
      return prefix + (value <= 2000 || postfix.empty() ? "" : "-") + postfix;
    }
    // big_number_to_cardinal: the scale from len(str(value)), which for a float counts its ".0".
    size_t length = to_decimal(value).size() + (number.is_float ? 2 : 0);
    if (length % 3 == 0) length -= 2;
    const WholeNumber scale = power_of_ten(static_cast<int>(length / 3 * 3));
    // A float's two extra characters can put the scale past the value ("12345678.0": 10^9); num2words then
    // calls itself on the same value until Python's RecursionError.
    if (value < scale) throw NumberNotSpeakable("a whole decimal num2words recurses on without end");
    const std::string rest = to_cardinal({value % scale, number.is_float}, "");
    return to_cardinal({value / scale, number.is_float}, "") + card(scale) + (rest.empty() ? "" : "-" + rest);
  }

  std::map<WholeNumber, std::string> cards_;
};

}  // namespace

const NumberWords& hungarian() {
  static const Hungarian instance;
  return instance;
}

}  // namespace gpufleet::xtts::numbers
