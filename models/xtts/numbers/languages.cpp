// num2words' English, French, Spanish, German and Dutch converters (lang_EN, lang_FR, lang_ES, lang_DE,
// lang_NL of num2words 0.5.14), each the word tables and rules of its Python class, all on the cards
// machinery; and number_words(), which also hands out the languages in their own files (languages.hpp).
// Quirks are kept on purpose ("veintiún libras", German's capitalised "Million"): they are what upstream
// feeds the model.
#include "models/xtts/numbers/languages.hpp"

#include <cmath>
#include <memory>

#include "models/xtts/numbers/cards.hpp"

namespace gpufleet::xtts::numbers {
namespace {

// German's and Dutch's Latin stems ("okto", "dez"), after their own word for 10^600.
std::vector<std::string> germanic_stems(const std::string& highest, const std::vector<std::string>& lows) {
  auto stems = CardsNumberWords::high_stems(
      {"", "un", "duo", "tre", "quattuor", "quin", "sex", "sept", "okto", "novem"},
      {"dez", "vigint", "trigint", "quadragint", "quinquagint", "sexagint", "septuagint", "oktogint",
       "nonagint"},
      lows);
  stems.insert(stems.begin(), highest);
  return stems;
}

// The first of `endings` that `word` ends with, replaced (the ords tables of lang_DE and lang_NL).
std::string replace_ending(const std::string& word,
                           const std::vector<std::pair<std::string, std::string>>& endings) {
  for (const auto& [ending, replacement] : endings) {
    if (ends_with(word, ending)) return word.substr(0, word.size() - ending.size()) + replacement;
  }
  return word;
}

class English final : public CardsNumberWords {
 public:
  English() {
    point_word_ = "point";
    currency_forms_ = european_currency_forms();
    set_high_short_scale(european_stems());
    set_mid({{1000, "thousand"},
             {100, "hundred"},
             {90, "ninety"},
             {80, "eighty"},
             {70, "seventy"},
             {60, "sixty"},
             {50, "fifty"},
             {40, "forty"},
             {30, "thirty"}});
    set_low({"twenty",   "nineteen", "eighteen", "seventeen", "sixteen", "fifteen", "fourteen",
             "thirteen", "twelve",   "eleven",   "ten",       "nine",    "eight",   "seven",
             "six",      "five",     "four",     "three",     "two",     "one",     "zero"});
  }

  std::string ordinal(WholeNumber n) const override {
    static const std::vector<std::pair<std::string, std::string>> kOrdinals{
        {"one", "first"},  {"two", "second"}, {"three", "third"},     {"four", "fourth"},
        {"five", "fifth"}, {"six", "sixth"},  {"seven", "seventh"},   {"eight", "eighth"},
        {"nine", "ninth"}, {"ten", "tenth"},  {"eleven", "eleventh"}, {"twelve", "twelfth"}};
    const std::string words = cardinal(n);
    const size_t last_start =
        words.find_last_of(" -") == std::string::npos ? 0 : words.find_last_of(" -") + 1;
    std::string last = words.substr(last_start);
    std::string form;
    for (const auto& [word, ordinal] : kOrdinals) {
      if (last == word) form = ordinal;
    }
    if (form.empty()) form = (last.back() == 'y' ? last.substr(0, last.size() - 1) + "ie" : last) + "th";
    return words.substr(0, last_start) + form;
  }

 protected:
  Spoken merge(const Spoken& left, const Spoken& right) const override {
    if (left.value == 1 && right.value < 100) return right;
    if (left.value < 100 && left.value > right.value)
      return {left.text + "-" + right.text, left.value + right.value};
    if (left.value >= 100 && right.value < 100)
      return {left.text + " and " + right.text, left.value + right.value};
    if (right.value > left.value) return {left.text + " " + right.text, left.value * right.value};
    return {left.text + ", " + right.text, left.value + right.value};
  }
};

class French final : public CardsNumberWords {
 public:
  French() {
    point_word_ = "virgule";
    currency_forms_ = {{Currency::kEur, {{"euro", "euros"}, {"centime", "centimes"}}},
                       {Currency::kUsd, {{"dollar", "dollars"}, {"cent", "cents"}}},
                       {Currency::kGbp, {{"livre", "livres"}, {"penny", "pence"}}}};
    set_high_long_scale(european_stems(), "illiard", "illion");
    set_mid({{1000, "mille"},
             {100, "cent"},
             {80, "quatre-vingts"},
             {60, "soixante"},
             {50, "cinquante"},
             {40, "quarante"},
             {30, "trente"}});
    set_low({"vingt",  "dix-neuf", "dix-huit", "dix-sept", "seize", "quinze", "quatorze",
             "treize", "douze",    "onze",     "dix",      "neuf",  "huit",   "sept",
             "six",    "cinq",     "quatre",   "trois",    "deux",  "un",     "zéro"});
  }

