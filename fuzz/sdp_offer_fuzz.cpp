// Fuzz target: a WHEP client's SDP offer (the body of POST /v1/jobs/{id}/whep, from anyone with a key).
// Either a clean refusal whose message never echoes the body's bytes, or an offer whose audio payload type is
// a dynamic one and whose SDP is the input itself.
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "common/utf8.hpp"
#include "media/ice_fragment.hpp"
#include "media/sdp_offer.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view body(reinterpret_cast<const char*>(data), size);
  auto checked = gpufleet::media::check_whep_offer(body);
  if (auto* offer = std::get_if<gpufleet::media::WhepOffer>(&checked)) {
    if (offer->opus_payload_type < 96 || offer->opus_payload_type > 127) std::abort();
    if (offer->vp8_payload_type && (*offer->vp8_payload_type < 96 || *offer->vp8_payload_type > 127))
      std::abort();
    if (offer->vp8_payload_type && !offer->wants_video) std::abort();
    if (offer->sdp != body) std::abort();
    if (!gpufleet::utf8_valid(offer->audio_mid)) std::abort();
  } else {
    const auto& message = std::get<gpufleet::media::OfferRefusal>(checked).message;
    if (message.empty() || message.size() > 200 || !gpufleet::utf8_valid(message)) std::abort();
  }
  // The same bytes as a trickle ICE fragment (PATCH /v1/whep/{session}).
  auto fragment = gpufleet::media::parse_ice_fragment(body);
  if (auto* parsed = std::get_if<gpufleet::media::IceFragment>(&fragment)) {
    if (parsed->candidates.size() > 64) std::abort();
    for (const auto& candidate : parsed->candidates) {
      if (candidate.candidate.rfind("candidate:", 0) != 0 || !gpufleet::utf8_valid(candidate.candidate))
        std::abort();
    }
  } else if (std::get<gpufleet::media::FragmentRefusal>(fragment).message.empty()) {
    std::abort();
  }
  return 0;
}
