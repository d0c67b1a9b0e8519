#pragma once
// num2words' common machinery (Num2Word_Base, Num2Word_EU) that most of its languages build on: a table of
// number words ("cards"), a number split into the cards it is made of, and the parts merged pairwise by a
// language's own rule. Ported step for step, because the order in which parts merge decides the wording.

#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "models/xtts/numbers/number_words.hpp"

namespace gpufleet::xtts::numbers {

// A spoken part: its words and the number they say.
struct Spoken {
  std::string text;
  WholeNumber value = 0;
};

WholeNumber power_of_ten(int exponent);  // exponent <= 38

// Python's repr() of a float as num2words reads it: the shortest digits that round-trip and how many of
// them follow the decimal point (Decimal(str(value)).as_tuple().exponent, negated).
struct FloatRepr {
  std::string digits;
  int decimal_point = 0;    // value = 0.<digits> x 10^decimal_point
  bool scientific = false;  // repr() writes "1e-05", "1.5e+16"

  // The places after the point: "12.5" 1, "12.0" 1 (repr's ".0"), "1e+16" 16 (the exponent's), "1e-05" 5.
  int decimals() const {
    const int length = static_cast<int>(digits.size());
    if (length > decimal_point) return length - decimal_point;
    return scientific ? decimal_point - length : 1;
  }
};
FloatRepr float_repr(double value);

// str(value).split('.') for a finite float: the digits before and after the point ("12.0" -> "12", "0").
// Throws NumberNotSpeakable for a value repr() writes with an exponent ("1e-05"), which num2words' string
// splitting cannot take apart (upstream raises).
struct PointSplit {
  std::string whole;
  std::string fraction;
};
PointSplit split_at_point(double value);

// utils.splitbyx(str(n), 3): groups of three digits from the left, the first holding what is left over.
std::vector<unsigned> groups_of_three(const std::string& digits);

// A currency's words: (singular, plural) for the unit and for the hundredth.
struct CurrencyForms {
  std::vector<std::string> unit;
  std::vector<std::string> cent;
};

// Num2Word_Base's currency reading, shared by every language: whole units and cents, each worded and followed
// by its unit's form, joined by the language's separator.
class Num2WordBase : public NumberWords {
 public:
  std::string currency(double amount, Currency currency) const override;

 protected:
  // Num2Word_Base.to_currency with the language's separator; the parts before the language's own edits.
  std::string base_currency(double amount, Currency currency, const std::string& separator) const;
  virtual std::string pluralize(WholeNumber n, const std::vector<std::string>& forms) const;
  virtual std::string money_words(WholeNumber n) const { return cardinal(n); }
  virtual std::string cent_words(WholeNumber n) const { return cardinal(n); }

  std::string point_word_;
  std::map<Currency, CurrencyForms> currency_forms_;
};

// The cards machinery: most num2words languages word numbers this way.
class CardsNumberWords : public Num2WordBase {
 public:
  std::string cardinal(WholeNumber n) const override;
  std::string real(double value) const override;

  // Num2Word_EU.gen_high_numwords
  static std::vector<std::string> high_stems(const std::vector<std::string>& units,
                                             const std::vector<std::string>& tens,
                                             const std::vector<std::string>& lows);
  static std::vector<std::string> european_stems();  // Num2Word_EU.setup's ["cent", ...]

 protected:
  // Num2Word_EU's long-scale names: for each stem, 10^n "<stem><giga>" and 10^(n-3) "<stem><mega>", n from
  // 3 + 6 * stems down by 6; an empty suffix adds no card.
  void set_high_long_scale(const std::vector<std::string>& stems, const std::string& giga,
                           const std::string& mega);
  // English's short scale: 10^n "<stem>illion", n from 3 + 3 * stems down by 3.
  void set_high_short_scale(const std::vector<std::string>& stems);
  // Cards at powers of ten, highest first: (exponent, word); those past 10^38 are left out (no number of
  // kMaxNumberDigits reaches them) and set no largest value.
  void set_high_powers(const std::vector<std::pair<int, std::string>>& words);
  void set_mid(const std::vector<std::pair<int, std::string>>& words);
  void set_low(const std::vector<std::string>& words_from_highest);  // the last word is zero

  virtual Spoken merge(const Spoken& left, const Spoken& right) const = 0;
  // Num2Word_Base.to_cardinal_float
  std::string float_words(double value) const;

 private:
  struct Node;
  std::vector<Node> split(WholeNumber value) const;
  const std::string& word_of(WholeNumber card) const;
  Spoken clean(std::vector<Node> parts) const;

  std::vector<std::pair<WholeNumber, std::string>> cards_;  // highest first, as num2words' OrderedDict
  std::optional<WholeNumber> max_value_;                    // 1000 x the highest card, when that fits
};

// Num2Word_EU's currency table, which English and Hungarian keep ("euro", "pounds sterling", "dollars").
std::map<Currency, CurrencyForms> european_currency_forms();

// Python's float amount split as num2words' parse_currency_parts: whole units and cents, half up.
std::pair<WholeNumber, unsigned> currency_parts(double amount);

// Python str helpers the languages' rules are written with (UTF-8; counts are in code points).
std::string drop_last_chars(const std::string& text, size_t count);
bool ends_with(const std::string& text, const std::string& suffix);
std::string replace_all(const std::string& text, const std::string& from, const std::string& to);
std::string replace_first(std::string text, const std::string& from, const std::string& to);

}  // namespace gpufleet::xtts::numbers
