// num2words' Portuguese (lang_PT, European: "milhão", "mil milhões", "dezasseis"): the cards machinery with
// its own merge, the "e" dropped after a scale word before a hundreds word ("mil duzentos e ..."), ordinals
// read digit by digit, and "de" between a million and the currency.
#include <array>
#include <map>

#include "models/xtts/numbers/cards.hpp"
#include "models/xtts/numbers/languages.hpp"

namespace gpufleet::xtts::numbers {
namespace {

class Portuguese final : public CardsNumberWords {
 public:
  Portuguese() {
    point_word_ = "vírgula";
    const std::vector<std::string> cents{"cêntimo", "cêntimos"};
    currency_forms_ = {{Currency::kEur, {{"euro", "euros"}, cents}},
                       {Currency::kUsd, {{"dólar", "dólares"}, cents}},
                       {Currency::kGbp, {{"libra", "libras"}, {"péni", "pence"}}}};
    set_high_long_scale({"quatr", "tr", "b", "m"}, "", "ilião");
    set_mid({{1000, "mil"},
             {100, "cem"},
             {90, "noventa"},
             {80, "oitenta"},
             {70, "setenta"},
             {60, "sessenta"},
             {50, "cinquenta"},
             {40, "quarenta"},
             {30, "trinta"}});
    set_low({"vinte", "dezanove", "dezoito", "dezassete", "dezasseis", "quinze", "catorze",
             "treze", "doze",     "onze",    "dez",       "nove",      "oito",   "sete",
             "seis",  "cinco",    "quatro",  "três",      "dois",      "um",     "zero"});
  }

  std::string cardinal(WholeNumber n) const override {
    return drop_and_before_hundreds(CardsNumberWords::cardinal(n));
  }
  std::string real(double value) const override {
    return drop_and_before_hundreds(CardsNumberWords::real(value));
  }

  std::string ordinal(WholeNumber n) const override {
    static const std::array<std::array<const char*, 10>, 3> kPlaces{{
        {"", "primeiro", "segundo", "terceiro", "quarto", "quinto", "sexto", "sétimo", "oitavo", "nono"},
        {"", "décimo", "vigésimo", "trigésimo", "quadragésimo", "quinquagésimo", "sexagésimo", "septuagésimo",
         "octogésimo", "nonagésimo"},
        {"", "centésimo", "ducentésimo", "tricentésimo", "quadrigentésimo", "quingentésimo", "seiscentésimo",
         "septigentésimo", "octigentésimo", "nongentésimo"},
    }};
    static const std::map<size_t, std::string> kThousands{{3, "milésimo"},
                                                          {6, "milionésimo"},
                                                          {9, "milésimo milionésimo"},
                                                          {12, "bilionésimo"},
                                                          {15, "milésimo bilionésimo"}};
    const std::string digits = to_decimal(n);
    std::vector<std::string> parts;  // from the units up
    std::string separator;
    for (size_t index = 0; index < digits.size(); ++index) {
      const char digit = digits[digits.size() - 1 - index];
      if (index != 0 && index % 3 == 0) {
        const auto found = kThousands.find(index);
        if (found == kThousands.end())
          throw NumberNotSpeakable("no Portuguese ordinal past 10^18");  // KeyError
        separator = found->second;
      }
      if (digit != '0' && !separator.empty()) {
        parts.push_back(separator);
        separator.clear();
      }
      parts.push_back(kPlaces[index % 3][static_cast<size_t>(digit - '0')]);
    }
    // ' '.join(reversed), strip, whitespace runs to one space
    std::string joined;
    for (auto part = parts.rbegin(); part != parts.rend(); ++part) {
      if (part->empty()) continue;
      joined += (joined.empty() ? "" : " ") + *part;
    }
    if (joined.compare(0, 8, "primeiro") == 0 && digits != "1")
      joined = joined.size() > 9 ? joined.substr(9) : "";
    return joined;
  }

  std::string currency(double amount, Currency currency) const override {
    std::string result = base_currency(amount, currency, " e");
    const std::string& plural = currency_forms_.at(currency).unit[1];
    for (const std::string scale : {"milhão", "milhões", "bilião", "biliões", "trilião", "triliões"}) {
      if (result.find(scale + " " + plural) != std::string::npos)
        result = replace_first(result, scale, scale + " de");
    }
    return replace_all(result, " e zero cêntimos", "");
  }

 protected:
  Spoken merge(const Spoken& left, const Spoken& right) const override {
    std::string ctext = left.text;
    std::string ntext = right.text;
    const WholeNumber cnum = left.value;
    const WholeNumber nnum = right.value;
    if (cnum == 1) {
      if (nnum < 1000000) return right;
      ctext = "um";
    } else if (cnum == 100 && nnum % 1000 != 0) {
      ctext = "cento";
    }
    if (nnum < cnum) return {ctext + " e " + ntext, cnum + nnum};
    if (nnum % 1000000000 == 0 && cnum > 1) {
      ntext = drop_last_chars(ntext, 4) + "liões";
    } else if (nnum % 1000000 == 0 && cnum > 1) {
      ntext = drop_last_chars(ntext, 4) + "lhões";
    }
    if (ntext == "milião") ntext = "milhão";
    if (nnum == 100) {
      static const std::array<const char*, 10> kHundreds{
          "",           "cento",      "duzentos",   "trezentos",  "quatrocentos",
          "quinhentos", "seiscentos", "setecentos", "oitocentos", "novecentos"};
      ctext = kHundreds[static_cast<size_t>(cnum)];
      ntext = "";
    } else {
      ntext = " " + ntext;
    }
    return {ctext + ntext, cnum * nnum};
  }

 private:
  // For each scale word, in order: re.match(r'.*<scale> e \w*entos? (?=.*e)') on the whole text, then
  // every "<scale> e" loses its "e" ("mil e duzentos e um" -> "mil duzentos e um").
  static std::string drop_and_before_hundreds(std::string text) {
    for (const std::string scale :
         {"mil", "milhão", "milhões", "mil milhões", "bilião", "biliões", "mil biliões"}) {
      const std::string lead = scale + " e ";
      bool matches = false;
      for (size_t at = text.find(lead); at != std::string::npos && !matches; at = text.find(lead, at + 1)) {
        const size_t word = at + lead.size();
        const size_t space = text.find(' ', word);
        if (space == std::string::npos) continue;
        const std::string hundreds = text.substr(word, space - word);
        if (hundreds.find_first_of("\t\n\r\f\v") != std::string::npos) continue;
        const bool entos = ends_with(hundreds, "ento") || ends_with(hundreds, "entos");
        matches = entos && text.find('e', space + 1) != std::string::npos;
      }
      if (matches) text = replace_all(text, scale + " e", scale);
    }
    return text;
  }
};

}  // namespace

const NumberWords& portuguese() {
  static const Portuguese instance;
  return instance;
}

}  // namespace gpufleet::xtts::numbers
