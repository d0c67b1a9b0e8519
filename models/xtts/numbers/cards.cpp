#include "models/xtts/numbers/cards.hpp"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstdlib>

namespace gpufleet::xtts {

WholeNumber parse_whole_number(std::string_view digits) {
  const size_t first = std::min(digits.find_first_not_of('0'), digits.size());
  if (digits.size() - first > kMaxNumberDigits) {
    throw NumberNotSpeakable("a number of more than " + std::to_string(kMaxNumberDigits) + " digits");
  }
  WholeNumber n = 0;
  for (char c : digits) n = n * 10 + static_cast<unsigned>(c - '0');
  return n;
}

std::string to_decimal(WholeNumber n) {
  std::string out;
  do {
    out.insert(out.begin(), static_cast<char>('0' + static_cast<int>(n % 10)));
    n /= 10;
  } while (n != 0);
  return out;
}

namespace numbers {

WholeNumber power_of_ten(int exponent) {
  WholeNumber n = 1;
  for (int i = 0; i < exponent; ++i) n *= 10;
  return n;
}

FloatRepr float_repr(double value) {
  char buffer[64];
  const auto result =
      std::to_chars(buffer, buffer + sizeof(buffer), std::fabs(value), std::chars_format::scientific);
  const std::string text(buffer, result.ptr);
  const size_t e = text.find('e');
  FloatRepr repr;
  for (size_t i = 0; i < e; ++i) {
    if (text[i] != '.') repr.digits.push_back(text[i]);
  }
  const char* exponent = text.data() + e + 1;
  if (*exponent == '+') ++exponent;  // from_chars reads no plus sign
  int power = 0;
  std::from_chars(exponent, text.data() + text.size(), power);
  const int decimal_point = power + 1;  // value = 0.<digits> x 10^decimal_point
  repr.decimal_point = decimal_point;
  repr.scientific = decimal_point <= -4 || decimal_point > 16;  // repr()'s switch to exponent form
  return repr;
}

PointSplit split_at_point(double value) {
  if (!std::isfinite(value)) throw NumberNotSpeakable("a number that is not finite");
  const FloatRepr repr = float_repr(value);
  if (repr.scientific) throw NumberNotSpeakable("a number Python writes with an exponent");
  const int point = repr.decimal_point;
  const int length = static_cast<int>(repr.digits.size());
  PointSplit split{"0", "0"};
  if (point > 0) {
    split.whole = repr.digits.substr(0, static_cast<size_t>(std::min(point, length))) +
                  std::string(static_cast<size_t>(std::max(0, point - length)), '0');
  }
  if (length > point) {
    split.fraction = point >= 0 ? repr.digits.substr(static_cast<size_t>(point))
                                : std::string(static_cast<size_t>(-point), '0') + repr.digits;
  }
  return split;
}

std::vector<unsigned> groups_of_three(const std::string& digits) {
  std::vector<unsigned> groups;
  const size_t lead = digits.size() % 3;
  if (lead > 0) groups.push_back(static_cast<unsigned>(std::stoul(digits.substr(0, lead))));
  for (size_t at = lead; at < digits.size(); at += 3) {
    groups.push_back(static_cast<unsigned>(std::stoul(digits.substr(at, 3))));
  }
  return groups;
}

std::pair<WholeNumber, unsigned> currency_parts(double amount) {
  if (!std::isfinite(amount)) throw NumberNotSpeakable("an amount that is not a finite number");
  // Decimal(amount) is the double's exact value; printed with enough places, the third decimal digit
  // decides ROUND_HALF_UP on its own (anything from .xx5 on rounds up).
  std::vector<char> buffer(400);
  std::snprintf(buffer.data(), buffer.size(), "%.90f", std::fabs(amount));
  const std::string text(buffer.data());
  const size_t point = text.find('.');
  WholeNumber whole = parse_whole_number(text.substr(0, point));
  unsigned cents = static_cast<unsigned>((text[point + 1] - '0') * 10 + (text[point + 2] - '0'));
  if (text[point + 3] >= '5') ++cents;
  if (cents == 100) {
    cents = 0;
    whole += 1;
  }
  return {whole, cents};
}

std::map<Currency, CurrencyForms> european_currency_forms() {
  const std::vector<std::string> cents{"cent", "cents"};
  return {{Currency::kEur, {{"euro", "euro"}, cents}},
          {Currency::kGbp, {{"pound sterling", "pounds sterling"}, {"penny", "pence"}}},
          {Currency::kUsd, {{"dollar", "dollars"}, cents}}};
}

bool ends_with(const std::string& text, const std::string& suffix) {
  return text.size() >= suffix.size() &&
         text.compare(text.size() - suffix.size(), suffix.size(), suffix) == 0;
}

std::string replace_all(const std::string& text, const std::string& from, const std::string& to) {
  std::string out;
  size_t last = 0;
  for (size_t at = text.find(from); at != std::string::npos; at = text.find(from, last)) {
    out.append(text, last, at - last);
    out += to;
    last = at + from.size();
  }
  out.append(text, last, std::string::npos);
  return out;
}

std::string drop_last_chars(const std::string& text, size_t count) {
  size_t end = text.size();
  while (count > 0 && end > 0) {
    --end;
    if ((static_cast<unsigned char>(text[end]) & 0xC0) != 0x80) --count;  // the first byte of a code point
  }
  return text.substr(0, end);
}

std::string replace_first(std::string text, const std::string& from, const std::string& to) {
  const size_t at = text.find(from);
  if (at != std::string::npos) text.replace(at, from.size(), to);
  return text;
}

// splitnum's result: a spoken card or a nested list of parts, as the Python lists and tuples it builds.
struct CardsNumberWords::Node {
  bool is_leaf = true;
  Spoken spoken;
  std::vector<Node> parts;

