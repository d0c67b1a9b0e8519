#pragma once
// A trickle ICE fragment (RFC 8840's application/trickle-ice-sdpfrag: the body of PATCH /v1/whep/{session},
// as WHIP, RFC 9725, section 4.3.1, has it and WHEP adopts it): the client's ICE credentials and the
// candidates it gathered after its offer, checked before they reach the ICE agent: bounded, UTF-8 without
// control characters, each candidate line well formed. Pure: tested and fuzzed without GStreamer.

#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace gpufleet::media {

struct FragmentLimits {
  size_t max_bytes = 16 << 10;
  size_t max_lines = 200;
  size_t max_line_bytes = 1024;
  size_t max_candidates = 64;
};

struct RemoteCandidate {
  std::string mid;  // the a=mid of the m= section it follows; empty without one
  std::string
      candidate;  // "candidate:<foundation> <component> <transport> <priority> <address> <port> typ ..."
};

struct IceFragment {
  std::optional<std::string> ufrag;  // a=ice-ufrag: a different one than the offer's asks for an ICE restart
  std::optional<std::string> pwd;
  std::vector<RemoteCandidate> candidates;
  bool end_of_candidates = false;
};

// Why a fragment is refused; `message` names the line or the part, never echoes the body.
struct FragmentRefusal {
  std::string message;
};

std::variant<IceFragment, FragmentRefusal> parse_ice_fragment(std::string_view body,
                                                              const FragmentLimits& limits = {});

}  // namespace gpufleet::media
