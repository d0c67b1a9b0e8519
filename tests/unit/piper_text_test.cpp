// Guards the text side of Piper voices: the voice config is read as Piper writes it, espeak-ng gives IPA per
// sentence with Piper's punctuation, and ids come out in Piper's BOS/PAD/EOS layout.
#include "models/piper/piper_text.hpp"

#include <gtest/gtest.h>

#include "common/error.hpp"
#include "common/utf8.hpp"

namespace gpufleet::models {
namespace {

constexpr const char* kVoice = R"({
  "audio": {"sample_rate": 16000},
  "espeak": {"voice": "en-us"},
  "inference": {"noise_scale": 0.5, "length_scale": 1.2, "noise_w": 0.7},
  "phoneme_type": "espeak",
  "phoneme_id_map": {"_": [0], "^": [1], "$": [2], " ": [3], ".": [10], "h": [20], "ə": [59], "ˈ": [120]},
  "num_symbols": 256,
  "num_speakers": 2,
  "speaker_id_map": {"alice": 0, "bob": 1}
})";

TEST(PiperText, TheVoiceConfigIsReadAsPiperWritesIt) {
  auto config = parse_piper_voice_config(kVoice);
  EXPECT_EQ(config.sample_rate, 16000u);
  EXPECT_EQ(config.espeak_voice, "en-us");
  EXPECT_FLOAT_EQ(config.noise_scale, 0.5f);
  EXPECT_FLOAT_EQ(config.length_scale, 1.2f);
  EXPECT_FLOAT_EQ(config.noise_w, 0.7f);
  EXPECT_EQ(config.num_speakers, 2u);
  EXPECT_EQ(config.speaker_id_map.at("bob"), 1);
  EXPECT_EQ(config.phoneme_id_map.at(U'ə'), std::vector<int64_t>{59});
}

TEST(PiperText, AConfigWithoutItsSpecialSymbolsIsRefused) {
  EXPECT_THROW(parse_piper_voice_config(R"({"phoneme_id_map": {"_": [0], "^": [1]}})"), ConfigError);
  EXPECT_THROW(parse_piper_voice_config(R"({"phoneme_id_map": {"_": [0], "^": [1], "$": [2], "ab": [3]}})"),
               ConfigError);
  EXPECT_THROW(parse_piper_voice_config(R"({"phoneme_id_map": {"_": "zero"}})"), ConfigError);
  EXPECT_THROW(parse_piper_voice_config("[]"), ConfigError);
}

TEST(PiperText, IdsFollowPipersLayoutAndUnknownPhonemesAreCounted) {
  auto config = parse_piper_voice_config(kVoice);
  size_t missing = 0;
  auto ids = piper_phoneme_ids(U"hˈəx.", config, &missing);
  EXPECT_EQ(ids, (std::vector<int64_t>{1, 0, 20, 0, 120, 0, 59, 0, 10, 0, 2}));
  EXPECT_EQ(missing, 1u);
}

TEST(PiperText, EspeakGivesIpaPerSentenceWithPipersPunctuation) {
  auto sentences = espeak_ipa_sentences("Hello, world. How are you?", "en-us");
  ASSERT_EQ(sentences.size(), 2u);
  const std::string first = utf8_encode(sentences[0]);
  const std::string second = utf8_encode(sentences[1]);
  EXPECT_EQ(first.back(), '.') << first;
  EXPECT_NE(first.find(", "), std::string::npos) << first;
  EXPECT_NE(first.find("ˈ"), std::string::npos) << "no IPA stress marks: " << first;
  EXPECT_EQ(second.back(), '?') << second;
  EXPECT_NE(second.find('h'), std::string::npos) << second;
  EXPECT_THROW(espeak_ipa_sentences("x", "no-such-voice"), ModelError);
  EXPECT_TRUE(espeak_ipa_sentences("  ", "en-us").empty());
}

}  // namespace
}  // namespace gpufleet::models
