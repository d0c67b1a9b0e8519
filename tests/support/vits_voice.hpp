#pragma once
// Builds a random-weight TorchScript VITS voice for a test with tests/models/make_vits_voice.py and Debian's
// python3-torch (GPUFLEET_PYTHON overrides the interpreter; the pyenv `python3` on PATH has no torch).
#include <cstdlib>
#include <filesystem>
#include <stdexcept>
#include <string>

namespace gpufleet::testing {

inline std::string python_for_models() {
  const char* python = std::getenv("GPUFLEET_PYTHON");
  return python != nullptr && *python != '\0' ? python : "/usr/bin/python3";
}

// Writes `dir`/voice.pt and `dir`/voice.json; `options` are the script's flags. Throws when it fails.
inline void make_vits_voice(const std::filesystem::path& dir, const std::string& options = "") {
  const char* source = std::getenv("GPUFLEET_SOURCE_DIR");
  const std::string script = std::string(source != nullptr ? source : ".") + "/tests/models/make_vits_voice.py";
  const std::string command = python_for_models() + " " + script + " " + dir.string() + " " + options;
  if (std::system(command.c_str()) != 0) throw std::runtime_error("cannot build the test voice: " + command);
}

}  // namespace gpufleet::testing
