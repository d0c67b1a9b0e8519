#pragma once
// A WHEP client's SDP offer (WHEP, draft-ietf-wish-whep: the body of POST .../whep), checked before any
// WebRTC machinery sees it: bounded in size and lines, UTF-8 without control characters, and holding what an
// egress session needs (an audio section that may receive, Opus at 48 kHz, ICE credentials and a DTLS
// fingerprint; for video, a video section that may receive VP8). Pure: tested and fuzzed without GStreamer.

#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace gpufleet::media {

// Bounds of an offer. A browser's offer is 2-6 KiB; 64 KiB leaves room for many candidates.
struct OfferLimits {
  size_t max_bytes = 64 << 10;
  size_t max_lines = 2000;
  size_t max_line_bytes = 4096;
  size_t max_media_sections = 16;
};

// What the session needs from the offer.
struct WhepOffer {
  std::string sdp;              // the offer, as sent (lines end in CRLF or LF)
  int opus_payload_type = 111;  // the dynamic payload type the offer gave "opus/48000/2"
  std::string audio_mid;        // the audio section's a=mid, if any
  bool wants_video = false;     // the offer also has a video section that may receive
  // The dynamic payload type that section gave "VP8/90000" (the one video codec sessions send); none when
  // it offers no VP8, or when there is no such section.
  std::optional<int> vp8_payload_type;
  bool has_data_channel = false;  // the offer has an SCTP data channel section (m=application)
  std::string ice_ufrag;          // the audio section's ICE username fragment (or the session's)
  std::vector<std::string> mids;  // each m= section's a=mid, in order (empty where it has none)
};

// Why an offer is refused; `message` names the line or the missing part, never echoes the body.
struct OfferRefusal {
  std::string message;
};

std::variant<WhepOffer, OfferRefusal> check_whep_offer(std::string_view body, const OfferLimits& limits = {});

}  // namespace gpufleet::media
