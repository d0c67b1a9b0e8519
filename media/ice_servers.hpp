#pragma once
// The gateway's ICE servers as WHEP tells them to a client (WHIP's RFC 9725, section 4.6, which WHEP adopts):
// one Link header value per server, so that a client behind NAT can use the same STUN and TURN servers
// without configuring them. Pure.

#include <optional>
#include <string>
#include <vector>

namespace gpufleet::media {

// "stun://host:port" → <stun:host:port>; rel="ice-server"
// "turn(s)://user:password@host:port" → <turn(s):host:port>; rel="ice-server"; username="user";
//   credential="password"; credential-type="password"
// nullopt for a server it cannot read (no host, a quote or control character, another scheme).
std::optional<std::string> ice_server_link(const std::string& url);

// Every readable server of `stun_server` and `turn_servers`, in that order.
std::vector<std::string> ice_server_links(const std::string& stun_server,
                                          const std::vector<std::string>& turn_servers);

}  // namespace gpufleet::media
