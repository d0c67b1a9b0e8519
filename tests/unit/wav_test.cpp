// Guards WAV encoding and the strict parser used on results and references.
#include "common/wav.hpp"

#include <gtest/gtest.h>

namespace gpufleet {
namespace {

TEST(Wav, EncodesAndParsesBack) {
  std::vector<int16_t> samples(22050, 0);
  for (size_t i = 0; i < samples.size(); ++i) samples[i] = static_cast<int16_t>((i % 100) * 100);
  const std::string bytes = encode_wav_pcm16(samples, 22050);
  EXPECT_EQ(bytes.size(), 44u + samples.size() * 2);
  auto info = parse_wav(bytes);
  ASSERT_TRUE(info);
  EXPECT_EQ(info->sample_rate, 22050u);
  EXPECT_EQ(info->channels, 1);
  EXPECT_EQ(info->bits_per_sample, 16);
  EXPECT_EQ(info->frames, samples.size());
  EXPECT_DOUBLE_EQ(info->duration_s(), 1.0);
  EXPECT_EQ(wav_samples_pcm16(bytes, *info), samples);
}

TEST(Wav, RejectsNonWavAndBrokenChunks) {
  EXPECT_FALSE(parse_wav(""));
  EXPECT_FALSE(parse_wav("not a wav file at all"));
  std::string bytes = encode_wav_pcm16(std::vector<int16_t>(10, 1), 16000);
  EXPECT_FALSE(parse_wav(bytes.substr(0, 30)));  // cut inside fmt
  std::string no_format = bytes;
  no_format.replace(12, 4, "junk");  // fmt chunk renamed: data comes without a format
  EXPECT_FALSE(parse_wav(no_format));
  std::string huge_chunk = bytes;
  huge_chunk.replace(16, 4, std::string("\xff\xff\xff\x7f", 4));  // fmt size past the end
  EXPECT_FALSE(parse_wav(huge_chunk));
}

}  // namespace
}  // namespace gpufleet
