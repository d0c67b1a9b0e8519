// num2words' Russian (lang_RU) in the forms upstream's cleaner asks for: cardinals in the nominative
// (masculine; feminine "одна", "две" before "тысяча" and in decimals), ordinals in the nominative masculine
// ("двадцать первый", "двухтысячный": a number ending in zero groups is one word), decimals as
// "<n> целая/целых <m> десятая/десятых/сотых ...", and amounts in dollars or euros (no words for pounds).
#include <array>
#include <cmath>

#include "models/xtts/numbers/cards.hpp"
#include "models/xtts/numbers/languages.hpp"

namespace gpufleet::xtts::numbers {
namespace {

// The three ordinal forms needed: nominative masculine (to_ordinal), nominative feminine and genitive plural
// (the denominators of decimals: "десятая", "сотых").
enum class Form { kMasculine, kFeminine, kGenitivePlural };

// An ordinal adjective: stem + ending. Stems of group 0 take "-ой" in the masculine ("второй"), group 1
// "-ый".
std::string adjective(const std::string& stem, int group, Form form) {
  switch (form) {
    case Form::kMasculine:
      return stem + (group == 0 ? "ой" : "ый");
    case Form::kFeminine:
      return stem + "ая";
    case Form::kGenitivePlural:
      return stem + "ых";
  }
  return stem;
}

const std::array<const char*, 10> kOnesMasculine{"ноль", "один",  "два",  "три",    "четыре",
                                                 "пять", "шесть", "семь", "восемь", "девять"};
const std::array<const char*, 10> kOnesFeminine{"ноль", "одна",  "две",  "три",    "четыре",
                                                "пять", "шесть", "семь", "восемь", "девять"};
const std::array<const char*, 10> kOnesGenitive{"ноля", "одного", "двух", "трёх",   "четырёх",
                                                "пяти", "шести",  "семи", "восьми", "девяти"};
const std::array<const char*, 10> kTensPrefixes{"",    "один", "две", "три",   "четыр",
                                                "пят", "шест", "сем", "восем", "девят"};
const std::array<const char*, 10> kTwenties{
    "",          "",           "двадцать",  "тридцать",    "сорок",
    "пятьдесят", "шестьдесят", "семьдесят", "восемьдесят", "девяносто"};
const std::array<const char*, 10> kTwentiesGenitive{"",
                                                    "",
                                                    "двадцати",
                                                    "тридцати",
                                                    "сорока",
                                                    "пятидесяти",
                                                    "шестидесяти",
                                                    "семидесяти",
                                                    "восьмидесяти",
                                                    "девяноста"};
const std::array<const char*, 10> kHundreds{"",        "сто",      "двести",  "триста",    "четыреста",
                                            "пятьсот", "шестьсот", "семьсот", "восемьсот", "девятьсот"};
const std::array<const char*, 10> kHundredsGenitive{"",           "ста",      "двухсот",  "трёхсот",
                                                    "четырёхсот", "пятисот",  "шестисот", "семисот",
                                                    "восьмисот",  "девятисот"};
const std::array<const char*, 11> kScalePrefixes{"",
                                                 "",
                                                 "миллион",
                                                 "миллиард",
                                                 "триллион",
                                                 "квадриллион",
                                                 "квинтиллион",
                                                 "секстиллион",
                                                 "септиллион",
                                                 "октиллион",
                                                 "нониллион"};

std::string ones(unsigned digit, bool feminine) {
  return feminine ? kOnesFeminine[digit] : kOnesMasculine[digit];
}

std::string tens(unsigned ones_digit) {
  return ones_digit == 0 ? "десять" : std::string(kTensPrefixes[ones_digit]) + "надцать";
}

std::string tens_genitive(unsigned ones_digit) {
  return ones_digit == 0 ? "десяти" : std::string(kTensPrefixes[ones_digit]) + "надцати";
}

std::string ones_ordinal(unsigned digit, Form form) {
  if (digit == 3) {
    return form == Form::kMasculine ? "третий" : form == Form::kFeminine ? "третья" : "третьих";
  }
  static const std::array<const char*, 10> kStems{"нулев", "перв", "втор",  "",      "четвёрт",
                                                  "пят",   "шест", "седьм", "восьм", "девят"};
  static const std::array<int, 10> kGroups{0, 1, 0, 0, 1, 1, 0, 0, 0, 1};
  return adjective(kStems[digit], kGroups[digit], form);
}

std::string tens_ordinal(unsigned ones_digit, Form form) {
  return adjective(ones_digit == 0 ? "десят" : std::string(kTensPrefixes[ones_digit]) + "надцат", 1, form);
}

std::string twenties_ordinal(unsigned tens_digit, Form form) {
  static const std::array<const char*, 10> kStems{
      "",          "",           "двадцат",   "тридцат",     "сороков",
      "пятидесят", "шестидесят", "семидесят", "восьмидесят", "девяност"};
  return adjective(kStems[tens_digit], tens_digit == 4 ? 0 : 1, form);
}

std::string hundreds_ordinal(unsigned digit, Form form) {
  return adjective(digit == 1 ? "сот" : kHundredsGenitive[digit], 1, form);
}

std::string scale_prefix(size_t scale) {
  if (scale >= kScalePrefixes.size())
    throw NumberNotSpeakable("no Russian scale word that large");  // KeyError
  return kScalePrefixes[scale];
}

// THOUSANDS' nominative forms for one, few and many.
std::vector<std::string> scale_forms(size_t scale) {
  if (scale == 1) return {"тысяча", "тысячи", "тысяч"};
  const std::string prefix = scale_prefix(scale);
  return {prefix, prefix + "а", prefix + "ов"};
}

std::string scale_ordinal(size_t scale, Form form) {
  return adjective(scale == 1 ? "тысячн" : scale_prefix(scale) + "н", 1, form);
}

class Russian final : public Num2WordBase {
 public:
  Russian() {
    const std::vector<std::string> cents{"цент", "цента", "центов"};
    currency_forms_ = {{Currency::kEur, {{"евро", "евро", "евро"}, cents}},
                       {Currency::kUsd, {{"доллар", "доллара", "долларов"}, cents}}};
  }

