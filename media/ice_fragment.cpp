#include "media/ice_fragment.hpp"

#include <charconv>

#include "common/utf8.hpp"
#include "media/sdp_lines.hpp"

namespace gpufleet::media {

namespace {

std::vector<std::string_view> words(std::string_view text) {
  std::vector<std::string_view> out;
  size_t at = 0;
  while (at < text.size()) {
    const auto end = std::min(text.find(' ', at), text.size());
    if (end > at) out.push_back(text.substr(at, end - at));
    at = end + 1;
  }
  return out;
}

bool number(std::string_view text, uint64_t max) {
  uint64_t value = 0;
  auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
  return error == std::errc() && end == text.data() + text.size() && value <= max;
}

// RFC 8839's candidate-attribute, its fixed part: foundation, component (1-256), transport, priority (32
// bits), address, port, "typ" and a type. Extensions may follow.
bool well_formed_candidate(std::string_view value) {
  const auto parts = words(value);
  if (parts.size() < 8) return false;
  if (parts[0].empty() || parts[0].size() > 32) return false;
  if (!number(parts[1], 256) || !number(parts[3], 0xFFFFFFFFu) || !number(parts[5], 65535)) return false;
  if (parts[4].empty() || parts[4].size() > 255) return false;
  if (parts[6] != "typ") return false;
  return parts[7] == "host" || parts[7] == "srflx" || parts[7] == "prflx" || parts[7] == "relay";
}

}  // namespace

std::variant<IceFragment, FragmentRefusal> parse_ice_fragment(std::string_view body,
                                                              const FragmentLimits& limits) {
  if (body.size() > limits.max_bytes)
    return FragmentRefusal{"the fragment is larger than " + std::to_string(limits.max_bytes) + " bytes"};
  if (!utf8_valid(body)) return FragmentRefusal{"the fragment is not UTF-8"};
  IceFragment fragment;
  std::string mid;
  SdpLines lines(body, "fragment", limits.max_lines, limits.max_line_bytes);
  while (auto line = lines.next()) {
    const auto where = "line " + std::to_string(line->number);
    const std::string_view value = line->value;
    if (line->type == 'm') {
      mid.clear();  // a new section: its own a=mid follows
      continue;
    }
    if (line->type != 'a') continue;
    const auto colon = value.find(':');
    const auto name = value.substr(0, colon);
    const auto argument = colon == std::string_view::npos ? std::string_view() : value.substr(colon + 1);
    if (name == "ice-ufrag") {
      if (argument.empty() || argument.size() > 256) return FragmentRefusal{where + ": a bad ice-ufrag"};
      fragment.ufrag = std::string(argument);
    } else if (name == "ice-pwd") {
      if (argument.empty() || argument.size() > 256) return FragmentRefusal{where + ": a bad ice-pwd"};
      fragment.pwd = std::string(argument);
    } else if (name == "mid") {
      if (argument.empty() || argument.size() > 64) return FragmentRefusal{where + ": a bad mid"};
      mid = std::string(argument);
    } else if (name == "candidate") {
      if (!well_formed_candidate(argument))
        return FragmentRefusal{where + " is not a well-formed ICE candidate"};
      if (fragment.candidates.size() >= limits.max_candidates)
        return FragmentRefusal{"the fragment has more than " + std::to_string(limits.max_candidates) +
                               " candidates"};
      fragment.candidates.push_back({mid, std::string(value)});
    } else if (name == "end-of-candidates") {
      fragment.end_of_candidates = true;
    }
  }
  if (lines.refusal()) return FragmentRefusal{*lines.refusal()};
  return fragment;
}

}  // namespace gpufleet::media