  std::string ordinal(WholeNumber n) const override {
    if (n == 1) return "premier";
    std::string word = cardinal(n);
    if (ends_with(word, "cinq")) return word.substr(0, word.size() - 4) + "cinquième";
    if (ends_with(word, "neuf")) return word.substr(0, word.size() - 4) + "neuvième";
    if (word.back() == 'e') word.pop_back();
    return word + "ième";
  }

  std::string currency(double amount, Currency currency) const override {
    return base_currency(amount, currency, " et");
  }

 protected:
  Spoken merge(const Spoken& left, const Spoken& right) const override {
    std::string ctext = left.text;
    std::string ntext = right.text;
    const WholeNumber cnum = left.value;
    const WholeNumber nnum = right.value;
    if (cnum == 1) {
      if (nnum < 1000000) return right;
    } else {
      const bool eighty = cnum >= 80 && (cnum - 80) % 100 == 0;
      if ((eighty || (cnum % 100 == 0 && cnum < 1000)) && nnum < 1000000 && ctext.back() == 's')
        ctext.pop_back();
      if (cnum < 1000 && nnum != 1000 && ntext.back() != 's' && nnum % 100 == 0) ntext += 's';
    }
    if (nnum < cnum && cnum < 100) {
      if (nnum % 10 == 1 && cnum != 80) return {ctext + " et " + ntext, cnum + nnum};
      return {ctext + "-" + ntext, cnum + nnum};
    }
    if (nnum > cnum) return {ctext + " " + ntext, cnum * nnum};
    return {ctext + " " + ntext, cnum + nnum};
  }
};

class Spanish final : public CardsNumberWords {
 public:
  Spanish() {
    point_word_ = "punto";
    currency_forms_ = {{Currency::kEur, {{"euro", "euros"}, {"céntimo", "céntimos"}}},
                       {Currency::kUsd, {{"dólar", "dólares"}, {"centavo", "centavos"}}},
                       {Currency::kGbp, {{"libra", "libras"}, {"penique", "peniques"}}}};
    set_high_long_scale({"cuatr", "tr", "b", "m"}, "", "illón");
    set_mid({{1000, "mil"},
             {100, "cien"},
             {90, "noventa"},
             {80, "ochenta"},
             {70, "setenta"},
             {60, "sesenta"},
             {50, "cincuenta"},
             {40, "cuarenta"},
             {30, "treinta"}});
    set_low({"veintinueve", "veintiocho", "veintisiete", "veintiséis", "veinticinco", "veinticuatro",
             "veintitrés",  "veintidós",  "veintiuno",   "veinte",     "diecinueve",  "dieciocho",
             "diecisiete",  "dieciséis",  "quince",      "catorce",    "trece",       "doce",
             "once",        "diez",       "nueve",       "ocho",       "siete",       "seis",
             "cinco",       "cuatro",     "tres",        "dos",        "uno",         "cero"});
  }

