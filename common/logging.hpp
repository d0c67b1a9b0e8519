#pragma once
#include <string>

namespace gpufleet {

// Sets up spdlog for a component: one line per event with time, component and level on stderr;
// LOG_LEVEL (trace, debug, info, warn, error) picks the level.
void init_logging(const std::string& component);

}  // namespace gpufleet
