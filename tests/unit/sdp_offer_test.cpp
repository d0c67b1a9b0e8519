// Guards the WHEP offer check (media/sdp_offer.hpp), the first thing a client's SDP meets: a browser's real
// offer passes with its Opus payload type; bodies that are not SDP, not UTF-8, hold control characters or
// exceed the bounds are refused without echoing them; offers that cannot receive Opus audio over DTLS-SRTP
// with ICE are refused with a message naming what is missing.
#include "media/sdp_offer.hpp"

#include <gtest/gtest.h>

#include <fstream>
#include <regex>
#include <sstream>

namespace gpufleet::media {
namespace {

std::string seed(const std::string& name) {
  std::ifstream in(std::string(GPUFLEET_SOURCE_DIR) + "/fuzz/corpus/sdp_offer/" + name, std::ios::binary);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

std::string refusal(std::string_view body, const OfferLimits& limits = {}) {
  auto checked = check_whep_offer(body, limits);
  if (auto* refused = std::get_if<OfferRefusal>(&checked)) return refused->message;
  return "";
}

TEST(SdpOffer, ABrowsersOfferPasses) {
  const std::string sdp = seed("chromium-audio-video.sdp");
  ASSERT_FALSE(sdp.empty());
  auto checked = check_whep_offer(sdp);
  ASSERT_TRUE(std::holds_alternative<WhepOffer>(checked)) << std::get<OfferRefusal>(checked).message;
  const auto& offer = std::get<WhepOffer>(checked);
  EXPECT_EQ(offer.opus_payload_type, 111);
  EXPECT_EQ(offer.audio_mid, "0");
  EXPECT_TRUE(offer.wants_video);
  EXPECT_EQ(offer.vp8_payload_type, 96);
  EXPECT_EQ(offer.sdp, sdp);
  auto audio_only = check_whep_offer(seed("chromium-audio.sdp"));
  ASSERT_TRUE(std::holds_alternative<WhepOffer>(audio_only));
  EXPECT_FALSE(std::get<WhepOffer>(audio_only).wants_video);
  EXPECT_FALSE(std::get<WhepOffer>(audio_only).vp8_payload_type);
}

// Guards the video section's codec: VP8 is the one video codec a session sends, at the offer's own payload
// type; a video section without VP8 (or with a look-alike clock rate) states none, and the session refuses.
TEST(SdpOffer, TheVp8PayloadTypeIsTheOffersOwnAndOnlyVp8Counts) {
  const std::string sdp = seed("chromium-audio-video.sdp");
  auto moved = check_whep_offer(
      std::regex_replace(sdp, std::regex("a=rtpmap:96 VP8/90000"), "a=rtpmap:96 H264/90000"));
  ASSERT_TRUE(std::holds_alternative<WhepOffer>(moved));
  EXPECT_TRUE(std::get<WhepOffer>(moved).wants_video);
  EXPECT_FALSE(std::get<WhepOffer>(moved).vp8_payload_type);
  auto renumbered = check_whep_offer(
      std::regex_replace(sdp, std::regex("a=rtpmap:96 VP8/90000"), "a=rtpmap:120 vp8/90000"));
  ASSERT_TRUE(std::holds_alternative<WhepOffer>(renumbered));
  EXPECT_EQ(std::get<WhepOffer>(renumbered).vp8_payload_type, 120);
  auto look_alike = check_whep_offer(
      std::regex_replace(sdp, std::regex("a=rtpmap:96 VP8/90000"), "a=rtpmap:96 VP8/900000"));
  ASSERT_TRUE(std::holds_alternative<WhepOffer>(look_alike));
  EXPECT_FALSE(std::get<WhepOffer>(look_alike).vp8_payload_type);
  auto static_type =
      check_whep_offer(std::regex_replace(sdp, std::regex("a=rtpmap:96 VP8/90000"), "a=rtpmap:26 VP8/90000"));
  ASSERT_TRUE(std::holds_alternative<WhepOffer>(static_type));
  EXPECT_FALSE(std::get<WhepOffer>(static_type).vp8_payload_type);
}

TEST(SdpOffer, TheOpusPayloadTypeIsTheOffersOwn) {
  std::string sdp = seed("chromium-audio.sdp");
  sdp = std::regex_replace(sdp, std::regex("a=rtpmap:111 opus"), "a=rtpmap:109 OPUS");
  auto checked = check_whep_offer(sdp);
  ASSERT_TRUE(std::holds_alternative<WhepOffer>(checked));
  EXPECT_EQ(std::get<WhepOffer>(checked).opus_payload_type, 109);
}

TEST(SdpOffer, WhatIsNotSdpIsRefusedWithoutEchoingIt) {
  EXPECT_NE(refusal(""), "");
  EXPECT_NE(refusal("hello <script>"), "");
  EXPECT_EQ(refusal("hello <script>").find("<script>"), std::string::npos);
  EXPECT_NE(refusal("v=1\r\n"), "");
  EXPECT_NE(refusal("v=0\r\nX=1\r\n"), "");
  EXPECT_NE(refusal(std::string("v=0\r\ns=\0\r\n", 9)), "");  // NUL
  EXPECT_EQ(refusal("v=0\r\ns=\x1b[31m\r\n"), "line 2 holds a control character");
  EXPECT_EQ(refusal("v=0\r\ns=\xff\xfe\r\n"), "the offer is not UTF-8");
}

TEST(SdpOffer, BoundsAreEnforced) {
  const std::string sdp = seed("chromium-audio.sdp");
  OfferLimits small;
  small.max_bytes = 100;
  EXPECT_EQ(refusal(sdp, small), "the offer is larger than 100 bytes");
  OfferLimits few_lines;
  few_lines.max_lines = 5;
  EXPECT_EQ(refusal(sdp, few_lines), "the offer has more than 5 lines");
  EXPECT_EQ(refusal("v=0\r\ns=" + std::string(5000, 'x') + "\r\n"), "line 2 is too long");
  std::string many = "v=0\r\n";
  for (int i = 0; i < 20; ++i) many += "m=audio 9 UDP/TLS/RTP/SAVPF 111\r\n";
  EXPECT_EQ(refusal(many), "the offer has more than 16 media sections");
}

TEST(SdpOffer, OffersThatCannotReceiveOpusAudioAreRefused) {
  const std::string sdp = seed("chromium-audio.sdp");
  auto without = [&](const std::string& pattern, const std::string& replacement = "") {
    return refusal(std::regex_replace(sdp, std::regex(pattern), replacement));
  };
  EXPECT_NE(without("m=audio", "m=video").find("no audio section"), std::string::npos);
  EXPECT_NE(refusal(seed("lf-sendonly.sdp")).find("no audio section that receives"), std::string::npos);
  EXPECT_NE(without("a=recvonly", "a=inactive").find("no audio section"), std::string::npos);
  EXPECT_NE(without("m=audio 9", "m=audio 0").find("no audio section"), std::string::npos);
  EXPECT_NE(without("a=rtpmap:111 opus/48000/2\r\n").find("Opus"), std::string::npos);
  EXPECT_NE(without("UDP/TLS/RTP/SAVPF", "RTP/AVP").find("DTLS-SRTP"), std::string::npos);
  EXPECT_NE(without("a=ice-pwd:[^\r]*\r\n").find("ICE credentials"), std::string::npos);
  EXPECT_NE(without("a=fingerprint:[^\r]*\r\n").find("fingerprint"), std::string::npos);
  // A payload type outside the dynamic range is not taken for Opus.
  EXPECT_NE(without("a=rtpmap:111 opus", "a=rtpmap:11 opus").find("Opus"), std::string::npos);
}

}  // namespace
}  // namespace gpufleet::media
