// num2words' Polish (lang_PL) and Czech (lang_CS): numbers read in groups of three digits, each group's
// scale word in one of three plural forms ("tysiąc", "tysiące", "tysięcy"), floats read from Python's
// repr() with the fraction as a whole number after its leading zeros ("zero zero" for 12.0). Czech has no
// ordinals in num2words (upstream fails on "3. května"), neither language has words for pounds, and Czech
// none for dollars: upstream's currency passes stop there.
#include <array>
#include <cmath>

#include "models/xtts/numbers/cards.hpp"
#include "models/xtts/numbers/languages.hpp"

namespace gpufleet::xtts::numbers {
namespace {

using Forms = std::vector<std::string>;  // one, few, many

struct Digits {
  unsigned ones, tens, hundreds;
};

Digits digits_of(unsigned group) {
  return {group % 10, group / 10 % 10, group / 100 % 10};
}

// The word tables of one language.
struct SlavicWords {
  const char* zero;
  std::array<const char*, 10> ones;      // [0] unused
  std::array<const char*, 10> teens;     // 10..19
  std::array<const char*, 10> twenties;  // [2..9]
  std::array<const char*, 10> hundreds;  // [1..9]
  std::vector<Forms> scales;             // [0] unused; [1] thousand, [2] million, ...
  const char* point;
};

class WestSlavic : public Num2WordBase {
 public:
  explicit WestSlavic(SlavicWords words) : words_(std::move(words)) {}

  std::string cardinal(WholeNumber n) const override { return int_to_words(n); }

  std::string real(double value) const override {
    const PointSplit split = split_at_point(value);
    const std::string& left = split.whole;
    const std::string& right = split.fraction;
    const size_t leading_zeros = std::min(right.find_first_not_of('0'), right.size());
    std::string fraction;
    for (size_t i = 0; i < leading_zeros; ++i) fraction += std::string(words_.zero) + " ";
    fraction += int_to_words(parse_whole_number(right));
    return int_to_words(parse_whole_number(left)) + " " + words_.point + " " + fraction;
  }

 protected:
  std::string pluralize(WholeNumber n, const std::vector<std::string>& forms) const override {
    if (n == 1) return forms[0];
    if (n % 10 > 1 && n % 10 < 5 && (n % 100 < 10 || n % 100 > 20)) return forms[1];
    return forms[2];
  }

  // _int2word
  std::string int_to_words(WholeNumber n) const {
    if (n == 0) return words_.zero;
    std::vector<std::string> out;
    const auto groups = groups_of_three(to_decimal(n));
    size_t scale = groups.size();
    for (const unsigned group : groups) {
      --scale;
      if (group == 0) continue;
      const Digits d = digits_of(group);
      if (d.hundreds > 0) out.emplace_back(words_.hundreds[d.hundreds]);
      if (d.tens > 1) out.emplace_back(words_.twenties[d.tens]);
      if (d.tens == 1) {
        out.emplace_back(words_.teens[d.ones]);
      } else if (d.ones > 0 && !(scale > 0 && group == 1)) {
        out.emplace_back(words_.ones[d.ones]);
      }
      if (scale > 0) {
        if (scale >= words_.scales.size()) throw NumberNotSpeakable("no scale word that large");  // KeyError
        out.push_back(pluralize(group, words_.scales[scale]));
      }
    }
    std::string joined;
    for (const auto& word : out) joined += (joined.empty() ? "" : " ") + word;
    return joined;
  }

