// Guards the Link headers that tell WHEP clients the gateway's ICE servers: STUN and TURN (with its
// credentials, as WHIP's RFC 9725 has them and WHEP adopts them) in the configured order; a server that
// cannot be written as a header value safely (quotes, separators, control characters, no credentials) is left
// out rather than mangled.
#include "media/ice_servers.hpp"

#include <gtest/gtest.h>

namespace gpufleet::media {
namespace {

TEST(IceServers, StunAndTurnBecomeLinkValues) {
  EXPECT_EQ(ice_server_link("stun://stun.example.net:3478"),
            "<stun:stun.example.net:3478>; rel=\"ice-server\"");
  EXPECT_EQ(ice_server_link("turn://gpufleet:s3cret@203.0.113.10:3478"),
            "<turn:203.0.113.10:3478>; rel=\"ice-server\"; username=\"gpufleet\"; credential=\"s3cret\"; "
            "credential-type=\"password\"");
  EXPECT_EQ(ice_server_link("turns://u:p@turn.example.net:5349")->substr(0, 31),
            "<turns:turn.example.net:5349>; ");
  const auto links = ice_server_links("stun://a:1", {"turn://u:p@b:2", "bogus", "turn://u:p@c:3"});
  ASSERT_EQ(links.size(), 3u);
  EXPECT_EQ(links[0].substr(0, 9), "<stun:a:1");
  EXPECT_EQ(links[2].substr(0, 9), "<turn:c:3");
  EXPECT_TRUE(ice_server_links("", {}).empty());
}

TEST(IceServers, WhatCannotBeAHeaderValueIsLeftOut) {
  for (const char* url : {"", "stun:", "stun://", "http://x:1", "turn://host:3478", "turn://user@host:3478",
                          "turn://u:p\"; rel=evil@host:1", "stun://a\r\nSet-Cookie: x", "stun://a b",
                          "turn://u:p@host,<stun:evil>", "stun://u:p@host"}) {
    EXPECT_FALSE(ice_server_link(url).has_value()) << url;
  }
}

}  // namespace
}  // namespace gpufleet::media
