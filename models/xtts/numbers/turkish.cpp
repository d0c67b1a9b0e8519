// num2words' Turkish (lang_TR), transliterated branch for branch: its reader walks the digit string of the
// number triplet by triplet (a cardinal no double holds exactly becomes no words at all) with the
// count of trailing zeros deciding where the ordinal suffix goes. Upstream's cleaner skips decimals in
// Turkish and num2words' Turkish to_currency takes no currency argument, so every £/$/€ pass fails there.
#include <map>

#include "models/xtts/numbers/cards.hpp"
#include "models/xtts/numbers/languages.hpp"

namespace gpufleet::xtts::numbers {
namespace {

// A dict.get(digit, "") over the digit characters.
class DigitWords {
 public:
  DigitWords(std::initializer_list<std::pair<const char, std::string>> words) : words_(words) {}
  std::string operator()(char digit) const {
    const auto found = words_.find(digit);
    return found == words_.end() ? "" : found->second;
  }

 private:
  std::map<char, std::string> words_;
};

const DigitWords kCardinalOnes{{'1', "bir"},  {'2', "iki"},  {'3', "üç"},    {'4', "dört"}, {'5', "beş"},
                               {'6', "altı"}, {'7', "yedi"}, {'8', "sekiz"}, {'9', "dokuz"}};
const DigitWords kOrdinalOnes{{'1', "birinci"},  {'2', "ikinci"},    {'3', "üçüncü"},
                              {'4', "dördüncü"}, {'5', "beşinci"},   {'6', "altıncı"},
                              {'7', "yedinci"},  {'8', "sekizinci"}, {'9', "dokuzuncu"}};
const DigitWords kCardinalTens{{'1', "on"},     {'2', "yirmi"},  {'3', "otuz"},
                               {'4', "kırk"},   {'5', "elli"},   {'6', "altmış"},
                               {'7', "yetmiş"}, {'8', "seksen"}, {'9', "doksan"}};
const DigitWords kOrdinalTens{{'1', "onuncu"},     {'2', "yirminci"},   {'3', "otuzuncu"},
                              {'4', "kırkıncı"},   {'5', "ellinci"},    {'6', "altmışıncı"},
                              {'7', "yetmişinci"}, {'8', "sekseninci"}, {'9', "doksanıncı"}};
const DigitWords kHundreds{{'2', "iki"},  {'3', "üç"},   {'4', "dört"},  {'5', "beş"},
                           {'6', "altı"}, {'7', "yedi"}, {'8', "sekiz"}, {'9', "dokuz"}};
const std::string kCardinalHundred = "yüz";
const std::string kOrdinalHundred = "yüzüncü";
const std::map<size_t, std::string> kCardinalTriplets{{1, "bin"},     {2, "milyon"},    {3, "milyar"},
                                                      {4, "trilyon"}, {5, "katrilyon"}, {6, "kentilyon"}};
const std::map<size_t, std::string> kOrdinalTriplets{{1, "bininci"},       {2, "milyonuncu"},
                                                     {3, "milyarıncı"},    {4, "trilyonuncu"},
                                                     {5, "katrilyonuncu"}, {6, "kentilyon"}};

// to_splitnum's reading of a whole number.
struct Split {
  std::string digits;          // integers_to_read[0]
  size_t triplets = 0;         // total_triplets_to_read
  size_t outside = 0;          // total_digits_outside_triplets
  size_t last_zero_order = 0;  // order_of_last_zero_digit: trailing zeros, at most length - 1
};

Split split(WholeNumber n) {
  if (n >= power_of_ten(21) - 1) throw NumberNotSpeakable("a number past num2words' Turkish range");
  Split s;
  s.digits = to_decimal(n);
  s.triplets = s.digits.size() / 3 + (s.digits.size() % 3 > 0 ? 1 : 0);
  s.outside = s.digits.size() % 3;
  bool found = false;
  for (size_t i = 0; i + 1 < s.digits.size(); ++i) {
    if (s.digits[s.digits.size() - 1 - i] == '0' && !found) {
      s.last_zero_order = i + 1;
    } else {
      found = true;
    }
  }
  return s;
}

class Turkish final : public NumberWords {
 public:
  std::string cardinal(WholeNumber n) const override {
    // verify_cardinal: float(value) == value, else no words at all (a number no double holds exactly).
    if (n < power_of_ten(21) && static_cast<WholeNumber>(static_cast<double>(n)) != n) return "";
    const Split s = split(n);
    const std::string& d = s.digits;
    const size_t len = d.size();
    std::string wrd;
    if (s.last_zero_order >= len) return wrd;
    if (s.triplets == 1) {
      if (s.outside == 2) {
        if (s.last_zero_order == 1) return wrd + kCardinalTens(d[0]);
        if (s.last_zero_order == 0) wrd += kCardinalTens(d[0]) + kCardinalOnes(d[1]);
        return wrd;
      }
      if (s.outside == 1) {
        if (s.last_zero_order == 0) {
          if (d[0] == '0') return "sıfır";
          return wrd + kCardinalOnes(d[0]);
        }
      }
      if (s.outside == 0) {
        if (s.last_zero_order == 2) return wrd + kHundreds(d[0]) + kCardinalHundred;
        if (s.last_zero_order == 1) return wrd + kHundreds(d[0]) + kCardinalHundred + kCardinalTens(d[1]);
        if (s.last_zero_order == 0)
          return wrd + kHundreds(d[0]) + kCardinalHundred + kCardinalTens(d[1]) + kCardinalOnes(d[2]);
      }
    }
    if (s.triplets >= 2) {
      const std::string& top = kCardinalTriplets.at(s.triplets - 1);
      if (s.outside == 2) {
        if (s.last_zero_order == len - 1) return wrd + kCardinalTens(d[0]) + top;
        if (s.last_zero_order == len - 2) return wrd + kCardinalTens(d[0]) + kCardinalOnes(d[1]) + top;
        if (s.last_zero_order < len - 2) wrd += kCardinalTens(d[0]) + kCardinalOnes(d[1]) + top;
      }
      if (s.outside == 1) {
        const bool thousand = s.triplets == 2 && d[0] == '1';  // "bin", not "bir bin"
        if (s.last_zero_order == len - 1) return wrd + (thousand ? "" : kCardinalOnes(d[0])) + top;
        if (s.last_zero_order < len - 1) wrd += (thousand ? "" : kCardinalOnes(d[0])) + top;
      }
      if (s.outside == 0) {
        if (s.last_zero_order == len - 1) return wrd + kHundreds(d[0]) + kCardinalHundred + top;
        if (s.last_zero_order == len - 2)
          return wrd + kHundreds(d[0]) + kCardinalHundred + kCardinalTens(d[1]) + top;
        if (s.last_zero_order == len - 3)
          return wrd + kHundreds(d[0]) + kCardinalHundred + kCardinalTens(d[1]) + kCardinalOnes(d[2]) + top;
        if (s.last_zero_order < len - 3) {
          wrd += kHundreds(d[0]) + kCardinalHundred + kCardinalTens(d[1]);
          if (!(s.triplets == 2 && d[2] == '1')) wrd += kCardinalOnes(d[2]);
          wrd += top;
        }
      }
      for (size_t i = s.triplets - 1; i > 0; --i) {
        const size_t order = s.triplets - i;
        const size_t at = s.outside == 0 ? order * 3 : (order - 1) * 3 + s.outside;
        if (d.compare(at, 3, "000") == 0) continue;
        if (d[at] != '0') {
          wrd += kHundreds(d[at]);
          if (s.last_zero_order == len - at - 1) {
            if (i == 1) return wrd + kCardinalHundred;
            return wrd + kCardinalHundred + kCardinalTriplets.at(i - 1);
          }
          wrd += kCardinalHundred;
        }
        if (d[at + 1] != '0') {
          if (s.last_zero_order == len - at - 2) {
            if (i == 1) return wrd + kCardinalTens(d[at + 1]);
            return wrd + kCardinalTens(d[at + 1]) + kCardinalTriplets.at(i - 1);
          }
          wrd += kCardinalTens(d[at + 1]);
        }
        if (d[at + 2] != '0') {
          const bool leading_zeros = d.compare(at, 2, "00") == 0;
          if (s.last_zero_order == len - at - 3) {
            if (i == 1) return wrd + kCardinalOnes(d[at + 2]);
            if (i == 2) {
              if (!leading_zeros || d[at + 2] != '1') wrd += kCardinalOnes(d[at + 2]);
              return wrd + kCardinalTriplets.at(i - 1);
            }
            return wrd + kCardinalOnes(d[at + 2]) + kCardinalTriplets.at(i - 1);
          }
          if (!leading_zeros || (i == 2 && d[at + 2] != '1')) wrd += kCardinalOnes(d[at + 2]);
        }
        if (i >= 2) wrd += kCardinalTriplets.at(i - 1);  // the last triplet has returned above
      }
    }
    return wrd;
  }