  std::string ordinal(WholeNumber n) const override {
    std::string text;
    if (n == 0) {
      text = "";
    } else if (n <= 10) {
      text = stem(n) + "o";
    } else if (n <= 12) {
      text = stem(10) + "o" + ordinal(n - 10);
    } else if (n <= 100) {
      const WholeNumber tens = n / 10 * 10;
      text = stem(tens) + "o " + ordinal(n - tens);
    } else if (n <= 1000) {
      const WholeNumber hundreds = n / 100 * 100;
      text = stem(hundreds) + "o " + ordinal(n - hundreds);
    } else if (n < power_of_ten(18)) {
      // As num2words: the power of a thousand from a floating-point logarithm.
      const int exponent = static_cast<int>(std::log(static_cast<double>(n)) / std::log(1000.0));
      const WholeNumber scale = power_of_ten(3 * exponent);
      const WholeNumber high = n / scale;
      const WholeNumber low = n % scale;
      // The logarithm can round up to the next power (log(10^15 - 1) / log(1000) is 5.0): num2words then
      // reads the same number again until Python's RecursionError.
      if (high == 0) throw NumberNotSpeakable("a Spanish ordinal num2words recurses on without end");
      text = (high != 1 ? cardinal(high) : "") + stem(scale) + "o " + ordinal(low);
    } else {
      text = cardinal(n);
    }
    return strip_spaces(text);
  }

  std::string currency(double amount, Currency currency) const override {
    const std::string separator = " con ";
    const std::string result = base_currency(amount, currency, " con");
    const size_t at = result.find(separator);
    std::string money = result.substr(0, at);
    std::string cents = result.substr(at + separator.size());
    if (currency == Currency::kGbp) {  // a feminine unit (CURRENCIES_UNA)
      money = replace_all(money, "uno", "una");
      money = replace_all(money, "cientos", "cientas");
    }
    money = replace_all(replace_all(money, "veintiuno", "veintiún"), "uno", "un");
    cents = replace_all(replace_all(cents, "veintiuno", "veintiún"), "uno", "un");
    return money + separator + cents;
  }

 protected:
  Spoken merge(const Spoken& left, const Spoken& right) const override {
    std::string ctext = left.text;
    std::string ntext = right.text;
    const WholeNumber cnum = left.value;
    const WholeNumber nnum = right.value;
    if (cnum == 1) {
      if (nnum < 1000000) return right;
      ctext = "un";
    } else if (cnum == 100 && nnum % 1000 != 0) {
      ctext += "to";
    }
    if (nnum < cnum) {
      if (cnum < 100) return {ctext + " y " + ntext, cnum + nnum};
      return {ctext + " " + ntext, cnum + nnum};
    }
    if (nnum % 1000000 == 0 && cnum > 1) ntext = drop_last_chars(ntext, 3) + "lones";
    if (nnum == 100) {
      if (cnum == 5) {
        ctext = "quinien";
        ntext = "";
      } else if (cnum == 7) {
        ctext = "sete";
      } else if (cnum == 9) {
        ctext = "nove";
      }
      ntext += "tos";
    } else {
      ntext = " " + ntext;
    }
    return {ctext + ntext, cnum * nnum};
  }

 private:
  static std::string stem(WholeNumber n) {
    static const std::map<WholeNumber, std::string> kStems{{1, "primer"},
                                                           {2, "segund"},
                                                           {3, "tercer"},
                                                           {4, "cuart"},
                                                           {5, "quint"},
                                                           {6, "sext"},
                                                           {7, "séptim"},
                                                           {8, "octav"},
                                                           {9, "noven"},
                                                           {10, "décim"},
                                                           {20, "vigésim"},
                                                           {30, "trigésim"},
                                                           {40, "quadragésim"},
                                                           {50, "quincuagésim"},
                                                           {60, "sexagésim"},
                                                           {70, "septuagésim"},
                                                           {80, "octogésim"},
                                                           {90, "nonagésim"},
                                                           {100, "centésim"},
                                                           {200, "ducentésim"},
                                                           {300, "tricentésim"},
                                                           {400, "cuadrigentésim"},
                                                           {500, "quingentésim"},
                                                           {600, "sexcentésim"},
                                                           {700, "septigentésim"},
                                                           {800, "octigentésim"},
                                                           {900, "noningentésim"},
                                                           {1000, "milésim"},
                                                           {power_of_ten(6), "millonésim"},
                                                           {power_of_ten(9), "billonésim"},
                                                           {power_of_ten(12), "trillonésim"},
                                                           {power_of_ten(15), "cuadrillonésim"}};
    const auto found = kStems.find(n);
    if (found == kStems.end()) throw NumberNotSpeakable("no Spanish ordinal stem");  // num2words: KeyError
    return found->second;
  }

