// WebrtcEgress in a build without WebRTC (GPUFLEET_WEBRTC=OFF, or GStreamer's WebRTC headers not found):
// every open is refused as unavailable, so the gateway answers 503 with the reason.

#include "media/webrtc_egress.hpp"

namespace gpufleet::media {

struct WebrtcEgress::Impl {};

WebrtcEgress::WebrtcEgress(WebrtcConfig, EndCallback) {}
WebrtcEgress::~WebrtcEgress() = default;

std::optional<std::string> WebrtcEgress::unavailable() const {
  return "this gateway was built without WebRTC (GPUFLEET_WEBRTC=OFF or GStreamer's WebRTC library missing)";
}

void WebrtcEgress::open(WhepOffer, SessionOptions, std::function<void(OpenResult)> done) {
  done(EgressRefusal{EgressRefusal::Reason::kUnavailable, *unavailable()});
}

bool WebrtcEgress::close(const std::string&) {
  return false;
}

TrickleVerdict WebrtcEgress::add_candidates(const std::string&, const IceFragment&) {
  return TrickleVerdict::kNoSession;
}
size_t WebrtcEgress::open_sessions() const {
  return 0;
}

}  // namespace gpufleet::media
