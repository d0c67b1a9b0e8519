// num2words' Arabic (lang_AR): numbers in groups of three, read from the smallest, with dual forms
// ("ألفان"), feminine ones for ordinals under a hundred and for fractions, every currency read as Saudi
// riyals and halalas (num2words falls back to them for $, £ and €), fractions cut to two places
// ("12.5" -> "اثنا عشر , خمسون"). Python's decimal module does the division by a thousand with 28
// significant digits: from 29 digits on its rounding shows in the words, and is reproduced up to 31 digits;
// past that upstream changes the module's precision for the rest of the process, so gpufleet refuses.
#include <array>
#include <cmath>

#include "models/xtts/numbers/cards.hpp"
#include "models/xtts/numbers/languages.hpp"

namespace gpufleet::xtts::numbers {
namespace {

const std::array<const char*, 20> kOnes{"",         "واحد",    "اثنان",    "ثلاثة",      "أربعة",
                                        "خمسة",     "ستة",     "سبعة",     "ثمانية",     "تسعة",
                                        "عشرة",     "أحد عشر", "اثنا عشر", "ثلاثة عشر",  "أربعة عشر",
                                        "خمسة عشر", "ستة عشر", "سبعة عشر", "ثمانية عشر", "تسعة عشر"};
const std::array<const char*, 20> kFeminineOnes{
    "",          "إحدى",     "اثنتان",  "ثلاث",     "أربع",       "خمس",        "ست",
    "سبع",       "ثمان",     "تسع",     "عشر",      "إحدى عشرة",  "اثنتا عشرة", "ثلاث عشرة",
    "أربع عشرة", "خمس عشرة", "ست عشرة", "سبع عشرة", "ثماني عشرة", "تسع عشرة"};
const std::array<const char*, 20> kOrdinals{"",         "اول",      "ثاني",     "ثالث",     "رابع",
                                            "خامس",     "سادس",     "سابع",     "ثامن",     "تاسع",
                                            "عاشر",     "حادي عشر", "ثاني عشر", "ثالث عشر", "رابع عشر",
                                            "خامس عشر", "سادس عشر", "سابع عشر", "ثامن عشر", "تاسع عشر"};
const std::array<const char*, 8> kTens{"عشرون", "ثلاثون", "أربعون", "خمسون",
                                       "ستون",  "سبعون",  "ثمانون", "تسعون"};
const std::array<const char*, 10> kHundreds{"",        "مائة",   "مئتان",   "ثلاثمائة", "أربعمائة",
                                            "خمسمائة", "ستمائة", "سبعمائة", "ثمانمائة", "تسعمائة"};
const std::array<const char*, 11> kAppendedTwos{"مئتا",      "ألفا",        "مليونا",     "مليارا",
                                                "تريليونا",  "كوادريليونا", "كوينتليونا", "سكستيليونا",
                                                "سبتيليونا", "أوكتيليونا ", "نونيليونا"};
const std::array<const char*, 11> kTwos{"مئتان",      "ألفان",        "مليونان",     "ملياران",
                                        "تريليونان",  "كوادريليونان", "كوينتليونان", "سكستيليونان",
                                        "سبتيليونان", "أوكتيليونان ", "نونيليونان "};
const std::array<const char*, 11> kGroups{"مائة",     "ألف",        "مليون",     "مليار",
                                          "تريليون",  "كوادريليون", "كوينتليون", "سكستيليون",
                                          "سبتيليون", "أوكتيليون",  "نونيليون"};
const std::array<const char*, 11> kAppendedGroups{"",          "ألفاً",        "مليوناً",     "ملياراً",
                                                  "تريليوناً",  "كوادريليوناً", "كوينتليوناً", "سكستيليوناً",
                                                  "سبتيليوناً", "أوكتيليوناً",  "نونيليوناً"};
const std::array<const char*, 11> kPluralGroups{"",           "آلاف",         "ملايين",      "مليارات",
                                                "تريليونات",  "كوادريليونات", "كوينتليونات", "سكستيليونات",
                                                "سبتيليونات", "أوكتيليونات",  "نونيليونات"};

using UnitForms = std::array<const char*, 4>;  // one, two, three to ten, eleven to ninety-nine
const UnitForms kNoUnit{"", "", "", ""};
const UnitForms kRiyal{"ريال", "ريالان", "ريالات", "ريالاً"};
const UnitForms kHalala{"هللة", "هللتان", "هللات", "هللة"};

// What one call of num2words' converter needs of the state it keeps between calls.
struct Reading {
  bool feminine_units = false;  // isCurrencyNameFeminine: the ones of the lowest group
  UnitForms unit = kNoUnit;
  UnitForms subunit = kNoUnit;
  std::string separator = ",";
};

class Arabic final : public NumberWords {
 public:
  std::string cardinal(WholeNumber n) const override { return strip(convert(to_decimal(n), Reading{})); }