  static std::string strip_spaces(const std::string& text) {
    const size_t first = text.find_first_not_of(' ');
    if (first == std::string::npos) return "";
    return text.substr(first, text.find_last_not_of(' ') - first + 1);
  }
};

class German final : public CardsNumberWords {
 public:
  German() {
    point_word_ = "Komma";
    currency_forms_ = {{Currency::kEur, {{"Euro", "Euro"}, {"Cent", "Cent"}}},
                       {Currency::kGbp, {{"Pfund", "Pfund"}, {"Penny", "Pence"}}},
                       {Currency::kUsd, {{"Dollar", "Dollar"}, {"Cent", "Cent"}}}};
    set_high_long_scale(
        germanic_stems("zent", {"Non", "Okt", "Sept", "Sext", "Quint", "Quadr", "Tr", "B", "M"}), "illiarde",
        "illion");
    set_mid({{1000, "tausend"},
             {100, "hundert"},
             {90, "neunzig"},
             {80, "achtzig"},
             {70, "siebzig"},
             {60, "sechzig"},
             {50, "fünfzig"},
             {40, "vierzig"},
             {30, "dreißig"}});
    set_low({"zwanzig",  "neunzehn", "achtzehn", "siebzehn", "sechzehn", "fünfzehn", "vierzehn",
             "dreizehn", "zwölf",    "elf",      "zehn",     "neun",     "acht",     "sieben",
             "sechs",    "fünf",     "vier",     "drei",     "zwei",     "eins",     "null"});
  }

  std::string ordinal(WholeNumber n) const override {
    static const std::vector<std::pair<std::string, std::string>> kEndings{
        {"eins", "ers"}, {"drei", "drit"}, {"acht", "ach"}, {"sieben", "sieb"},
        {"ig", "igs"},   {"ert", "erts"},  {"end", "ends"}, {"ion", "ions"},
        {"nen", "ns"},   {"rde", "rds"},   {"rden", "rds"}};
    const std::string word = ascii_lower(cardinal(n));
    std::string result = replace_ending(word, kEndings) + "te";
    if (result == "eintausendste" || result == "einhundertste") result = replace_first(result, "ein", "");
    result = drop_before_scale_ordinal(result, "eine ");
    result = drop_before_scale_ordinal(result, " ");
    return result;
  }

  std::string currency(double amount, Currency currency) const override {
    return replace_all(base_currency(amount, currency, " und"), "eins ", "ein ");
  }

 protected:
  Spoken merge(const Spoken& left, const Spoken& right) const override {
    std::string ctext = left.text;
    std::string ntext = right.text;
    const WholeNumber cnum = left.value;
    const WholeNumber nnum = right.value;
    const WholeNumber million = power_of_ten(6);
    if (cnum == 1) {
      if (nnum == 100 || nnum == 1000) return {"ein" + ntext, nnum};
      if (nnum < million) return right;
      ctext = "eine";
    }
    WholeNumber value;
    if (nnum > cnum) {
      if (nnum >= million) {
        if (cnum > 1) ntext += ends_with(ntext, "e") ? "n" : "en";
        ctext += ' ';
      }
      value = cnum * nnum;
    } else {
      if (nnum < 10 && 10 < cnum && cnum < 100) {
        if (nnum == 1) ntext = "ein";
        std::swap(ntext, ctext);
        ctext += "und";
      } else if (cnum >= million) {
        ctext += ' ';
      }
      value = cnum + nnum;
    }
    return {ctext + ntext, value};
  }

 private:
  // Python's str.lower() on num2words' German words: only ASCII capitals occur in them.
  static std::string ascii_lower(std::string text) {
    for (char& c : text) {
      if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    }
    return text;
  }