  std::string cardinal(WholeNumber n) const override {
    return int_to_words(n, true, false, Form::kMasculine);
  }
  std::string ordinal(WholeNumber n) const override {
    return int_to_words(n, false, false, Form::kMasculine);
  }

  std::string real(double value) const override {
    const PointSplit split = split_at_point(value);
    const std::string& left = split.whole;
    const std::string& right = split.fraction;
    const WholeNumber whole = parse_whole_number(left);
    // __decimal_bitness: the denominator 10^places as an ordinal, feminine after a final 1 (not 11).
    const bool one =
        right.back() == '1' && (right.size() < 2 || right.compare(right.size() - 2, 2, "11") != 0);
    const std::string denominator = int_to_words(power_of_ten(static_cast<int>(right.size())), false, false,
                                                 one ? Form::kFeminine : Form::kGenitivePlural);
    return int_to_words(whole, true, true, Form::kMasculine) + " " +
           pluralize(whole, {"целая", "целых", "целых"}) + " " +
           int_to_words(parse_whole_number(right), true, true, Form::kMasculine) + " " + denominator;
  }

 protected:
  std::string pluralize(WholeNumber n, const std::vector<std::string>& forms) const override {
    const WholeNumber last_two = n % 100;
    if (last_two >= 11 && last_two <= 14) return forms[2];
    if (n % 10 == 1) return forms[0];
    if (n % 10 >= 2 && n % 10 <= 4) return forms[1];
    return forms[2];
  }

 private:
  // _int2word: a cardinal (feminine or masculine, nominative) or an ordinal in `form`.
  std::string int_to_words(WholeNumber n, bool cardinal, bool feminine, Form form) const {
    if (n == 0) return cardinal ? "ноль" : ones_ordinal(0, form);
    const auto groups = groups_of_three(to_decimal(n));
    const bool join = groups.back() == 0;  // ending in "тысячный": the last words become one
    size_t last_nonzero = 0;
    for (size_t k = 0; k < groups.size(); ++k) {
      if (groups[k] != 0) last_nonzero = k;
    }
    const size_t rightmost_nonzero_scale = groups.size() - 1 - last_nonzero;
    std::vector<std::string> words;
    size_t scale = groups.size();
    for (const unsigned group : groups) {
      --scale;
      if (group == 0) continue;
      const unsigned o = group % 10;
      const unsigned t = group / 10 % 10;
      const unsigned h = group / 100;
      if (cardinal) {
        if (h > 0) words.emplace_back(kHundreds[h]);
        if (t > 1) words.emplace_back(kTwenties[t]);
        if (t == 1) {
          words.push_back(tens(o));
        } else if (o > 0) {
          words.push_back(ones(o, scale == 1 ? true : feminine));
        }
        if (scale > 0) words.push_back(pluralize(group, scale_forms(scale)));
      } else if (!(join && rightmost_nonzero_scale == scale)) {
        if (h > 0) words.push_back(t == 0 && o == 0 ? hundreds_ordinal(h, form) : kHundreds[h]);
        if (t > 1) words.push_back(o == 0 ? twenties_ordinal(t, form) : kTwenties[t]);
        if (t == 1) {
          words.push_back(tens_ordinal(o, form));
        } else if (o > 0) {
          if (scale == 0) {
            words.push_back(ones_ordinal(o, form));
          } else if (!(o == 1 && h == 0 && t == 0)) {
            words.push_back(ones(o, scale == 1));
          }
        }
        if (scale > 0) words.push_back(pluralize(group, scale_forms(scale)));
      } else {
        std::string joined;
        if (h > 1) joined += kHundredsGenitive[h];
        if (h == 1) joined += "сто";
        if (t == 9) {
          joined += "девяносто";
        } else if (t > 1) {
          joined += kTwentiesGenitive[t];
        }
        if (t == 1) {
          joined += tens_genitive(o);
        } else if (o > 0) {
          if (scale == 0) {
            joined += ones_ordinal(o, form);
          } else if (o == 1) {
            if (t != 0 || h != 0) joined += "одно";
          } else {
            joined += kOnesGenitive[o];
          }
        }
        if (scale > 0) joined += scale_ordinal(scale, form);
        words.push_back(joined);
      }
    }
    std::string out;
    for (const auto& word : words) out += (out.empty() ? "" : " ") + word;
    return out;
  }
};

}  // namespace

const NumberWords& russian() {
  static const Russian instance;
  return instance;
}

}  // namespace gpufleet::xtts::numbers