  SlavicWords words_;
};

// "tysiąc", then "milion", "miliard", "bilion", ... each with its "-y" and "-ów" plurals.
std::vector<Forms> polish_scales() {
  std::vector<Forms> scales{{"", "", ""}, {"tysiąc", "tysiące", "tysięcy"}};
  for (const char* prefix :
       {"mi", "bi", "try", "kwadry", "kwinty", "seksty", "septy", "okty", "nony", "decy"}) {
    for (const char* suffix : {"lion", "liard"}) {
      const std::string name = std::string(prefix) + suffix;
      scales.push_back({name, name + "y", name + "ów"});
    }
  }
  return scales;
}

class Polish final : public WestSlavic {
 public:
  Polish()
      : WestSlavic({"zero",
                    {"", "jeden", "dwa", "trzy", "cztery", "pięć", "sześć", "siedem", "osiem", "dziewięć"},
                    {"dziesięć", "jedenaście", "dwanaście", "trzynaście", "czternaście", "piętnaście",
                     "szesnaście", "siedemnaście", "osiemnaście", "dziewiętnaście"},
                    {"", "", "dwadzieścia", "trzydzieści", "czterdzieści", "pięćdziesiąt", "sześćdziesiąt",
                     "siedemdziesiąt", "osiemdziesiąt", "dziewięćdziesiąt"},
                    {"", "sto", "dwieście", "trzysta", "czterysta", "pięćset", "sześćset", "siedemset",
                     "osiemset", "dziewięćset"},
                    polish_scales(),
                    "przecinek"}) {
    currency_forms_ = {{Currency::kEur, {{"euro", "euro", "euro"}, {"cent", "centy", "centów"}}},
                       {Currency::kUsd,
                        {{"dolar amerykański", "dolary amerykańskie", "dolarów amerykańskich"},
                         {"cent", "centy", "centów"}}}};
  }

