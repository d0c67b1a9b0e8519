// Guards the trickle ICE fragment check (media/ice_fragment.hpp), what a PATCH body meets before the ICE
// agent: a browser's fragment passes with its credentials and each candidate under its mid; lines that are
// not SDP, not UTF-8, hold control characters, or candidates that are not well formed are refused without
// echoing them; the bounds hold.
#include "media/ice_fragment.hpp"

#include <gtest/gtest.h>

namespace gpufleet::media {
namespace {

std::string refusal(std::string_view body, const FragmentLimits& limits = {}) {
  auto parsed = parse_ice_fragment(body, limits);
  if (auto* refused = std::get_if<FragmentRefusal>(&parsed)) return refused->message;
  return "";
}

constexpr std::string_view kBrowserFragment =
    "a=ice-ufrag:EsAw\r\n"
    "a=ice-pwd:P2uYro0UCOQ4zxjKXaWCBui1\r\n"
    "m=audio 9 UDP/TLS/RTP/SAVPF 0\r\n"
    "a=mid:0\r\n"
    "a=candidate:1387637174 1 udp 2122260223 192.0.2.1 61764 typ host generation 0 ufrag EsAw network-id "
    "1\r\n"
    "a=candidate:3471623853 1 udp 2122194687 198.51.100.2 61765 typ srflx raddr 10.0.0.1 rport 61765\r\n"
    "a=end-of-candidates\r\n";

TEST(IceFragment, ABrowsersFragmentPasses) {
  auto parsed = parse_ice_fragment(kBrowserFragment);
  ASSERT_TRUE(std::holds_alternative<IceFragment>(parsed)) << std::get<FragmentRefusal>(parsed).message;
  const auto& fragment = std::get<IceFragment>(parsed);
  EXPECT_EQ(fragment.ufrag, "EsAw");
  EXPECT_EQ(fragment.pwd, "P2uYro0UCOQ4zxjKXaWCBui1");
  ASSERT_EQ(fragment.candidates.size(), 2u);
  EXPECT_EQ(fragment.candidates[0].mid, "0");
  EXPECT_EQ(fragment.candidates[0].candidate.substr(0, 21), "candidate:1387637174 ");
  EXPECT_TRUE(fragment.end_of_candidates);
  // A fragment of nothing but the end (or nothing at all) is valid: there is nothing to add.
  auto end_only = parse_ice_fragment("a=end-of-candidates\r\n");
  ASSERT_TRUE(std::holds_alternative<IceFragment>(end_only));
  EXPECT_TRUE(std::get<IceFragment>(end_only).candidates.empty());
  EXPECT_TRUE(std::holds_alternative<IceFragment>(parse_ice_fragment("")));
}

TEST(IceFragment, CandidatesThatAreNotWellFormedAreRefused) {
  for (const char* bad : {"a=candidate:1 1 udp 2122260223 192.0.2.1 61764 host",       // no "typ"
                          "a=candidate:1 1 udp 2122260223 192.0.2.1 99999 typ host",   // port
                          "a=candidate:1 1 udp 99999999999 192.0.2.1 61764 typ host",  // priority
                          "a=candidate:1 x udp 2122260223 192.0.2.1 61764 typ host",   // component
                          "a=candidate:1 1 udp 2122260223 192.0.2.1 61764 typ other",  // type
                          "a=candidate:"}) {
    EXPECT_NE(refusal(bad).find("not a well-formed ICE candidate"), std::string::npos) << bad;
  }
  EXPECT_NE(refusal("a=ice-ufrag:\r\n").find("ice-ufrag"), std::string::npos);
}

TEST(IceFragment, WhatIsNotSdpIsRefusedWithoutEchoingIt) {
  EXPECT_EQ(refusal("hello <script>"), "line 1 is not an SDP line (<letter>=<value>)");
  EXPECT_EQ(refusal(std::string("a=mid:0\r\na=\x01x\r\n", 14)), "line 2 holds a control character");
  EXPECT_EQ(refusal(std::string("a=mid:\xff\xfe", 8)), "the fragment is not UTF-8");
}

TEST(IceFragment, BoundsAreEnforced) {
  FragmentLimits limits;
  limits.max_candidates = 1;
  EXPECT_NE(refusal(kBrowserFragment, limits).find("more than 1 candidates"), std::string::npos);
  EXPECT_NE(refusal(std::string(20000, 'a')).find("larger than"), std::string::npos);
  std::string many;
  for (int i = 0; i < 300; ++i) many += "a=mid:0\r\n";
  EXPECT_NE(refusal(many).find("more than 200 lines"), std::string::npos);
  EXPECT_NE(refusal("a=mid:" + std::string(2000, 'x')).find("too long"), std::string::npos);
}

}  // namespace
}  // namespace gpufleet::media