  std::string ordinal(WholeNumber n) const override {
    if (n <= 19) return kOrdinals[static_cast<size_t>(n)];
    Reading reading;
    reading.feminine_units = n < 100;
    return strip(convert(to_decimal(n), reading));
  }

  std::string real(double value) const override {
    if (!std::isfinite(value)) throw NumberNotSpeakable("a number that is not finite");
    if (std::fabs(value) >= 1e51) throw NumberNotSpeakable("a number past 10^51");  // OverflowError
    return strip(convert(python_to_str(value), Reading{}));
  }

  std::string currency(double amount, Currency) const override {
    if (!std::isfinite(amount)) throw NumberNotSpeakable("an amount that is not a finite number");
    Reading reading;
    reading.unit = kRiyal;
    reading.subunit = kHalala;
    reading.separator = "و";
    return convert(python_to_str(amount), reading);
  }

 private:
  static std::string strip(const std::string& text) {
    const size_t first = text.find_first_not_of(" \t\n\r\f\v");
    if (first == std::string::npos) return "";
    return text.substr(first, text.find_last_not_of(" \t\n\r\f\v") - first + 1);
  }

  // to_str: a whole float as its integer, anything else with nine rounded places, trailing zeros cut.
  static std::string python_to_str(double value) {
    const double whole = std::trunc(value);
    if (whole == value) {
      if (value >= 1e36) throw NumberNotSpeakable("a number of more than 36 digits");
      return to_decimal(static_cast<WholeNumber>(value));
    }
    const double fraction = std::nearbyint((value - whole) * 1e9);
    std::string places = std::to_string(static_cast<long long>(fraction));
    places.insert(0, 9 > places.size() ? 9 - places.size() : 0, '0');
    while (!places.empty() && places.back() == '0') places.pop_back();
    return to_decimal(static_cast<WholeNumber>(whole)) + "." + places;
  }

  static std::string feminine_status(unsigned digit, int level, const Reading& reading) {
    if (level == -1) return kFeminineOnes[digit];  // isCurrencyPartNameFeminine is always true
    if (level == 0 && reading.feminine_units) return kFeminineOnes[digit];
    return kOnes[digit];
  }

  // process_arabic_group
  static std::string group_words(unsigned group, int level, WholeNumber integer_value,
                                 const Reading& reading) {
    unsigned tens = group % 100;
    const unsigned hundreds = group / 100;
    std::string out;
    if (hundreds > 0) {
      if (tens == 0 && hundreds == 2) {
        out = kAppendedTwos[0];
      } else {
        out = kHundreds[hundreds];
        if (tens != 0) out += " و ";
      }
    }
    if (tens == 0) return out;
    if (tens < 20) {
      if (tens == 2 && hundreds == 0 && level > 0) {
        const int power = static_cast<int>(std::log10(static_cast<double>(integer_value)));
        const bool round_two =
            integer_value > 10 && power % 3 == 0 && integer_value == 2 * power_of_ten(power);
        return (round_two ? kAppendedTwos : kTwos)[static_cast<size_t>(level)];
      }
      // (num2words' branches that test the group's hundreds as a fraction against zero never match)
      if (tens == 1 && level > 0) return out + kGroups[static_cast<size_t>(level)];
      return out + feminine_status(tens, level, reading);
    }
    const unsigned ones = tens % 10;
    if (ones > 0) out += feminine_status(ones, level, reading);
    if (!out.empty() && ones != 0) out += " و ";
    return out + kTens[tens / 10 - 2];
  }

