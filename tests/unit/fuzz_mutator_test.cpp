// Guards the gateway fuzz target's structure-aware mutator (fuzz/json_mutator.hpp): it must build the inputs
// byte flips do not (nesting past the parser's limit inside a field, ill-formed UTF-8 inside strings) and
// stay within libFuzzer's size bound; a mutator that quietly stopped doing so would leave the fuzzing blind
// to the crashes it is there to find.
#include <gtest/gtest.h>

#include "common/json_text.hpp"
#include "common/utf8.hpp"
#include "fuzz/json_mutator.hpp"

namespace {

using gpufleet::fuzz::json_value_end;
using gpufleet::fuzz::mutate_json_structure;

TEST(JsonMutator, FindsTheEndOfEachKindOfValue) {
  const std::string text = R"({"a":"x\"]}","b":[1,{"c":[]}],"d":12,"e":true})";
  EXPECT_EQ(text.substr(5, json_value_end(text, 5) - 5), R"("x\"]}")");
  const size_t b = text.find('[');
  EXPECT_EQ(text.substr(b, json_value_end(text, b) - b), R"([1,{"c":[]}])");
  const size_t d = text.find("12");
  EXPECT_EQ(text.substr(d, json_value_end(text, d) - d), "12");
  const size_t e = text.find("true");
  EXPECT_EQ(text.substr(e, json_value_end(text, e) - e), "true");
}

TEST(JsonMutator, NestsPastTheLimitAndBreaksUtf8WithinTheSizeBound) {
  const std::string seed = R"({"model":"espeak","input":{"text":"hello","language":"en"}})";
  std::mt19937_64 random(7);
  size_t deep = 0;
  size_t very_deep = 0;
  size_t ill_formed = 0;
  for (int i = 0; i < 400; ++i) {
    const auto mutated = mutate_json_structure(seed, 4096, random);
    ASSERT_LE(mutated.size(), 4096u);
    const size_t depth = gpufleet::json_nesting_depth(mutated, 1 << 20);
    deep += depth > 64 ? 1 : 0;
    very_deep += depth > 1000 ? 1 : 0;
    ill_formed += gpufleet::utf8_valid(mutated) ? 0 : 1;
  }
  EXPECT_GT(deep, 40u);
  EXPECT_GT(very_deep, 10u) << "depth up to what the size allows (4096 bytes: over 1,000 levels)";
  EXPECT_GT(ill_formed, 40u);
}

TEST(JsonMutator, TakesEmptyAndShapelessInput) {
  std::mt19937_64 random(1);
  for (int i = 0; i < 100; ++i) {
    EXPECT_LE(mutate_json_structure("", 64, random).size(), 64u);
    EXPECT_LE(mutate_json_structure(std::string(100, 'x'), 64, random).size(), 64u);
  }
}

}  // namespace
