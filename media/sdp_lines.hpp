#pragma once
// The lines of an SDP body or fragment from a client, one at a time, each checked as SDP has them before
// anything reads it: at most so many lines of so many bytes, no control characters, "<letter>=<value>". CRLF
// or LF endings; blank lines are skipped (SDP has none, but clients are forgiving). Refusals name the line,
// never echo it. Pure.

#include <optional>
#include <string>
#include <string_view>

namespace gpufleet::media {

class SdpLines {
 public:
  struct Line {
    char type;               // the letter before '='
    std::string_view value;  // what follows "<letter>="
    size_t number;           // from 1, blank lines counted
  };

  // `what` names the body in refusals ("offer", "fragment").
  SdpLines(std::string_view body, std::string_view what, size_t max_lines, size_t max_line_bytes)
      : rest_(body), what_(what), max_lines_(max_lines), max_line_bytes_(max_line_bytes) {}

  // The next line; nothing at the end, or at a line that breaks the rules (refusal() then says why).
  std::optional<Line> next();
  const std::optional<std::string>& refusal() const { return refusal_; }

 private:
  std::string_view rest_;
  std::string_view what_;
  size_t max_lines_, max_line_bytes_;
  size_t number_ = 0;
  std::optional<std::string> refusal_;
};

}  // namespace gpufleet::media
