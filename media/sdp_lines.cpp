#include "media/sdp_lines.hpp"

namespace gpufleet::media {

std::optional<SdpLines::Line> SdpLines::next() {
  while (!rest_.empty() && !refusal_) {
    const auto end = std::min(rest_.find('\n'), rest_.size());
    std::string_view line = rest_.substr(0, end);
    rest_.remove_prefix(std::min(end + 1, rest_.size()));
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    const auto where = "line " + std::to_string(++number_);
    if (number_ > max_lines_) {
      refusal_ = "the " + std::string(what_) + " has more than " + std::to_string(max_lines_) + " lines";
    } else if (line.size() > max_line_bytes_) {
      refusal_ = where + " is too long";
    } else if (line.empty()) {
      continue;
    } else {
      for (char c : line) {
        const auto byte = static_cast<unsigned char>(c);
        if ((byte < 0x20 && c != '\t') || byte == 0x7F) refusal_ = where + " holds a control character";
      }
      if (!refusal_ && (line.size() < 2 || line[1] != '=' || line[0] < 'a' || line[0] > 'z'))
        refusal_ = where + " is not an SDP line (<letter>=<value>)";
      if (!refusal_) return Line{line[0], line.substr(2), number_};
    }
  }
  return std::nullopt;
}

}  // namespace gpufleet::media
