// Text cleaning before XTTS tokenisation, following upstream's multilingual_cleaners step by step
// (quotes, lower case, numbers, abbreviations, symbols, whitespace) and num2words' English wording.
#include <array>
#include <regex>
#include <set>

#include "common/error.hpp"
#include "common/utf8.hpp"
#include "models/xtts/tokenizer.hpp"

namespace gpufleet::xtts {
namespace {

struct Words {
  std::string text;
  uint64_t value;
};

// num2words' rule for joining two spoken parts ("forty" + "two", "one hundred" + "five", ...).
Words join(const Words& left, const Words& right) {
  if (left.value == 1 && right.value < 100) return right;
  if (left.value < 100 && left.value > right.value)
    return {left.text + "-" + right.text, left.value + right.value};
  if (left.value >= 100 && right.value < 100)
    return {left.text + " and " + right.text, left.value + right.value};
  if (right.value > left.value) return {left.text + " " + right.text, left.value * right.value};
  return {left.text + ", " + right.text, left.value + right.value};
}

Words spell(uint64_t n) {
  static const std::array<const char*, 20> kSmall{"zero",    "one",     "two",       "three",    "four",
                                                  "five",    "six",     "seven",     "eight",    "nine",
                                                  "ten",     "eleven",  "twelve",    "thirteen", "fourteen",
                                                  "fifteen", "sixteen", "seventeen", "eighteen", "nineteen"};
  static const std::array<const char*, 10> kTens{"",      "",      "twenty",  "thirty", "forty",
                                                 "fifty", "sixty", "seventy", "eighty", "ninety"};
  static const std::array<std::pair<uint64_t, const char*>, 7> kScales{
      {{1'000'000'000'000'000'000ULL, "quintillion"},
       {1'000'000'000'000'000ULL, "quadrillion"},
       {1'000'000'000'000ULL, "trillion"},
       {1'000'000'000ULL, "billion"},
       {1'000'000ULL, "million"},
       {1'000ULL, "thousand"},
       {100ULL, "hundred"}}};
  if (n < 20) return {kSmall[n], n};
  if (n < 100) {
    Words tens{kTens[n / 10], n / 10 * 10};
    return n % 10 == 0 ? tens : join(tens, spell(n % 10));
  }
  for (const auto& [scale, name] : kScales) {
    if (n < scale) continue;
    Words spoken = join(n / scale == 1 ? Words{"one", 1} : spell(n / scale), Words{name, scale});
    return n % scale == 0 ? spoken : join(spoken, spell(n % scale));
  }
  return {"", 0};
}

// Replaces every match of `pattern` in `text` with what `replace` makes of it.
template <typename Replace>
std::string replace_matches(const std::string& text, const std::regex& pattern, Replace replace) {
  std::string out;
  auto last = text.cbegin();
  for (std::sregex_iterator it(text.begin(), text.end(), pattern), end; it != end; ++it) {
    out.append(last, (*it)[0].first);
    out += replace(*it);
    last = (*it)[0].second;
  }
  out.append(last, text.cend());
  return out;
}

// Integer part of a digit string as words; beyond 18 digits num2words' range ends, so digits are read singly.
std::string spell_digits(const std::string& digits) {
  if (digits.size() <= 18) return english_cardinal(std::stoull(digits));
  std::string out;
  for (char c : digits) out += (out.empty() ? "" : " ") + english_cardinal(static_cast<uint64_t>(c - '0'));
  return out;
}

// "12.5" -> "twelve point five": the decimals as Python's str(float) shows them (trailing zeros dropped,
// at least one digit), each digit spoken on its own.
std::string spell_decimal(const std::string& number) {
  const auto point = number.find('.');
  std::string fraction = number.substr(point + 1);
  while (fraction.size() > 1 && fraction.back() == '0') fraction.pop_back();
  std::string out = spell_digits(number.substr(0, point)) + " point";
  for (char c : fraction) out += " " + english_cardinal(static_cast<uint64_t>(c - '0'));
  return out;
}

struct Currency {
  const char* unit;
  const char* units;
  const char* cent;
  const char* cents;
};

std::string spell_currency(const std::string& matched, const Currency& currency) {
  // Like upstream: commas become points, everything but digits and points goes.
  std::string amount;
  for (char c : matched) {
    if (c == ',') c = '.';
    if ((c >= '0' && c <= '9') || c == '.') amount.push_back(c);
  }
  const auto point = amount.find('.');
  if (point != amount.rfind('.')) return matched;  // not a number upstream could read either
  const std::string whole_digits = amount.substr(0, point);
  const uint64_t whole = whole_digits.empty() ? 0 : std::stoull(whole_digits.substr(0, 18));
  uint64_t cents = 0;
  if (point != std::string::npos) {
    std::string fraction = amount.substr(point + 1) + "00";
    cents = std::stoull(fraction.substr(0, 2));
    if (fraction.size() > 2 && fraction[2] >= '5') ++cents;  // rounded like num2words
  }
  std::string out = english_cardinal(whole) + " " + (whole == 1 ? currency.unit : currency.units);
  // An integer amount drops num2words' ", zero cents".
  if (cents != 0) out += ", " + english_cardinal(cents) + " " + (cents == 1 ? currency.cent : currency.cents);
  return out;
}

std::string expand_english_numbers(std::string text) {
  static const std::regex kCommaNumber(R"(\b\d{1,3}(,\d{3})*(\.\d+)?\b)");
  static const std::regex kPound(R"(((£[0-9\.\,]*[0-9]+)|([0-9\.\,]*[0-9]+£)))");
  static const std::regex kDollar(R"(((\$[0-9\.\,]*[0-9]+)|([0-9\.\,]*[0-9]+\$)))");
  static const std::regex kEuro(R"((([0-9\.\,]*[0-9]+€)|((€[0-9\.\,]*[0-9]+))))");
  static const std::regex kDecimal(R"(([0-9]+[.,][0-9]+))");
  static const std::regex kOrdinal(R"(([0-9]+)(st|nd|rd|th))");
  static const std::regex kNumber(R"([0-9]+)");
  text = replace_matches(text, kCommaNumber, [](const std::smatch& m) {
    std::string s = m.str();
    s.erase(std::remove(s.begin(), s.end(), ','), s.end());
    return s;
  });
  text = replace_matches(text, kPound, [](const std::smatch& m) {
    return spell_currency(m.str(), {"pound", "pounds", "penny", "pence"});
  });
  text = replace_matches(text, kDollar, [](const std::smatch& m) {
    return spell_currency(m.str(), {"dollar", "dollars", "cent", "cents"});
  });
  text = replace_matches(text, kEuro, [](const std::smatch& m) {
    return spell_currency(m.str(), {"euro", "euro", "cent", "cents"});
  });
  text = replace_matches(text, kDecimal, [](const std::smatch& m) {
    std::string s = m.str(1);
    std::replace(s.begin(), s.end(), ',', '.');
    return spell_decimal(s);
  });
  text = replace_matches(text, kOrdinal, [](const std::smatch& m) {
    const std::string digits = m.str(1);
    return digits.size() <= 18 ? english_ordinal(std::stoull(digits)) : m.str();
  });
  return replace_matches(text, kNumber, [](const std::smatch& m) { return spell_digits(m.str()); });
}

std::string expand_english_abbreviations(std::string text) {
  // Longer forms first where one is a prefix of another (mrs before mr, drs before dr).
  static const std::vector<std::pair<std::regex, std::string>> kAbbreviations = [] {
    const std::vector<std::pair<const char*, const char*>> words{
        {"mrs", "misess"},   {"mr", "mister"},    {"dr", "doctor"},     {"st", "saint"},
        {"co", "company"},   {"jr", "junior"},    {"maj", "major"},     {"gen", "general"},
        {"drs", "doctors"},  {"rev", "reverend"}, {"lt", "lieutenant"}, {"hon", "honorable"},
        {"sgt", "sergeant"}, {"capt", "captain"}, {"esq", "esquire"},   {"ltd", "limited"},
        {"col", "colonel"},  {"ft", "fort"}};
    std::vector<std::pair<std::regex, std::string>> compiled;
    for (const auto& [abbreviation, full] : words) {
      compiled.emplace_back(std::regex(std::string("\\b") + abbreviation + "\\.", std::regex::icase), full);
    }
    return compiled;
  }();
  for (const auto& [pattern, full] : kAbbreviations) text = std::regex_replace(text, pattern, full);
  return text;
}

std::string replace_all(std::string text, std::string_view from, std::string_view to) {
  for (size_t at = text.find(from); at != std::string::npos; at = text.find(from, at + to.size())) {
    text.replace(at, from.size(), to);
  }
  return text;
}

std::string expand_english_symbols(std::string text) {
  static const std::array<std::pair<const char*, const char*>, 7> kSymbols{{{"&", " and "},
                                                                            {"@", " at "},
                                                                            {"%", " percent "},
                                                                            {"#", " hash "},
                                                                            {"$", " dollar "},
                                                                            {"£", " pound "},
                                                                            {"°", " degree "}}};
  for (const auto& [symbol, word] : kSymbols) {
    text = replace_all(std::move(text), symbol, word);
    text = replace_all(std::move(text), "  ", " ");
  }
  return text;
}

std::string collapse_whitespace_and_strip(std::string_view text) {
  std::string out;
  bool in_space = false;
  for (char32_t c : utf8_decode(text)) {
    if (is_space(c)) {
      in_space = true;
      continue;
    }
    if (in_space && !out.empty()) out.push_back(' ');
    in_space = false;
    utf8_append(out, c);
  }
  return out;
}

}  // namespace

std::string english_cardinal(uint64_t number) {
  return spell(number).text;
}

std::string english_ordinal(uint64_t number) {
  static const std::array<std::pair<const char*, const char*>, 12> kIrregular{{{"one", "first"},
                                                                               {"two", "second"},
                                                                               {"three", "third"},
                                                                               {"four", "fourth"},
                                                                               {"five", "fifth"},
                                                                               {"six", "sixth"},
                                                                               {"seven", "seventh"},
                                                                               {"eight", "eighth"},
                                                                               {"nine", "ninth"},
                                                                               {"ten", "tenth"},
                                                                               {"eleven", "eleventh"},
                                                                               {"twelve", "twelfth"}}};
  std::string words = english_cardinal(number);
  const size_t last_start = words.find_last_of(" -") == std::string::npos ? 0 : words.find_last_of(" -") + 1;
  std::string last = words.substr(last_start);
  std::string ordinal;
  for (const auto& [cardinal, form] : kIrregular) {
    if (last == cardinal) ordinal = form;
  }
  if (ordinal.empty()) ordinal = (last.back() == 'y' ? last.substr(0, last.size() - 1) + "ie" : last) + "th";
  return words.substr(0, last_start) + ordinal;
}

std::string clean_text(std::string_view text, std::string_view language) {
  static const std::set<std::string_view> kCleaned{"ar", "cs", "de", "en", "es", "fr", "hi",
                                                   "hu", "it", "nl", "pl", "pt", "ru", "tr"};
  if (language == "zh" || language == "ko" || language == "ja") {
    throw ModelError(
        ErrorCode::kUnsupportedLanguage,
        "XTTS text for '" + std::string(language) + "' needs a transliteration gpufleet does not have yet");
  }
  if (kCleaned.count(language) == 0) {
    throw ModelError(ErrorCode::kUnsupportedLanguage, "XTTS does not speak '" + std::string(language) + "'");
  }
  std::string cleaned = replace_all(std::string(text), "\"", "");
  if (language == "tr") {
    cleaned = replace_all(replace_all(replace_all(std::move(cleaned), "İ", "i"), "Ö", "ö"), "Ü", "ü");
  }
  cleaned = utf8_lower(cleaned);
  if (language == "en") {
    cleaned = expand_english_numbers(std::move(cleaned));
    cleaned = expand_english_abbreviations(std::move(cleaned));
    cleaned = expand_english_symbols(std::move(cleaned));
  }
  return collapse_whitespace_and_strip(cleaned);
}

}  // namespace gpufleet::xtts
