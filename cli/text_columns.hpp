#pragma once
// The two helpers the command's tables share: a number with fixed decimals and a left-aligned column.

#include <cstddef>
#include <cstdio>
#include <string>

namespace gpufleet::cli {

inline std::string fixed(double value, int decimals) {
  char buffer[32];
  std::snprintf(buffer, sizeof(buffer), "%.*f", decimals, value);
  return buffer;
}

inline std::string pad(std::string text, size_t width) {
  if (text.size() < width) text.append(width - text.size(), ' ');
  return text;
}

}  // namespace gpufleet::cli