  std::string ordinal(WholeNumber n) const override {
    const Split s = split(n);
    const std::string& d = s.digits;
    const size_t len = d.size();
    std::string wrd;
    if (s.last_zero_order >= len) return wrd;
    if (s.triplets == 1) {
      if (s.outside == 2) {
        if (s.last_zero_order == 1) return wrd + kOrdinalTens(d[0]);
        if (s.last_zero_order == 0) return wrd + kCardinalTens(d[0]) + kOrdinalOnes(d[1]);
      }
      if (s.outside == 1) {
        if (s.last_zero_order == 0) {
          if (d[0] == '0') return "sıfırıncı";
          return wrd + kOrdinalOnes(d[0]);
        }
      }
      if (s.outside == 0) {
        if (s.last_zero_order == 2) return wrd + kHundreds(d[0]) + kOrdinalHundred;
        if (s.last_zero_order == 1) return wrd + kHundreds(d[0]) + kCardinalHundred + kOrdinalTens(d[1]);
        if (s.last_zero_order == 0) {
          wrd += kHundreds(d[0]) + kCardinalHundred + kCardinalTens(d[1]);
          if (d[2] != '0') wrd += kOrdinalOnes(d[2]);
          return wrd;
        }
      }
    }
    if (s.triplets >= 2) {
      const std::string& top_cardinal = kCardinalTriplets.at(s.triplets - 1);
      const std::string& top_ordinal = kOrdinalTriplets.at(s.triplets - 1);
      if (s.outside == 2) {
        if (s.last_zero_order == len - 1) return wrd + kCardinalTens(d[0]) + top_ordinal;
        if (s.last_zero_order == len - 2)
          return wrd + kCardinalTens(d[0]) + kCardinalOnes(d[1]) + top_ordinal;
        if (s.last_zero_order < len - 2) wrd += kCardinalTens(d[0]) + kCardinalOnes(d[1]) + top_cardinal;
      }
      if (s.outside == 1) {
        const bool thousand = s.triplets == 2 && d[0] == '1';
        if (s.last_zero_order == len - 1) return wrd + (thousand ? "" : kCardinalOnes(d[0])) + top_ordinal;
        if (s.last_zero_order < len - 1) wrd += (thousand ? "" : kCardinalOnes(d[0])) + top_cardinal;
      }
      if (s.outside == 0) {
        if (s.last_zero_order == len - 1) return wrd + kHundreds(d[0]) + kCardinalHundred + top_ordinal;
        if (s.last_zero_order == len - 2)
          return wrd + kHundreds(d[0]) + kCardinalHundred + kCardinalTens(d[1]) + top_ordinal;
        if (s.last_zero_order == len - 3)
          return wrd + kHundreds(d[0]) + kCardinalHundred + kCardinalTens(d[1]) + kCardinalOnes(d[2]) +
                 top_ordinal;
        if (s.last_zero_order < len - 3) {
          wrd += kHundreds(d[0]) + kCardinalHundred + kCardinalTens(d[1]);
          if (!(s.triplets == 2 && d[2] == '1')) wrd += kCardinalOnes(d[2]);
          wrd += top_cardinal;
        }
      }
      for (size_t i = s.triplets - 1; i > 0; --i) {
        const size_t order = s.triplets - i;
        const size_t at = s.outside == 0 ? order * 3 : (order - 1) * 3 + s.outside;
        if (d.compare(at, 3, "000") == 0) continue;
        if (d[at] != '0') {
          if (d[at] != '1') wrd += kCardinalOnes(d[at]);
          if (s.last_zero_order == len - at - 1) {
            if (i == 1) return wrd + kOrdinalHundred;
            return wrd + kCardinalHundred + kOrdinalTriplets.at(i - 1);
          }
          wrd += kCardinalHundred;
        }
        if (d[at + 1] != '0') {
          if (s.last_zero_order == len - at - 2) {
            if (i == 1) return wrd + kOrdinalTens(d[at + 1]);
            return wrd + kCardinalTens(d[at + 1]) + kOrdinalTriplets.at(i - 1);
          }
          wrd += kCardinalTens(d[at + 1]);
        }
        if (d[at + 2] != '0') {
          const bool leading_zeros = d.compare(at, 2, "00") == 0;
          if (s.last_zero_order == len - at - 3) {
            if (i == 1) return wrd + kOrdinalOnes(d[at + 2]);
            if (i == 2) {
              if (!leading_zeros || d[at + 2] != '1') wrd += kCardinalOnes(d[at + 2]);
              return wrd + kOrdinalTriplets.at(i - 1);
            }
            return wrd + kCardinalOnes(d[at + 2]) + kOrdinalTriplets.at(i - 1);
          }
          if (!leading_zeros || d[at + 2] != '1') wrd += kCardinalOnes(d[at + 2]);
        }
        if (i >= 2) wrd += kCardinalTriplets.at(i - 1);  // the last triplet has returned above
      }
    }
    return wrd;
  }

  std::string real(double) const override {
    // Upstream's cleaner never reads Turkish decimals; a caller asking is a mistake.
    throw NumberNotSpeakable("upstream reads no Turkish decimals");
  }

  std::string currency(double, Currency) const override {
    throw NumberNotSpeakable("num2words' Turkish to_currency takes no currency");  // TypeError upstream
  }
};

}  // namespace

const NumberWords& turkish() {
  static const Turkish instance;
  return instance;
}

}  // namespace gpufleet::xtts::numbers
