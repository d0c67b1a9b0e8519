// num2words' Italian (lang_IT): words built from digit groups rather than cards, contracted ("ventotto"),
// with a closing "tre" accented only on the last word it ends ("ventitré" but "centoventitre"), floats read
// from Python's repr() ("tre virgola zero" for 3.0), and "un"/"una" before the currency.
#include <array>
#include <cmath>

#include "models/xtts/numbers/cards.hpp"
#include "models/xtts/numbers/languages.hpp"

namespace gpufleet::xtts::numbers {
namespace {

const std::array<const char*, 20> kCardinals{"zero",     "uno",    "due",         "tre",      "quattro",
                                             "cinque",   "sei",    "sette",       "otto",     "nove",
                                             "dieci",    "undici", "dodici",      "tredici",  "quattordici",
                                             "quindici", "sedici", "diciassette", "diciotto", "diciannove"};
const std::array<const char*, 20> kOrdinals{
    "zero",         "primo",      "secondo",         "terzo",        "quarto",
    "quinto",       "sesto",      "settimo",         "ottavo",       "nono",
    "decimo",       "undicesimo", "dodicesimo",      "tredicesimo",  "quattordicesimo",
    "quindicesimo", "sedicesimo", "diciassettesimo", "diciottesimo", "diciannovesimo"};
const std::array<const char*, 11> kExponentPrefixes{"zero", "m",    "b",   "tr",  "quadr", "quint",
                                                    "sest", "sett", "ott", "nov", "dec"};

std::string omit_if_zero(const std::string& words) {
  return words == "zero" ? "" : words;
}

std::string phonetic_contraction(std::string words) {
  for (const auto& [from, to] :
       {std::pair<const char*, const char*>{"oo", "o"}, {"ao", "o"}, {"io", "o"}, {"au", "u"}, {"iu", "u"}}) {
    words = replace_all(words, from, to);
  }
  return words;
}

// Each word: a closing "tre" becomes "tré", every "tré" in it "tre" (so applying it twice undoes the accent).
std::string accentuate(const std::string& words) {
  std::string out;
  size_t at = 0;
  while (at < words.size()) {
    const size_t start = words.find_first_not_of(" \t\n\r\f\v", at);
    if (start == std::string::npos) break;
    const size_t end = std::min(words.find_first_of(" \t\n\r\f\v", start), words.size());
    const std::string original = words.substr(start, end - start);
    std::string word = replace_all(original, "tré", "tre");
    // The test is on the word as it came: one that already ends in "tré" loses the accent.
    if (original.size() > 3 && ends_with(original, "tre")) word = word.substr(0, word.size() - 3) + "tré";
    out += (out.empty() ? "" : " ") + word;
    at = end;
  }
  return out;
}

std::string exponent_name(size_t exponent_length) {
  const std::string prefix = kExponentPrefixes[exponent_length / 6];
  return prefix + (exponent_length % 6 == 0 ? "ilione" : "iliardo");
}

class Italian final : public Num2WordBase {
 public:
  Italian() {
    currency_forms_ = {{Currency::kEur, {{"euro", "euro"}, {"centesimo", "centesimi"}}},
                       {Currency::kUsd, {{"dollaro", "dollari"}, {"centesimo", "centesimi"}}},
                       {Currency::kGbp, {{"sterlina", "sterline"}, {"penny", "penny"}}}};
  }

  std::string cardinal(WholeNumber n) const override { return accentuate(unaccented(n)); }

  std::string ordinal(WholeNumber n) const override {
    if (n < 20) return kOrdinals[static_cast<size_t>(n)];
    const WholeNumber tens = n % 100;
    const bool outside_teens = !(10 < tens && tens < 20);
    if (outside_teens && tens % 10 == 3) return drop_last_chars(cardinal(n), 1) + "eesimo";
    if (outside_teens && tens % 10 == 6) return cardinal(n) + "esimo";
    std::string words = drop_last_chars(cardinal(n), 1);
    if (ends_with(words, "mil")) words += 'l';
    return words + "esimo";
  }

  // float_to_words: the whole part, "virgola", then each digit repr() shows after the point. repr()'s
  // exponent forms ("1e-05") have none to split off: num2words fails on them.
  std::string real(double value) const override {
    const std::string fraction = split_at_point(value).fraction;
    // The whole part accentuated, then the whole string again: "ventitré" + ... becomes "ventitre ...".
    std::string words = cardinal(static_cast<WholeNumber>(std::fabs(std::trunc(value)))) + " virgola ";
    for (size_t i = 0; i < fraction.size(); ++i) {
      words += (i == 0 ? "" : " ") + cardinal(static_cast<WholeNumber>(fraction[i] - '0'));
    }
    return accentuate(words);
  }

  std::string currency(double amount, Currency currency) const override {
    std::string result = base_currency(amount, currency, " e");
    if (currency == Currency::kGbp && result.compare(0, 4, "uno ") == 0) result.replace(0, 3, "una");
    return replace_all(result, "uno", "un");
  }

 private:
  // to_cardinal before its closing accentuate(); the parts it is built from are accentuated already.
  std::string unaccented(WholeNumber n) const {
    if (n < 20) return kCardinals[static_cast<size_t>(n)];
    if (n < 100) {
      const auto tens = static_cast<size_t>(n / 10);
      const std::string prefix = tens == 2   ? "venti"
                                 : tens == 3 ? "trenta"
                                 : tens == 4 ? "quaranta"
                                 : tens == 6 ? "sessanta"
                                             : drop_last_chars(kCardinals[tens], 1) + "anta";
      return phonetic_contraction(prefix + omit_if_zero(kCardinals[static_cast<size_t>(n % 10)]));
    }
    if (n < 1000) {
      const auto hundreds = static_cast<size_t>(n / 100);
      const std::string prefix = hundreds == 1 ? "cento" : std::string(kCardinals[hundreds]) + "cento";
      return phonetic_contraction(prefix + omit_if_zero(cardinal(n % 100)));
    }
    if (n < 1000000) {
      const WholeNumber thousands = n / 1000;
      const std::string prefix = thousands == 1 ? "mille" : cardinal(thousands) + "mila";
      return prefix + omit_if_zero(cardinal(n % 1000));
    }
    const std::string digits = to_decimal(n);
    const size_t lead = digits.size() % 3 == 0 ? 3 : digits.size() % 3;
    const std::string exponent = digits.substr(lead);
    std::string infix = exponent_name(exponent.size());
    std::string prefix;
    if (digits.substr(0, lead) == "1") {
      prefix = "un ";
    } else {
      prefix = cardinal(parse_whole_number(digits.substr(0, lead)));
      infix = " " + drop_last_chars(infix, 1) + "i";
    }
    std::string postfix;
    if (exponent.find_first_not_of('0') != std::string::npos) {
      postfix = cardinal(parse_whole_number(exponent));
      infix += postfix.find(" e ") != std::string::npos ? ", " : " e ";
    }
    return prefix + infix + postfix;
  }
};

}  // namespace

const NumberWords& italian() {
  static const Italian instance;
  return instance;
}

}  // namespace gpufleet::xtts::numbers
