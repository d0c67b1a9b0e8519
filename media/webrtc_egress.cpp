// What both builds of WebrtcEgress share (webrtc_egress_gst.cpp, webrtc_egress_off.cpp).

#include "media/webrtc_egress.hpp"

namespace gpufleet::media {

std::string_view to_string(SessionEnd end) {
  switch (end) {
    case SessionEnd::kPlayed:
      return "played";
    case SessionEnd::kDeleted:
      return "deleted";
    case SessionEnd::kIceFailed:
      return "ice_failed";
    case SessionEnd::kConnectTimeout:
      return "connect_timeout";
    case SessionEnd::kPeerGone:
      return "peer_gone";
    case SessionEnd::kTooLong:
      return "too_long";
    case SessionEnd::kSourceFailed:
      return "source_failed";
    case SessionEnd::kOverflow:
      return "overflow";
    case SessionEnd::kShutdown:
      return "shutdown";
  }
  return "unknown";
}

}  // namespace gpufleet::media