  // Python's int(Decimal(n) / 1000) under the default 28-digit context.
  static WholeNumber divide_by_thousand(WholeNumber n) {
    const WholeNumber quotient = n / 1000;
    const unsigned remainder = static_cast<unsigned>(n % 1000);
    const size_t digits = quotient == 0 ? 0 : to_decimal(quotient).size();
    if (digits + 3 <= 28) return quotient;
    if (digits > 28) throw NumberNotSpeakable("a number past Python's decimal precision");
    const size_t places = 28 - digits;  // 2, 1 or 0 places kept, rounded half to even
    const unsigned unit = places == 2 ? 10 : places == 1 ? 100 : 1000;
    const unsigned kept = remainder / unit;
    const unsigned dropped = remainder % unit;
    const bool odd = places == 0 ? quotient % 2 == 1 : kept % 2 == 1;
    const bool up = dropped * 2 > unit || (dropped * 2 == unit && odd);
    const unsigned rounded = kept + (up ? 1 : 0);
    return quotient + (rounded * unit == 1000 ? 1 : 0);
  }

  static std::string unit_form(WholeNumber value, const UnitForms& forms, bool exactly_two) {
    const auto last_two = static_cast<unsigned>(value % 100);
    if (last_two <= 1) return forms[0];
    if (last_two == 2) return exactly_two ? forms[1] : forms[0];
    if (last_two <= 10) return forms[2];
    return forms[3];
  }

  // convert(): `number` as to_str wrote it.
  static std::string convert(const std::string& number, const Reading& reading) {
    const size_t point = number.find('.');
    const std::string integer_digits = number.substr(0, point);
    if (integer_digits.size() > 31) throw NumberNotSpeakable("a number past Python's decimal precision");
    const WholeNumber integer_value = parse_whole_number(integer_digits);
    unsigned decimal_value = 0;
    if (point != std::string::npos) {
      std::string places = number.substr(point + 1) + "00";  // decimal_value(): two places, padded or cut
      decimal_value = static_cast<unsigned>(std::stoul(places.substr(0, 2)));
    }
    if (integer_value == 0 && decimal_value == 0 && number.find_first_not_of("0.") == std::string::npos) {
      return "صفر";
    }
    const std::string decimal_words = group_words(decimal_value, -1, integer_value, reading);
    std::string words;
    WholeNumber rest = integer_value;
    for (int level = 0; rest > 0; ++level) {
      const auto group = static_cast<unsigned>(rest % 1000);
      rest = divide_by_thousand(rest);
      if (static_cast<size_t>(level) >= kGroups.size())
        throw NumberNotSpeakable("no Arabic scale word that large");
      const std::string description = group_words(group, level, integer_value, reading);
      if (description.empty()) continue;
      if (level > 0) {
        if (!words.empty()) words = "و " + words;
        if (group != 2 && group != 1) {
          if (group % 100 != 1) {
            if (group >= 3 && group <= 10) {
              words = std::string(kPluralGroups[static_cast<size_t>(level)]) + " " + words;
            } else {
              words = std::string(words.empty() ? kGroups[static_cast<size_t>(level)]
                                                : kAppendedGroups[static_cast<size_t>(level)]) +
                      " " + words;
            }
          } else {
            words = std::string(kGroups[static_cast<size_t>(level)]) + " " + words;
          }
        }
      }
      words = description + " " + words;
    }
    std::string out = words;
    if (integer_value != 0) out += unit_form(integer_value, reading.unit, integer_value == 2);
    if (decimal_value != 0) {
      out += " " + reading.separator + " " + decimal_words;
      out += " " + unit_form(decimal_value, reading.subunit, true);
    }
    return out;
  }
};

}  // namespace

const NumberWords& arabic() {
  static const Arabic instance;
  return instance;
}

}  // namespace gpufleet::xtts::numbers
