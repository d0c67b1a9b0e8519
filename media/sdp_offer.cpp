#include "media/sdp_offer.hpp"

#include <charconv>
#include <vector>

#include "common/utf8.hpp"
#include "media/sdp_lines.hpp"

namespace gpufleet::media {

namespace {

bool starts_with(std::string_view text, std::string_view prefix) {
  return text.substr(0, prefix.size()) == prefix;
}

// One m= section (or the session part before the first): the attributes an egress session looks at.
struct Section {
  std::string_view kind;  // "audio", "video", "application"; empty for the session part
  std::string_view protocol;
  bool port_zero = false;  // rejected section
  std::string_view direction = "sendrecv";
  std::optional<int> opus_payload_type;
  std::optional<int> vp8_payload_type;
  std::string_view mid;
  std::string_view ice_ufrag;
  bool ice_pwd = false, fingerprint = false;
};

// "a=rtpmap:111 opus/48000/2" → 111 when the codec's name and clock start with `codec` ("opus/48000").
std::optional<int> rtpmap_of(std::string_view value, std::string_view codec_prefix) {
  const auto space = value.find(' ');
  if (space == std::string_view::npos) return std::nullopt;
  int payload_type = -1;
  const auto digits = value.substr(0, space);
  auto [end, error] = std::from_chars(digits.data(), digits.data() + digits.size(), payload_type);
  if (error != std::errc() || end != digits.data() + digits.size()) return std::nullopt;
  if (payload_type < 96 || payload_type > 127) return std::nullopt;  // dynamic types only
  std::string codec(value.substr(space + 1));
  for (auto& c : codec) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  // The name and clock rate exactly; channels may follow ("opus/48000/2").
  if (!starts_with(codec, codec_prefix)) return std::nullopt;
  if (codec.size() > codec_prefix.size() && codec[codec_prefix.size()] != '/') return std::nullopt;
  return payload_type;
}

}  // namespace

std::variant<WhepOffer, OfferRefusal> check_whep_offer(std::string_view body, const OfferLimits& limits) {
  if (body.empty()) return OfferRefusal{"the offer is empty: send an SDP offer as application/sdp"};
  if (body.size() > limits.max_bytes)
    return OfferRefusal{"the offer is larger than " + std::to_string(limits.max_bytes) + " bytes"};
  if (!utf8_valid(body)) return OfferRefusal{"the offer is not UTF-8"};

  std::vector<Section> sections(1);
  SdpLines lines(body, "offer", limits.max_lines, limits.max_line_bytes);
  size_t line_count = 0;
  while (auto line = lines.next()) {
    ++line_count;
    if (line->number == 1 && !(line->type == 'v' && line->value == "0"))
      return OfferRefusal{"an SDP offer starts with v=0"};
    const char type = line->type;
    const std::string_view value = line->value;
    const auto where = "line " + std::to_string(line->number);
    if (type == 'm') {
      if (sections.size() > limits.max_media_sections)
        return OfferRefusal{"the offer has more than " + std::to_string(limits.max_media_sections) +
                            " media sections"};
      // m=<media> <port> <proto> <fmt> ...
      Section section;
      const auto first = value.find(' ');
      const auto second = first == std::string_view::npos ? first : value.find(' ', first + 1);
      const auto third = second == std::string_view::npos ? second : value.find(' ', second + 1);
      if (third == std::string_view::npos)
        return OfferRefusal{where + ": m= needs a media, port, protocol and format"};
      section.kind = value.substr(0, first);
      section.port_zero = value.substr(first + 1, second - first - 1) == "0";
      section.protocol = value.substr(second + 1, third - second - 1);
      section.direction = sections.front().direction;  // the session-level direction, unless overridden
      sections.push_back(section);
      continue;
    }
    if (type != 'a') continue;
    Section& section = sections.back();
    const auto colon = value.find(':');
    const auto name = value.substr(0, colon);
    const auto argument = colon == std::string_view::npos ? std::string_view() : value.substr(colon + 1);
    if (name == "sendrecv" || name == "sendonly" || name == "recvonly" || name == "inactive") {
      section.direction = name;
    } else if (name == "rtpmap") {
      if (!section.opus_payload_type) section.opus_payload_type = rtpmap_of(argument, "opus/48000");
      if (!section.vp8_payload_type) section.vp8_payload_type = rtpmap_of(argument, "vp8/90000");
    } else if (name == "mid") {
      section.mid = argument;
    } else if (name == "ice-ufrag") {
      section.ice_ufrag = argument;
    } else if (name == "ice-pwd") {
      section.ice_pwd = !argument.empty();
    } else if (name == "fingerprint") {
      section.fingerprint = !argument.empty();
    }
  }
  if (lines.refusal()) return OfferRefusal{*lines.refusal()};
  if (line_count == 0) return OfferRefusal{"the offer is empty: send an SDP offer as application/sdp"};

  const Section& session = sections.front();
  WhepOffer offer;
  const Section* audio = nullptr;
  for (size_t i = 1; i < sections.size(); ++i) {
    const Section& section = sections[i];
    if (section.kind == "application" && !section.port_zero &&
        section.protocol.find("SCTP") != std::string_view::npos)
      offer.has_data_channel = true;
    const bool receives = section.direction == "recvonly" || section.direction == "sendrecv";
    if (section.port_zero || !receives) continue;
    if (section.kind == "audio" && !audio) audio = &section;
    if (section.kind == "video" && !offer.wants_video) {
      offer.wants_video = true;
      offer.vp8_payload_type = section.vp8_payload_type;
    }
  }
  if (!audio)
    return OfferRefusal{"the offer has no audio section that receives (m=audio, recvonly or sendrecv)"};
  if (audio->protocol != "UDP/TLS/RTP/SAVPF" && audio->protocol != "UDP/TLS/RTP/SAVP")
    return OfferRefusal{"the audio section's protocol is not DTLS-SRTP (UDP/TLS/RTP/SAVPF)"};
  if (!audio->opus_payload_type) return OfferRefusal{"the audio section does not offer Opus at 48 kHz"};
  if ((audio->ice_ufrag.empty() && session.ice_ufrag.empty()) || !(audio->ice_pwd || session.ice_pwd))
    return OfferRefusal{"the offer has no ICE credentials (a=ice-ufrag, a=ice-pwd)"};
  if (!(audio->fingerprint || session.fingerprint))
    return OfferRefusal{"the offer has no DTLS fingerprint (a=fingerprint)"};
  offer.opus_payload_type = *audio->opus_payload_type;
  offer.audio_mid = std::string(audio->mid);
  offer.ice_ufrag = std::string(audio->ice_ufrag.empty() ? session.ice_ufrag : audio->ice_ufrag);
  for (size_t i = 1; i < sections.size(); ++i) offer.mids.emplace_back(sections[i].mid);
  offer.sdp = std::string(body);
  return offer;
}

}  // namespace gpufleet::media
