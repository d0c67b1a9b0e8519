#pragma once
#include <chrono>
#include <cstdint>

namespace gpufleet {

// Wall-clock milliseconds since the Unix epoch: what job records and events carry.
inline int64_t unix_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// Wall-clock microseconds since the Unix epoch, for stage timings finer than a millisecond.
inline int64_t unix_us() {
  return std::chrono::duration_cast<std::chrono::microseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

using SteadyClock = std::chrono::steady_clock;

}  // namespace gpufleet