  static Node leaf(Spoken spoken) { return Node{true, std::move(spoken), {}}; }
  static Node list(std::vector<Node> parts) { return Node{false, {}, std::move(parts)}; }
};

void CardsNumberWords::set_high_long_scale(const std::vector<std::string>& stems, const std::string& giga,
                                           const std::string& mega) {
  const int cap = 3 + 6 * static_cast<int>(stems.size());
  bool first = true;
  for (size_t i = 0; i < stems.size(); ++i) {
    const int n = cap - 6 * static_cast<int>(i);
    if (n <= 3) break;
    if (first) {
      const int highest = giga.empty() ? n - 3 : n;
      if (highest + 3 <= 38) max_value_ = power_of_ten(highest + 3);
      first = false;
    }
    if (!giga.empty() && n <= 38) cards_.emplace_back(power_of_ten(n), stems[i] + giga);
    if (!mega.empty() && n - 3 <= 38) cards_.emplace_back(power_of_ten(n - 3), stems[i] + mega);
  }
}

void CardsNumberWords::set_high_short_scale(const std::vector<std::string>& stems) {
  const int cap = 3 + 3 * static_cast<int>(stems.size());
  for (size_t i = 0; i < stems.size(); ++i) {
    const int n = cap - 3 * static_cast<int>(i);
    if (n <= 3) break;
    if (i == 0 && n + 3 <= 38) max_value_ = power_of_ten(n + 3);
    if (n <= 38) cards_.emplace_back(power_of_ten(n), stems[i] + "illion");
  }
}

void CardsNumberWords::set_high_powers(const std::vector<std::pair<int, std::string>>& words) {
  for (const auto& [exponent, word] : words) {
    if (exponent <= 38) cards_.emplace_back(power_of_ten(exponent), word);
  }
}

void CardsNumberWords::set_mid(const std::vector<std::pair<int, std::string>>& words) {
  for (const auto& [value, word] : words) cards_.emplace_back(static_cast<WholeNumber>(value), word);
}

void CardsNumberWords::set_low(const std::vector<std::string>& words_from_highest) {
  WholeNumber n = words_from_highest.size();
  for (const auto& word : words_from_highest) cards_.emplace_back(--n, word);
}

std::vector<std::string> CardsNumberWords::high_stems(const std::vector<std::string>& units,
                                                      const std::vector<std::string>& tens,
                                                      const std::vector<std::string>& lows) {
  std::vector<std::string> out;
  for (const auto& ten : tens) {
    for (const auto& unit : units) out.push_back(unit + ten);
  }
  std::reverse(out.begin(), out.end());
  out.insert(out.end(), lows.begin(), lows.end());
  return out;
}

std::vector<std::string> CardsNumberWords::european_stems() {
  auto stems = high_stems({"", "un", "duo", "tre", "quattuor", "quin", "sex", "sept", "octo", "novem"},
                          {"dec", "vigint", "trigint", "quadragint", "quinquagint", "sexagint", "septuagint",
                           "octogint", "nonagint"},
                          {"non", "oct", "sept", "sext", "quint", "quadr", "tr", "b", "m"});
  stems.insert(stems.begin(), "cent");
  return stems;
}

const std::string& CardsNumberWords::word_of(WholeNumber card) const {
  for (const auto& [value, word] : cards_) {
    if (value == card) return word;
  }
  throw NumberNotSpeakable("no word for a card");
}

std::vector<CardsNumberWords::Node> CardsNumberWords::split(WholeNumber value) const {
  for (const auto& [card, word] : cards_) {
    if (card > value) continue;
    std::vector<Node> out;
    const WholeNumber div = value == 0 ? 1 : value / card;
    const WholeNumber mod = value == 0 ? 0 : value % card;
    if (div == 1) {
      out.push_back(Node::leaf({word_of(1), 1}));
    } else {
      if (div == value) {  // a tally ("IIII"); only reached by a table without a word for each small number
        std::string tally;
        for (WholeNumber i = 0; i < div; ++i) tally += word;
        return {Node::leaf({tally, div * card})};
      }
      out.push_back(Node::list(split(div)));
    }
    out.push_back(Node::leaf({word, card}));
    if (mod != 0) out.push_back(Node::list(split(mod)));
    return out;
  }
  return {};
}

Spoken CardsNumberWords::clean(std::vector<Node> parts) const {
  std::vector<Node> out = parts;
  while (parts.size() != 1) {
    out.clear();
    if (parts[0].is_leaf && parts[1].is_leaf) {
      out.push_back(Node::leaf(merge(parts[0].spoken, parts[1].spoken)));
      if (parts.size() > 2) out.push_back(Node::list({parts.begin() + 2, parts.end()}));
    } else {
      for (auto& part : parts) {
        if (part.is_leaf) {
          out.push_back(std::move(part));
        } else if (part.parts.size() == 1) {
          out.push_back(std::move(part.parts[0]));
        } else {
          out.push_back(Node::leaf(clean(std::move(part.parts))));
        }
      }
    }
    parts = out;
  }
  if (!out[0].is_leaf) return clean(std::move(out[0].parts));
  return out[0].spoken;
}

std::string CardsNumberWords::cardinal(WholeNumber n) const {
  if (max_value_ && n >= *max_value_) throw NumberNotSpeakable("a number past the language's largest word");
  return clean(split(n)).text;
}

std::string CardsNumberWords::real(double value) const {
  if (!std::isfinite(value)) throw NumberNotSpeakable("a number that is not finite");
  if (std::trunc(value) == value) {
    if (std::fabs(value) >= 1e36) throw NumberNotSpeakable("a number of more than 36 digits");
    return cardinal(static_cast<WholeNumber>(std::fabs(value)));
  }
  return float_words(value);
}

std::string CardsNumberWords::float_words(double value) const {
  const FloatRepr repr = float_repr(value);
  const double whole = std::trunc(value);
  const int precision = repr.decimals();
  // Python multiplies by the int 10**precision, converted to the nearest double (an OverflowError past
  // 10^308); strtod rounds the same way.
  const std::string power = "1e" + std::to_string(precision);
  const double scale = std::strtod(power.c_str(), nullptr);
  if (!std::isfinite(scale)) throw NumberNotSpeakable("a fraction with too many places");
  double post = std::fabs(value - whole) * scale;
  // As num2words: floor, except that a value a hair below a whole number (1.239999...) counts as it.
  post = std::fabs(std::nearbyint(post) - post) < 0.01 ? std::nearbyint(post) : std::floor(post);
  std::string digits = to_decimal(static_cast<WholeNumber>(post));
  if (static_cast<int>(digits.size()) < precision) digits.insert(0, precision - digits.size(), '0');
  std::string out = cardinal(static_cast<WholeNumber>(std::fabs(whole)));
  if (precision > 0) out += " " + point_word_;
  for (int i = 0; i < precision; ++i) out += " " + cardinal(static_cast<WholeNumber>(digits[i] - '0'));
  return out;
}

std::string Num2WordBase::pluralize(WholeNumber n, const std::vector<std::string>& forms) const {
  return forms[n == 1 ? 0 : 1];
}

std::string Num2WordBase::base_currency(double amount, Currency currency,
                                        const std::string& separator) const {
  const auto [whole, cents] = currency_parts(amount);
  const auto forms = currency_forms_.find(currency);
  if (forms == currency_forms_.end()) throw NumberNotSpeakable("a currency the language has no words for");
  return money_words(whole) + " " + pluralize(whole, forms->second.unit) + separator + " " +
         cent_words(cents) + " " + pluralize(cents, forms->second.cent);
}

std::string Num2WordBase::currency(double amount, Currency currency) const {
  return base_currency(amount, currency, ",");
}

}  // namespace numbers
}  // namespace gpufleet::xtts
