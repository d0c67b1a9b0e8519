// Guards WAV encoding and the strict parser used on results and references.
#include "common/wav.hpp"

#include <gtest/gtest.h>

#include <tuple>

#include "tests/support/wav_variants.hpp"

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
  // An extensible fmt chunk whose size claims more than the file holds (found by fuzz/wav_fuzz.cpp: the
  // subformat was read past the end and threw).
  const std::string cut_extensible(
      "RIFFd\x00\x04\x80WAVEfmt \xed\xff\xff\xff\xfe\xff\xfe\xff\x22\x92"
      "data@\xe4\x00\x00\x00\x60R\x00\x00\xc5M",
      41);
  EXPECT_FALSE(parse_wav(cut_extensible));
  std::string huge_chunk = bytes;
  huge_chunk.replace(16, 4, std::string("\xff\xff\xff\x7f", 4));  // fmt size past the end
  EXPECT_FALSE(parse_wav(huge_chunk));
}

// Guards the encodings other tools write: only 16-bit PCM and 32-bit float were read, so a reference saved as
// 24-bit PCM or with a WAVE_FORMAT_EXTENSIBLE header (Audacity, ffmpeg for more than 2 channels, many DAWs)
// was refused. Each variant, made from the same 16-bit samples, decodes to the same levels; 8-bit to within
// its step; a 12-bit container or an extensible header with a foreign subformat is refused cleanly.
TEST(Wav, EveryCommonEncodingDecodesToTheSameLevels) {
  std::vector<int16_t> stereo;
  for (int i = 0; i < 400; ++i) {
    stereo.push_back(static_cast<int16_t>((i * 331) % 65536 - 32768));
    stereo.push_back(static_cast<int16_t>(-(i * 97) % 30000));
  }
  const auto reference = parse_wav(encode_wav_pcm16(stereo, 24000, 2));
  ASSERT_TRUE(reference);
  const auto expected = wav_samples_float(encode_wav_pcm16(stereo, 24000, 2), *reference);
  ASSERT_EQ(expected.size(), stereo.size());
  EXPECT_FLOAT_EQ(expected[0], -1.0f);
  const auto expected_mono = wav_mono_pcm16(encode_wav_pcm16(stereo, 24000, 2), *reference);
  for (const auto& [format, bits, extensible] :
       std::vector<std::tuple<uint16_t, uint16_t, bool>>{{1, 16, true},
                                                         {1, 24, false},
                                                         {1, 24, true},
                                                         {1, 32, false},
                                                         {1, 32, true},
                                                         {3, 32, true},
                                                         {3, 64, false},
                                                         {3, 64, true},
                                                         {1, 8, false}}) {
    SCOPED_TRACE(std::to_string(format) + "/" + std::to_string(bits) + (extensible ? " extensible" : ""));
    const auto bytes = testing::encode_wav_variant(stereo, 24000, 2, {format, bits, extensible});
    const auto info = parse_wav(bytes);
    ASSERT_TRUE(info);
    EXPECT_EQ(info->format, format);
    EXPECT_EQ(info->frames, stereo.size() / 2);
    ASSERT_TRUE(wav_decodable(*info));
    const auto decoded = wav_samples_float(bytes, *info);
    ASSERT_EQ(decoded.size(), expected.size());
    for (size_t i = 0; i < decoded.size(); ++i) {
      ASSERT_NEAR(decoded[i], expected[i], bits == 8 ? 1.0 / 128 : 1e-7) << "sample " << i;
    }
    if (bits != 8) EXPECT_EQ(wav_mono_pcm16(bytes, *info), expected_mono);
  }
  // 16-bit mono comes back bit for bit through the mono mix.
  const std::vector<int16_t> mono{-32768, -1, 0, 1, 32767};
  const auto mono_bytes = encode_wav_pcm16(mono, 8000);
  EXPECT_EQ(wav_mono_pcm16(mono_bytes, *parse_wav(mono_bytes)), mono);

  auto odd = testing::encode_wav_variant(stereo, 24000, 2, {1, 24, false});
  odd[34] = 12;  // 12 bits per sample
  ASSERT_TRUE(parse_wav(odd));
  EXPECT_FALSE(wav_decodable(*parse_wav(odd)));
  EXPECT_TRUE(wav_samples_float(odd, *parse_wav(odd)).empty());
  auto foreign = testing::encode_wav_variant(stereo, 24000, 2, {1, 16, true});
  foreign[44 + 2] = '\x55';  // a subformat GUID that is not KSDATAFORMAT's
  EXPECT_FALSE(parse_wav(foreign));
}

}  // namespace
}  // namespace gpufleet
