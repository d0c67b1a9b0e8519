// Guards XTTS text parity with upstream (#18): every corpus sentence cleaned, romanised (Korean) and
// tokenised exactly as coqui-tts' own front end does (its output is made at test time by
// tests/xtts_parity/upstream_text.py, the fixture CTest runs first). Where upstream raises, gpufleet must
// refuse the text too.
#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>
#include <iomanip>
#include <iostream>
#include <nlohmann/json.hpp>
#include <optional>

#include "common/error.hpp"
#include "models/xtts/tokenizer.hpp"
#include "tests/support/xtts_golden.hpp"

namespace gpufleet::xtts {
namespace {

nlohmann::json upstream_outputs() {
  const char* bin = std::getenv("GPUFLEET_BIN_DIR");
  const std::string path = std::string(bin ? bin : "bin") + "/../xtts_upstream_text.json";
  std::ifstream in(path);
  if (!in) return nullptr;
  return nlohmann::json::parse(in);
}

TEST(XttsTextParity, EveryCorpusSentenceAsUpstreamCleansAndTokenisesIt) {
  const auto upstream = upstream_outputs();
  ASSERT_FALSE(upstream.is_null()) << "no upstream outputs: run the xtts_text_upstream test first";
  std::optional<BpeTokenizer> tokenizer;
  const std::string vocab = gpufleet::testing::xtts_golden_dir() + "/vocab.json";
  if (std::ifstream(vocab)) tokenizer = BpeTokenizer::load(vocab);

  std::cout << "upstream: " << upstream["upstream"].get<std::string>() << ", num2words "
            << upstream["num2words"].get<std::string>() << "\n"
            << "lang  sentences  equal\n";
  size_t total_checked = 0;
  for (const auto& [language, cases] : upstream["languages"].items()) {
    size_t equal = 0;
    for (const auto& item : cases) {
      const std::string text = item["text"];
      if (item.contains("error")) {
        bool refused = false;
        try {
          clean_text(text, language);
        } catch (const ModelError&) {
          refused = true;
        }
        EXPECT_TRUE(refused) << language << ": upstream raises " << item["error"] << " on \"" << text << "\"";
        equal += refused ? 1 : 0;
        continue;
      }
      std::string cleaned;
      try {
        cleaned = clean_text(text, language);
      } catch (const std::exception& e) {
        ADD_FAILURE() << language << ": \"" << text << "\" refused (" << e.what() << "), upstream cleans it";
        continue;
      }
      bool same = cleaned == item["cleaned"].get<std::string>();
      EXPECT_EQ(cleaned, item["cleaned"].get<std::string>()) << language << ": \"" << text << "\"";
      const std::string preprocessed = preprocess_text(text, language);
      EXPECT_EQ(preprocessed, item["preprocessed"].get<std::string>())
          << language << " romanised: \"" << text << "\"";
      same = same && preprocessed == item["preprocessed"].get<std::string>();
      if (tokenizer && item.contains("ids")) {
        const auto ids = encode_xtts_text(*tokenizer, inference_text(text), language);
        EXPECT_EQ(ids, item["ids"].get<std::vector<int64_t>>()) << language << " ids: \"" << text << "\"";
        same = same && ids == item["ids"].get<std::vector<int64_t>>();
      }
      equal += same ? 1 : 0;
    }
    total_checked += cases.size();
    std::cout << std::left << std::setw(6) << language << std::setw(11) << cases.size() << equal << "\n";
  }
  EXPECT_GT(total_checked, 500u);
}

}  // namespace
}  // namespace gpufleet::xtts
