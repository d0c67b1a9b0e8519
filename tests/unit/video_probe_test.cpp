// Guards the upload check of videos: the container, tracks, size and duration read from MP4/MOV boxes and
// WebM elements as the headers state them, and refusal (not a crash, not a walk past the bytes) of truncated,
// lying and foreign files.
#include "common/video_probe.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <string>

namespace gpufleet {
namespace {

std::string be(uint64_t value, int bytes) {
  std::string out;
  for (int i = bytes - 1; i >= 0; --i) out.push_back(static_cast<char>((value >> (8 * i)) & 0xFF));
  return out;
}

std::string box(const std::string& type, const std::string& body) {
  return be(body.size() + 8, 4) + type + body;
}

std::string track(const char* handler, uint32_t width, uint32_t height) {
  // tkhd version 0: flags, times, id, reserved, duration, 8 reserved, layer/group/volume/reserved, matrix.
  const std::string tkhd = std::string(4 + 4 + 4 + 4 + 4 + 4, '\0') + std::string(52, '\0') +
                           be(uint64_t{width} << 16, 4) + be(uint64_t{height} << 16, 4);
  const std::string hdlr = std::string(8, '\0') + handler + std::string(12, '\0');
  return box("trak", box("tkhd", tkhd) + box("mdia", box("hdlr", hdlr)));
}

std::string mp4(const std::string& brand, uint32_t timescale, uint32_t duration, const std::string& tracks) {
  const std::string mvhd =
      std::string(4 + 4 + 4, '\0') + be(timescale, 4) + be(duration, 4) + std::string(80, '\0');
  return box("ftyp", brand + be(0, 4) + "isom") + box("mdat", std::string(100, 'x')) +
         box("moov", box("mvhd", mvhd) + tracks);
}

TEST(VideoProbe, ReadsAnMp4sTracksSizeAndDuration) {
  const auto header = probe_video(mp4("isom", 1000, 2500, track("vide", 640, 360) + track("soun", 0, 0)));
  ASSERT_TRUE(header);
  EXPECT_EQ(header->container, VideoContainer::kMp4);
  EXPECT_TRUE(header->has_video);
  EXPECT_TRUE(header->has_audio);
  EXPECT_EQ(header->width, 640u);
  EXPECT_EQ(header->height, 360u);
  ASSERT_TRUE(header->duration_s);
  EXPECT_DOUBLE_EQ(*header->duration_s, 2.5);
  EXPECT_STREQ(video_extension(header->container), "mp4");
}

TEST(VideoProbe, TellsQuickTimeAndAudioOnlyFiles) {
  const auto mov = probe_video(mp4("qt  ", 600, 600, track("vide", 320, 240)));
  ASSERT_TRUE(mov);
  EXPECT_EQ(mov->container, VideoContainer::kQuickTime);
  EXPECT_STREQ(video_content_type(mov->container), "video/quicktime");
  const auto sound = probe_video(mp4("M4A ", 44100, 44100, track("soun", 0, 0)));
  ASSERT_TRUE(sound);
  EXPECT_FALSE(sound->has_video) << "an audio-only MP4 is no video";
}

TEST(VideoProbe, AFragmentedMovieHeaderStatesNoDuration) {
  const auto header = probe_video(mp4("iso6", 1000, 0, track("vide", 64, 64)));
  ASSERT_TRUE(header);
  EXPECT_FALSE(header->duration_s);
}

TEST(VideoProbe, RefusesTruncatedLyingAndForeignFiles) {
  const std::string good = mp4("isom", 1000, 1000, track("vide", 64, 64));
  ASSERT_TRUE(probe_video(good));
  // Cut inside the last box (a download that stopped): the box runs past the bytes.
  EXPECT_FALSE(probe_video(good.substr(0, good.size() - 10)));
  // A box that says it is larger than the file.
  std::string lying = good;
  lying.replace(0, 4, be(0x7FFFFFFF, 4));
  EXPECT_FALSE(probe_video(lying));
  // A 64-bit size past the end, and one smaller than its own header.
  EXPECT_FALSE(probe_video(be(1, 4) + "ftyp" + be(~uint64_t{0}, 8) + "isom"));
  EXPECT_FALSE(probe_video(be(4, 4) + "ftypisom0000"));
  // No movie box at all, only media data.
  EXPECT_FALSE(probe_video(box("ftyp", "isom" + be(0, 4)) + box("mdat", "x")));
  EXPECT_FALSE(probe_video(""));
  EXPECT_FALSE(probe_video("RIFF....WAVEfmt "));
  EXPECT_FALSE(probe_video(std::string("\x89PNG\r\n\x1a\n", 8)));
}

TEST(VideoProbe, ManyEmptyBoxesAreRefusedNotWalkedForever) {
  std::string boxes;
  for (int i = 0; i < 100000; ++i) boxes += box("free", "");
  EXPECT_FALSE(probe_video(box("ftyp", "isom" + be(0, 4)) + boxes + box("moov", "")));
}

// EBML: an id as written, then a size with its length marker.
std::string element(uint32_t id, const std::string& body) {
  std::string out;
  const int id_bytes = id > 0xFFFFFF ? 4 : id > 0xFFFF ? 3 : id > 0xFF ? 2 : 1;
  out += be(id, id_bytes);
  out += be((uint64_t{1} << 56) | body.size(), 8);  // an 8-byte size
  return out + body;
}

std::string webm(const std::string& doc_type, const std::string& segment_body) {
  return element(0x1A45DFA3, element(0x4282, doc_type)) + element(0x18538067, segment_body);
}

std::string webm_tracks(uint32_t width, uint32_t height) {
  const std::string video = element(0xB0, be(width, 2)) + element(0xBA, be(height, 2));
  return element(0x1654AE6B, element(0xAE, element(0x83, be(1, 1)) + element(0xE0, video)) +
                                 element(0xAE, element(0x83, be(2, 1))));
}

std::string float64(double value) {
  uint64_t bits = 0;
  std::memcpy(&bits, &value, 8);
  return be(bits, 8);
}

TEST(VideoProbe, ReadsAWebmsTracksSizeAndDuration) {
  const std::string info =
      element(0x1549A966, element(0x2AD7B1, be(1000000, 4)) + element(0x4489, float64(3250)));
  const auto header =
      probe_video(webm("webm", info + webm_tracks(1280, 720) + element(0x1F43B675, "frames")));
  ASSERT_TRUE(header);
  EXPECT_EQ(header->container, VideoContainer::kWebm);
  EXPECT_TRUE(header->has_video);
  EXPECT_TRUE(header->has_audio);
  EXPECT_EQ(header->width, 1280u);
  EXPECT_EQ(header->height, 720u);
  ASSERT_TRUE(header->duration_s);
  EXPECT_DOUBLE_EQ(*header->duration_s, 3.25);
}

// Guards the fuzzer's find: a positive but tiny duration times a tiny timestamp scale underflowed to 0 s,
// and an enormous scale overflowed to infinity; either is "no stated duration", never a 0 or inf.
TEST(VideoProbe, AWebmDurationThatUnderflowsOrOverflowsStatesNone) {
  const auto with = [](uint64_t scale, double ticks) {
    const std::string info =
        element(0x1549A966, element(0x2AD7B1, be(scale, 8)) + element(0x4489, float64(ticks)));
    return probe_video(webm("webm", info + webm_tracks(64, 64)));
  };
  const auto tiny = with(1'000'000, 5e-323);  // the bit pattern 0x...0B the fuzzer found
  ASSERT_TRUE(tiny);
  EXPECT_FALSE(tiny->duration_s);
  const auto huge = with(~uint64_t{0}, 9.9e17);
  ASSERT_TRUE(huge);
  ASSERT_TRUE(huge->duration_s);
  EXPECT_TRUE(std::isfinite(*huge->duration_s));
  const auto normal = with(1'000'000, 1500);
  ASSERT_TRUE(normal && normal->duration_s);
  EXPECT_DOUBLE_EQ(*normal->duration_s, 1.5);
}

TEST(VideoProbe, RefusesOtherEbmlDocumentsAndBrokenElements) {
  EXPECT_FALSE(probe_video(webm("matroska", webm_tracks(64, 64))));
  const std::string good = webm("webm", webm_tracks(64, 64));
  ASSERT_TRUE(probe_video(good));
  EXPECT_FALSE(probe_video(good.substr(0, good.size() - 3)));
  // A zero first byte is no valid id or size.
  EXPECT_FALSE(probe_video(std::string("\x1A\x45\xDF\xA3\x00", 5)));
  // A segment with no tracks declares no video.
  const auto empty = probe_video(webm("webm", ""));
  ASSERT_TRUE(empty);
  EXPECT_FALSE(empty->has_video);
}

}  // namespace
}  // namespace gpufleet