  // re.sub(prefix + r"([a-z]+(illion|illiard)ste)$", r"\1", text)
  static std::string drop_before_scale_ordinal(const std::string& text, const std::string& prefix) {
    size_t start = text.size();
    while (start > 0 && text[start - 1] >= 'a' && text[start - 1] <= 'z') --start;
    const std::string word = text.substr(start);
    bool scale = false;
    for (const std::string ending : {"illionste", "illiardste"}) {
      scale = scale || (ends_with(word, ending) && word.size() > ending.size());
    }
    if (!scale || start < prefix.size() || text.compare(start - prefix.size(), prefix.size(), prefix) != 0) {
      return text;
    }
    return text.substr(0, start - prefix.size()) + word;
  }
};

class Dutch final : public CardsNumberWords {
 public:
  Dutch() {
    point_word_ = "komma";
    currency_forms_ = {{Currency::kEur, {{"euro", "euro"}, {"cent", "cent"}}},
                       {Currency::kGbp, {{"pond", "pond"}, {"penny", "pence"}}},
                       {Currency::kUsd, {{"dollar", "dollar"}, {"cent", "cent"}}}};
    set_high_long_scale(
        germanic_stems("zend", {"non", "okt", "sept", "sext", "quint", "quadr", "tr", "b", "m"}), "iljard",
        "iljoen");
    set_mid({{1000, "duizend"},
             {100, "honderd"},
             {90, "negentig"},
             {80, "tachtig"},
             {70, "zeventig"},
             {60, "zestig"},
             {50, "vijftig"},
             {40, "veertig"},
             {30, "dertig"}});
    set_low({"twintig", "negentien", "achttien", "zeventien", "zestien", "vijftien", "veertien",
             "dertien", "twaalf",    "elf",      "tien",      "negen",   "acht",     "zeven",
             "zes",     "vijf",      "vier",     "drie",      "twee",    "één",      "nul"});
  }

  std::string ordinal(WholeNumber n) const override {
    static const std::vector<std::pair<std::string, std::string>> kEndings{
        {"nul", "nuld"},   {"één", "eerst"},   {"twee", "tweed"},     {"drie", "derd"},   {"vier", "vierd"},
        {"vijf", "vijfd"}, {"zes", "zesd"},    {"zeven", "zevend"},   {"acht", "achtst"}, {"negen", "negend"},
        {"tien", "tiend"}, {"elf", "elfd"},    {"twaalf", "twaalfd"}, {"ig", "igst"},     {"erd", "erdst"},
        {"end", "endst"},  {"joen", "joenst"}, {"rd", "rdst"}};
    const std::string word = cardinal(n);
    return replace_ending(word, kEndings) + "e";
  }

 protected:
  std::string pluralize(WholeNumber, const std::vector<std::string>& forms) const override {
    return forms[0];
  }

  Spoken merge(const Spoken& left, const Spoken& right) const override {
    std::string ctext = left.text;
    std::string ntext = right.text;
    const WholeNumber cnum = left.value;
    const WholeNumber nnum = right.value;
    const WholeNumber million = power_of_ten(6);
    if (cnum == 1) {
      if (nnum < million) return right;
      ctext = "een";
    }
    WholeNumber value;
    if (nnum > cnum) {
      if (nnum >= million) ctext += ' ';
      value = cnum * nnum;
    } else {
      if (nnum < 10 && 10 < cnum && cnum < 100) {
        if (nnum == 1) ntext = "een";
        ntext += ends_with(ntext, "e") ? "ën" : "en";
        std::swap(ntext, ctext);
      } else if (cnum >= million) {
        ctext += ' ';
      }
      value = cnum + nnum;
    }
    return {ctext + ntext, value};
  }
};

}  // namespace
}  // namespace gpufleet::xtts::numbers

namespace gpufleet::xtts {

const NumberWords* number_words(std::string_view language) {
  static const numbers::English english;
  static const numbers::French french;
  static const numbers::Spanish spanish;
  static const numbers::German german;
  static const numbers::Dutch dutch;
  if (language == "en") return &english;
  if (language == "fr") return &french;
  if (language == "es") return &spanish;
  if (language == "de") return &german;
  if (language == "nl") return &dutch;
  if (language == "it") return &numbers::italian();
  if (language == "pt") return &numbers::portuguese();
  if (language == "pl") return &numbers::polish();
  if (language == "cs") return &numbers::czech();
  if (language == "hu") return &numbers::hungarian();
  if (language == "ru") return &numbers::russian();
  if (language == "ar") return &numbers::arabic();
  if (language == "tr") return &numbers::turkish();
  if (language == "ko") return &numbers::korean();
  return nullptr;
}

}  // namespace gpufleet::xtts
