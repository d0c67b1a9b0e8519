#pragma once
// Numbers as words in XTTS-v2's languages, worded exactly as the Python package num2words (0.5.14) words
// them. Upstream's text cleaner passes every number of a text through num2words, so that wording is what
// the model learnt; a different wording ("vingt-et-un" for "vingt et un") is a different token sequence.

#include <stdexcept>
#include <string>
#include <string_view>

namespace gpufleet::xtts {

// Whole numbers up to 36 digits. num2words has no bound of its own below a language's largest word
// (10^27 in Spanish, 10^600 in French); past 36 digits gpufleet refuses where upstream would still speak.
__extension__ typedef unsigned __int128 WholeNumber;
inline constexpr size_t kMaxNumberDigits = 36;

// The currencies upstream's cleaner recognises by their symbols (£, $, €).
enum class Currency { kGbp, kUsd, kEur };

// What num2words raises: OverflowError past a language's largest number word, NotImplementedError for a
// currency a language has no words for, TypeError for a float it cannot take. Upstream's cleaner lets
// some of these through and fails the request on others; text_cleaners decides which, as upstream does.
class NumberNotSpeakable : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// One language's num2words converter.
class NumberWords {
 public:
  virtual ~NumberWords() = default;
  // num2words(n, lang=...)
  virtual std::string cardinal(WholeNumber n) const = 0;
  // num2words(n, ordinal=True, lang=...)
  virtual std::string ordinal(WholeNumber n) const = 0;
  // num2words(value, lang=...) for a Python float: a whole value is read as a whole number, anything else
  // digit by digit after the language's decimal point word, as many digits as Python's repr() shows.
  virtual std::string real(double value) const = 0;
  // num2words(amount, to="currency", currency=...) for a Python float amount (rounded half up to cents).
  virtual std::string currency(double amount, Currency currency) const = 0;
};

// The converter num2words uses for one of XTTS's 14 languages it covers (its code for Czech is "cs");
// nullptr for any other tag, Hindi included: num2words has no Hindi, so upstream fails on every digit.
const NumberWords* number_words(std::string_view language);

// Digits to a WholeNumber (Python's int(digits)); throws NumberNotSpeakable past kMaxNumberDigits.
WholeNumber parse_whole_number(std::string_view digits);
std::string to_decimal(WholeNumber n);

}  // namespace gpufleet::xtts