  // to_ordinal: the number up to its last non-zero group as a cardinal, that group as an ordinal (or as
  // the prefix of "tysięczny", "milionowy", "milairdowy" when zeros follow).
  std::string ordinal(WholeNumber n) const override {
    static const std::array<std::array<const char*, 2>, 20> kOnes{{{"", ""},
                                                                   {"pierwszy", "pierwszo"},
                                                                   {"drugi", "dwu"},
                                                                   {"trzeci", "trzy"},
                                                                   {"czwarty", "cztero"},
                                                                   {"piąty", "pięcio"},
                                                                   {"szósty", "sześcio"},
                                                                   {"siódmy", "siedmio"},
                                                                   {"ósmy", "ośmio"},
                                                                   {"dziewiąty", "dziewięcio"},
                                                                   {"dziesiąty", "dziesięcio"},
                                                                   {"jedenasty", "jedenasto"},
                                                                   {"dwunasty", "dwunasto"},
                                                                   {"trzynasty", "trzynasto"},
                                                                   {"czternasty", "czternasto"},
                                                                   {"piętnasty", "piętnasto"},
                                                                   {"szesnasty", "szesnasto"},
                                                                   {"siedemnasty", "siedemnasto"},
                                                                   {"osiemnasty", "osiemnasto"},
                                                                   {"dziewiętnasty", "dziewiętnasto"}}};
    static const std::array<std::array<const char*, 2>, 10> kTwenties{
        {{"", ""},
         {"", ""},
         {"dwudziesty", "dwudziesto"},
         {"trzydziesty", "trzydiesto"},
         {"czterdziesty", "czterdziesto"},
         {"pięćdziesiąty", "pięćdziesięcio"},
         {"sześćdziesiąty", "sześćdziesięcio"},
         {"siedemdziesiąty", "siedemdziesięcio"},
         {"osiemdziesiąty", "osiemdziesięcio"},
         {"dziewięćdziesiąty", "dziewięćdziesięcio"}}};
    static const std::array<std::array<const char*, 2>, 10> kHundreds{{{"", ""},
                                                                       {"setny", "stu"},
                                                                       {"dwusetny", "dwustu"},
                                                                       {"trzysetny", "trzystu"},
                                                                       {"czterysetny", "czterystu"},
                                                                       {"pięćsetny", "pięcset"},
                                                                       {"sześćsetny", "sześćset"},
                                                                       {"siedemsetny", "siedemset"},
                                                                       {"osiemsetny", "ośiemset"},
                                                                       {"dziewięćsetny", "dziewięćset"}}};
    static const std::array<const char*, 4> kScaleOrdinals{"", "tysięczny", "milionowy", "milairdowy"};
    auto groups = groups_of_three(to_decimal(n));
    size_t level = 0;
    unsigned last = groups.back();
    while (last == 0) {
      ++level;
      groups.pop_back();
      if (groups.empty()) throw NumberNotSpeakable("no Polish ordinal for zero");  // IndexError
      last = groups.back();
    }
    std::vector<std::string> words;
    if (groups.size() > 1) {
      WholeNumber scale = 1;
      for (size_t i = 0; i < level; ++i) scale *= 1000;
      words.push_back(int_to_words(n - last * scale));
    }
    const size_t form = level == 0 ? 0 : 1;
    const Digits d = digits_of(last);
    const unsigned last_two = d.tens * 10 + d.ones;
    // HUNDREDS' words have one form only: asking for the second is upstream's IndexError.
    auto hundreds_word = [&](size_t which) -> std::string {
      if (which != 0) throw NumberNotSpeakable("no Polish ordinal of this shape");
      return words_.hundreds[d.hundreds];
    };
    if (last_two == 0) {
      words.emplace_back(kHundreds[d.hundreds][form]);
    } else if (form == 1 && last == 1) {
      // nothing: "tysięczny" alone
    } else if (last_two < 20) {
      if (d.hundreds > 0) words.push_back(hundreds_word(form));
      words.emplace_back(kOnes[last_two][form]);
    } else if (last_two % 10 == 0) {
      if (d.hundreds > 0) words.push_back(hundreds_word(form));
      words.emplace_back(kTwenties[d.tens][form]);
    } else {
      if (d.hundreds > 0) words.push_back(hundreds_word(0));
      words.emplace_back(kTwenties[d.tens][0]);
      words.emplace_back(kOnes[d.ones][0]);
    }
    std::string output;
    for (size_t i = 0; i < words.size(); ++i) output += (i == 0 ? "" : " ") + words[i];
    if (last == 1 && level > 0 && !output.empty()) output += ' ';
    if (level > 0) {
      if (level >= kScaleOrdinals.size())
        throw NumberNotSpeakable("no Polish ordinal that large");  // KeyError
      output += kScaleOrdinals[level];
    }
    return output;
  }
};

class Czech final : public WestSlavic {
 public:
  Czech()
      : WestSlavic({"nula",
                    {"", "jedna", "dva", "tři", "čtyři", "pět", "šest", "sedm", "osm", "devět"},
                    {"deset", "jedenáct", "dvanáct", "třináct", "čtrnáct", "patnáct", "šestnáct", "sedmnáct",
                     "osmnáct", "devatenáct"},
                    {"", "", "dvacet", "třicet", "čtyřicet", "padesát", "šedesát", "sedmdesát", "osmdesát",
                     "devadesát"},
                    {"", "sto", "dvěstě", "třista", "čtyřista", "pětset", "šestset", "sedmset", "osmset",
                     "devětset"},
                    {{"", "", ""},
                     {"tisíc", "tisíce", "tisíc"},
                     {"milion", "miliony", "milionů"},
                     {"miliarda", "miliardy", "miliard"},
                     {"bilion", "biliony", "bilionů"},
                     {"biliarda", "biliardy", "biliard"},
                     {"trilion", "triliony", "trilionů"},
                     {"triliarda", "triliardy", "triliard"},
                     {"kvadrilion", "kvadriliony", "kvadrilionů"},
                     {"kvadriliarda", "kvadriliardy", "kvadriliard"},
                     {"quintillion", "quintilliony", "quintillionů"}},
                    "celá"}) {
    currency_forms_ = {{Currency::kEur, {{"euro", "euro", "euro"}, {"cent", "centy", "centů"}}}};
  }

  std::string ordinal(WholeNumber) const override {
    // NotImplementedError upstream; a Czech number before a full stop and a space is read as an ordinal.
    throw NumberNotSpeakable(
        "a number before a full stop reads as an ordinal, and num2words (so upstream) has no Czech ordinals: "
        "write it as words");
  }
};

}  // namespace

const NumberWords& polish() {
  static const Polish instance;
  return instance;
}

const NumberWords& czech() {
  static const Czech instance;
  return instance;
}

}  // namespace gpufleet::xtts::numbers
