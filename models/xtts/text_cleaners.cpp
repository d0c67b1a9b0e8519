// Text cleaning before XTTS tokenisation: upstream's multilingual_cleaners (TTS/tts/layers/xtts/tokenizer.py
// of coqui-tts 0.28) step by step: quotes, Turkish capitals, lower case, numbers (grouping marks, £ $ €
// amounts, decimals, ordinals, whole numbers, worded by num2words), abbreviations, symbols, whitespace.
// The patterns are Python `re` patterns on str; each is matched here by hand over code points with the
// same greedy-then-backtrack order, so that every match, and so every replacement, is the one upstream makes.
#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <iterator>
#include <map>
#include <optional>

#include "common/error.hpp"
#include "common/utf8.hpp"
#include "models/xtts/numbers/number_words.hpp"
#include "models/xtts/tokenizer.hpp"

namespace gpufleet::xtts {
namespace {

using Text = std::u32string;

Text u32(std::string_view utf8) {
  return utf8_decode(utf8);
}

// Python's str.isspace() (what `\s` and str.strip() mean): includes U+001C..U+001F, U+00A0 and the narrow
// no-break space U+202F that glibc's iswspace leaves out.
bool python_space(char32_t c) {
  if (c <= 0x20) return c == 0x20 || (c >= 0x09 && c <= 0x0D) || (c >= 0x1C && c <= 0x1F);
  return c == 0x85 || c == 0xA0 || c == 0x1680 || (c >= 0x2000 && c <= 0x200A) || c == 0x2028 ||
         c == 0x2029 || c == 0x202F || c == 0x205F || c == 0x3000;
}

struct CodeRange {
  char32_t first;
  char32_t last;
};
#include "models/xtts/python_char_classes.inc"

template <size_t N>
bool in_ranges(char32_t c, const CodeRange (&ranges)[N]) {
  // The last range starting at or before c.
  const auto* after =
      std::upper_bound(std::begin(ranges), std::end(ranges), c,
                       [](char32_t value, const CodeRange& range) { return value < range.first; });
  return after != std::begin(ranges) && c <= (after - 1)->last;
}

// Python's `\w` on str, for `\b`: letters and numbers of every script, '_', and no combining marks.
bool word_char(char32_t c) {
  return in_ranges(c, kPythonWordRanges);
}

bool ascii_digit(char32_t c) {
  return c >= U'0' && c <= U'9';
}

// Python's `\d` on str: every decimal digit (Nd), not only ASCII.
bool unicode_digit(char32_t c) {
  return in_ranges(c, kPythonDigitRanges);
}

bool boundary(const Text& text, size_t at) {
  const bool before = at > 0 && word_char(text[at - 1]);
  const bool after = at < text.size() && word_char(text[at]);
  return before != after;
}

size_t digits_from(const Text& text, size_t at, bool (*digit)(char32_t) = ascii_digit) {
  while (at < text.size() && digit(text[at])) ++at;
  return at;
}

// re.sub with a hand-written matcher: `match(text, at)` returns the end of a match starting at `at`.
template <typename Match, typename Replace>
Text substitute(const Text& text, Match match, Replace replace) {
  Text out;
  out.reserve(text.size());
  size_t at = 0;
  while (at < text.size()) {
    if (const auto end = match(text, at)) {
      out += replace(text.substr(at, *end - at));
      at = *end;
    } else {
      out.push_back(text[at++]);
    }
  }
  return out;
}

// Per-language tables, as upstream's _abbreviations, _symbols_multilingual, _ordinal_re and the currency
// "and" words.
struct OrdinalSuffix {
  Text text;
  bool before_space_or_end = false;  // `\.(?=\s|$)`
};

struct LanguageRules {
  std::vector<std::pair<Text, Text>> abbreviations;
  bool abbreviation_ends_at_boundary = false;  // Russian: `\bг-н\b` instead of `\bdr\.`
  std::vector<std::pair<Text, Text>> symbols;
  std::vector<OrdinalSuffix> ordinals;
  std::string currency_and;
  bool comma_groups = false;  // "1,000.5" (English, Russian) rather than "1.000,5"
};

std::vector<std::pair<Text, Text>> pairs(
    std::initializer_list<std::pair<std::string_view, std::string_view>> list) {
  std::vector<std::pair<Text, Text>> out;
  for (const auto& [from, to] : list) out.emplace_back(u32(from), u32(to));
  return out;
}

std::vector<OrdinalSuffix> suffixes(std::initializer_list<std::string_view> list) {
  std::vector<OrdinalSuffix> out;
  for (const auto suffix : list) out.push_back({u32(suffix), false});
  return out;
}

std::vector<std::pair<Text, Text>> symbols(std::string_view and_, std::string_view at,
                                           std::string_view percent, std::string_view hash,
                                           std::string_view dollar, std::string_view pound,
                                           std::string_view degree) {
  auto spaced = [](std::string_view word) { return " " + std::string(word) + " "; };
  return pairs({{"&", spaced(and_)},
                {"@", spaced(at)},
                {"%", spaced(percent)},
                {"#", spaced(hash)},
                {"$", spaced(dollar)},
                {"£", spaced(pound)},
                {"°", spaced(degree)}});
}

// The rules of a language upstream's multilingual_cleaners takes and gpufleet cleans; nullptr for any other.
const LanguageRules* rules_for(std::string_view language) {
  static const std::map<std::string, LanguageRules, std::less<>> kRules = [] {
    std::map<std::string, LanguageRules, std::less<>> rules;
    rules["en"] = {pairs({{"mrs", "misess"},
                          {"mr", "mister"},
                          {"dr", "doctor"},
                          {"st", "saint"},
                          {"co", "company"},
                          {"jr", "junior"},
                          {"maj", "major"},
                          {"gen", "general"},
                          {"drs", "doctors"},
                          {"rev", "reverend"},
                          {"lt", "lieutenant"},
                          {"hon", "honorable"},
                          {"sgt", "sergeant"},
                          {"capt", "captain"},
                          {"esq", "esquire"},
                          {"ltd", "limited"},
                          {"col", "colonel"},
                          {"ft", "fort"}}),
                   false,
                   symbols("and", "at", "percent", "hash", "dollar", "pound", "degree"),
                   suffixes({"st", "nd", "rd", "th"}),
                   ", ",
                   true};
    rules["es"] = {pairs({{"sra", "señora"},
                          {"sr", "señor"},
                          {"dr", "doctor"},
                          {"dra", "doctora"},
                          {"st", "santo"},
                          {"co", "compañía"},
                          {"jr", "junior"},
                          {"ltd", "limitada"}}),
                   false, symbols("y", "arroba", "por ciento", "numeral", "dolar", "libra", "grados"),
                   suffixes({"º", "ª", "er", "o", "a", "os", "as"}), " con "};
    rules["fr"] = {pairs({{"mme", "madame"},
                          {"mr", "monsieur"},
                          {"dr", "docteur"},
                          {"st", "saint"},
                          {"co", "compagnie"},
                          {"jr", "junior"},
                          {"ltd", "limitée"}}),
                   false, symbols("et", "arobase", "pour cent", "dièse", "dollar", "livre", "degrés"),
                   suffixes({"º", "ª", "er", "re", "e", "ème"}), " et "};
    rules["de"] = {
        pairs({{"fr", "frau"}, {"dr", "doktor"}, {"st", "sankt"}, {"co", "firma"}, {"jr", "junior"}}), false,
        symbols("und", "at", "prozent", "raute", "dollar", "pfund", "grad"),
        suffixes({"st", "nd", "rd", "th", "º", "ª"}), " und "};
    rules["de"].ordinals.push_back({U".", true});
    rules["pt"] = {pairs({{"sra", "senhora"},
                          {"sr", "senhor"},
                          {"dr", "doutor"},
                          {"dra", "doutora"},
                          {"st", "santo"},
                          {"co", "companhia"},
                          {"jr", "júnior"},
                          {"ltd", "limitada"}}),
                   false, symbols("e", "arroba", "por cento", "cardinal", "dólar", "libra", "graus"),
                   suffixes({"º", "ª", "o", "a", "os", "as"}), " e "};
    rules["it"] = {pairs({{"sig", "signore"},
                          {"dr", "dottore"},
                          {"st", "santo"},
                          {"co", "compagnia"},
                          {"jr", "junior"},
                          {"ltd", "limitata"}}),
                   false,
                   symbols("e", "chiocciola", "per cento", "cancelletto", "dollaro", "sterlina", "gradi"),
                   suffixes({"º", "°", "ª", "o", "a", "i", "e"}), " e "};
    rules["pl"] = {pairs({{"p", "pani"}, {"m", "pan"}, {"dr", "doktor"}, {"sw", "święty"}, {"jr", "junior"}}),
                   false, symbols("i", "małpa", "procent", "krzyżyk", "dolar", "funt", "stopnie"),
                   suffixes({"º", "ª", "st", "nd", "rd", "th"}), ", "};
    rules["ar"] = {{},
                   false,
                   symbols("و", "على", "في المئة", "رقم", "دولار", "جنيه", "درجة"),
                   suffixes({"ون", "ين", "ث", "ر", "ى"}),
                   ", "};
    rules["cs"] = {pairs({{"dr", "doktor"}, {"ing", "inženýr"}, {"p", "pan"}}),
                   false,
                   symbols("a", "na", "procento", "křížek", "dolar", "libra", "stupně"),
                   {{U".", true}},
                   ", "};
    rules["ru"] = {pairs({{"г-жа", "госпожа"}, {"г-н", "господин"}, {"д-р", "доктор"}}),
                   true,
                   symbols("и", "собака", "процентов", "номер", "доллар", "фунт", "градус"),
                   suffixes({"-й", "-я", "-е", "-ое", "-ье", "-го"}),
                   ", ",
                   true};
    rules["nl"] = {pairs({{"dhr", "de heer"}, {"mevr", "mevrouw"}, {"dr", "dokter"}, {"jhr", "jonkheer"}}),
                   false, symbols("en", "bij", "procent", "hekje", "dollar", "pond", "graden"),
                   suffixes({"de", "ste", "e"}), ", "};
    rules["tr"] = {pairs({{"b", "bay"}, {"byk", "büyük"}, {"dr", "doktor"}}), false,
                   symbols("ve", "at", "yüzde", "diyez", "dolar", "sterlin", "derece"),
                   suffixes({".", "inci", "nci", "uncu", "üncü", "."}), ", "};
    rules["hu"] = {pairs({{"dr", "doktor"}, {"b", "bácsi"}, {"nőv", "nővér"}}), false,
                   symbols("és", "kukac", "százalék", "kettőskereszt", "dollár", "font", "fok"),
                   suffixes({".", "adik", "edik", "odik", "edik", "ödik", "ödike", "ik"}), ", "};
    rules["ko"] = {{},
                   false,
                   symbols("그리고", "에", "퍼센트", "번호", "달러", "파운드", "도"),
                   suffixes({"번째", "번", "차", "째"}),
                   ", "};
    rules["hi"] = {{},
                   false,
                   symbols("और", "ऐट दी रेट", "प्रतिशत", "हैश", "डॉलर", "पाउंड", "डिग्री"),
                   suffixes({"st", "nd", "rd", "th"}),
                   ", "};
    return rules;
  }();
  const auto found = kRules.find(language);
  return found == kRules.end() ? nullptr : &found->second;
}

// `\b\d{1,3}(,\d{3})*(\.\d+)?\b` (comma groups) or `\b\d{1,3}(.\d{3})*(\,\d+)?\b` (any one character
// between groups, as upstream's unescaped dot): the grouping marks inside a match are removed.
std::optional<size_t> grouped_number(const Text& text, size_t at, bool comma_groups) {
  if (!unicode_digit(text[at]) || !boundary(text, at)) return std::nullopt;
  const char32_t decimal_mark = comma_groups ? U'.' : U',';
  auto group_at = [&](size_t p) {
    if (p + 4 > text.size()) return false;
    if (comma_groups ? text[p] != U',' : text[p] == U'\n') return false;
    return unicode_digit(text[p + 1]) && unicode_digit(text[p + 2]) && unicode_digit(text[p + 3]);
  };
  const size_t lead = std::min<size_t>(3, digits_from(text, at, unicode_digit) - at);
  for (size_t digits = lead; digits >= 1; --digits) {
    std::vector<size_t> ends{at + digits};
    while (group_at(ends.back())) ends.push_back(ends.back() + 4);
    for (size_t k = ends.size(); k-- > 0;) {
      const size_t p = ends[k];
      if (p + 1 < text.size() && text[p] == decimal_mark && unicode_digit(text[p + 1])) {
        const size_t run_end = digits_from(text, p + 1, unicode_digit);
        if (boundary(text, run_end)) return run_end;  // shorter runs end between two digits: no boundary
      }
      if (boundary(text, p)) return p;
    }
  }
  return std::nullopt;
}

// `(S[0-9\.\,]*[0-9]+)` and `([0-9\.\,]*[0-9]+S)` in the order upstream's pattern lists them.
std::optional<size_t> currency_amount(const Text& text, size_t at, char32_t symbol, bool symbol_first) {
  auto in_class = [](char32_t c) { return ascii_digit(c) || c == U'.' || c == U','; };
  auto prefixed = [&]() -> std::optional<size_t> {
    if (text[at] != symbol) return std::nullopt;
    size_t end = at + 1;
    while (end < text.size() && in_class(text[end])) ++end;
    while (end > at + 1 && !ascii_digit(text[end - 1])) --end;
    if (end == at + 1) return std::nullopt;
    return end;
  };
  auto suffixed = [&]() -> std::optional<size_t> {
    size_t end = at;
    while (end < text.size() && in_class(text[end])) ++end;
    if (end == at || end >= text.size() || text[end] != symbol || !ascii_digit(text[end - 1]))
      return std::nullopt;
    return end + 1;
  };
  if (symbol_first) {
    if (auto end = prefixed()) return end;
    return suffixed();
  }
  if (auto end = suffixed()) return end;
  return prefixed();
}

// Python's float() of upstream's cleaned amount; a second point is a ValueError.
double python_float(const std::string& text) {
  if (std::count(text.begin(), text.end(), '.') > 1)
    throw NumberNotSpeakable("could not convert string to float");
  return std::strtod(text.c_str(), nullptr);
}

std::string ascii_of(const Text& text) {
  std::string out;
  for (char32_t c : text) out.push_back(static_cast<char>(c));
  return out;
}

Text expand_currency(const Text& text, const LanguageRules& rules, const NumberWords& words,
                     Currency currency) {
  const char32_t symbol = currency == Currency::kGbp ? U'£' : currency == Currency::kUsd ? U'$' : U'€';
  const bool symbol_first = currency != Currency::kEur;
  return substitute(
      text, [&](const Text& t, size_t at) { return currency_amount(t, at, symbol, symbol_first); },
      [&](const Text& matched) {
        std::string amount_text;
        for (char32_t c : matched) {
          if (c == U',') c = U'.';
          if (ascii_digit(c) || c == U'.') amount_text.push_back(static_cast<char>(c));
        }
        const double amount = python_float(amount_text);
        std::string spoken = words.currency(amount, currency);
        if (std::trunc(amount) == amount) {  // a whole amount loses its "and zero cents"
          const size_t last_and = spoken.rfind(rules.currency_and);
          if (last_and != std::string::npos) spoken.resize(last_and);
        }
        return u32(spoken);
      });
}

Text expand_numbers(Text text, std::string_view language, const LanguageRules& rules,
                    const NumberWords& words) {
  const char32_t group_mark = rules.comma_groups ? U',' : U'.';
  text = substitute(
      text, [&](const Text& t, size_t at) { return grouped_number(t, at, rules.comma_groups); },
      [&](Text matched) {
        matched.erase(std::remove(matched.begin(), matched.end(), group_mark), matched.end());
        return matched;
      });
  // Upstream suppresses any error of the three currency passes together: the pass that fails leaves the
  // text as it was and the passes after it do not run.
  try {
    for (const Currency currency : {Currency::kGbp, Currency::kUsd, Currency::kEur}) {
      text = expand_currency(text, rules, words, currency);
    }
  } catch (const NumberNotSpeakable&) {  // NOLINT(bugprone-empty-catch): upstream's behaviour, said above
  }
  if (language != "tr") {
    text = substitute(
        text,
        [](const Text& t, size_t at) -> std::optional<size_t> {
          if (!ascii_digit(t[at])) return std::nullopt;
          const size_t run = digits_from(t, at);
          if (run + 1 >= t.size() || (t[run] != U'.' && t[run] != U',') || !ascii_digit(t[run + 1]))
            return std::nullopt;
          return digits_from(t, run + 1);
        },
        [&](Text matched) {
          std::replace(matched.begin(), matched.end(), U',', U'.');
          return u32(words.real(python_float(ascii_of(matched))));
        });
  }
  text = substitute(
      text,
      [&](const Text& t, size_t at) -> std::optional<size_t> {
        if (!ascii_digit(t[at])) return std::nullopt;
        const size_t run = digits_from(t, at);
        for (const auto& suffix : rules.ordinals) {
          if (t.compare(run, suffix.text.size(), suffix.text) != 0) continue;
          const size_t end = run + suffix.text.size();
          if (suffix.before_space_or_end && end < t.size() && !python_space(t[end])) continue;
          return end;
        }
        return std::nullopt;
      },
      [&](const Text& matched) {
        const size_t run = digits_from(matched, 0);
        return u32(words.ordinal(parse_whole_number(ascii_of(matched.substr(0, run)))));
      });
  return substitute(
      text,
      [](const Text& t, size_t at) -> std::optional<size_t> {
        if (!ascii_digit(t[at])) return std::nullopt;
        return digits_from(t, at);
      },
      [&](const Text& matched) { return u32(words.cardinal(parse_whole_number(ascii_of(matched)))); });
}

Text expand_abbreviations(Text text, const LanguageRules& rules) {
  for (const auto& pair : rules.abbreviations) {
    const Text& abbreviation = pair.first;  // named: clang 14 lambdas cannot capture structured bindings
    const Text& full = pair.second;
    text = substitute(
        text,
        [&](const Text& t, size_t at) -> std::optional<size_t> {
          if (t.compare(at, abbreviation.size(), abbreviation) != 0 || !boundary(t, at)) return std::nullopt;
          const size_t end = at + abbreviation.size();
          if (rules.abbreviation_ends_at_boundary)
            return boundary(t, end) ? std::optional<size_t>(end) : std::nullopt;
          return end < t.size() && t[end] == U'.' ? std::optional<size_t>(end + 1) : std::nullopt;
        },
        [&](const Text&) { return full; });
  }
  return text;
}

// str.replace: every occurrence, left to right, none overlapping.
Text replace_all(const Text& text, const Text& from, const Text& to) {
  Text out;
  size_t last = 0;
  for (size_t at = text.find(from); at != Text::npos; at = text.find(from, last)) {
    out.append(text, last, at - last);
    out += to;
    last = at + from.size();
  }
  out.append(text, last, Text::npos);
  return out;
}

Text strip(const Text& text) {
  size_t first = 0;
  size_t last = text.size();
  while (first < last && python_space(text[first])) ++first;
  while (last > first && python_space(text[last - 1])) --last;
  return text.substr(first, last - first);
}

Text expand_symbols(Text text, const LanguageRules& rules) {
  for (const auto& [symbol, word] : rules.symbols) {
    text = replace_all(text, symbol, word);
    text = replace_all(text, U"  ", U" ");
  }
  return strip(text);
}

Text collapse_whitespace(const Text& text) {
  Text out;
  bool in_space = false;
  for (char32_t c : text) {
    if (python_space(c)) {
      in_space = true;
      continue;
    }
    if (in_space) out.push_back(U' ');
    in_space = false;
    out.push_back(c);
  }
  return strip(out);
}

}  // namespace

std::string python_lower(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (char32_t c : utf8_decode(text)) {
    if (c == U'İ') {
      out += "i\u0307";
    } else {
      utf8_append(out, unicode_lower(c));
    }
  }
  return out;
}

std::string inference_text(std::string_view text) {
  return utf8_encode(strip(u32(python_lower(text))));
}

bool text_front_end_speaks(std::string_view language) {
  return rules_for(language.substr(0, language.find('-'))) != nullptr;
}

std::string clean_text(std::string_view text, std::string_view language) {
  if (language == "zh" || language == "ja") {
    throw ModelError(
        ErrorCode::kUnsupportedLanguage,
        "XTTS text for '" + std::string(language) + "' needs a transliteration gpufleet does not have yet");
  }
  const LanguageRules* rules = rules_for(language);
  if (rules == nullptr) {
    throw ModelError(ErrorCode::kUnsupportedLanguage, "XTTS does not speak '" + std::string(language) + "'");
  }
  Text cleaned = replace_all(u32(text), U"\"", U"");
  if (language == "tr") {
    cleaned = replace_all(replace_all(replace_all(cleaned, U"İ", U"i"), U"Ö", U"ö"), U"Ü", U"ü");
  }
  cleaned = u32(python_lower(utf8_encode(cleaned)));
  if (const NumberWords* words = number_words(language)) {
    try {
      cleaned = expand_numbers(std::move(cleaned), language, *rules, *words);
    } catch (const NumberNotSpeakable& e) {
      throw ModelError(ErrorCode::kInvalidInput,
                       "XTTS cannot say a number of this " + std::string(language) + " text: " + e.what());
    }
  } else if (language == "hi" && std::any_of(cleaned.begin(), cleaned.end(), ascii_digit)) {
    // num2words has no Hindi: upstream fails on the first digit. Refused here with the reason instead.
    throw ModelError(
        ErrorCode::kInvalidInput,
        "XTTS reads no digits in Hindi text (upstream's num2words has no Hindi): write numbers as words");
  }
  cleaned = expand_abbreviations(std::move(cleaned), *rules);
  cleaned = expand_symbols(std::move(cleaned), *rules);
  return utf8_encode(collapse_whitespace(cleaned));
}

}  // namespace gpufleet::xtts
