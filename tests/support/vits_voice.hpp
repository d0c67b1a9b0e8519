#pragma once
// Builds random-weight TorchScript models for tests (a VITS voice, face renderers) with the scripts in
// tests/models/. GPUFLEET_PYTHON names the interpreter (CTest sets it to the build's GPUFLEET_MODELS_PYTHON,
// whose torch writes what that build's LibTorch reads); without it, Debian's python3 with python3-torch (the
// pyenv `python3` on PATH has no torch).
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
  const std::string script =
      std::string(source != nullptr ? source : ".") + "/tests/models/make_vits_voice.py";
  const std::string command = python_for_models() + " " + script + " " + dir.string() + " " + options;
  if (std::system(command.c_str()) != 0) throw std::runtime_error("cannot build the test voice: " + command);
}

// Writes `dir`/liveportrait/*.pt and `dir`/wav2lip/wav2lip.pt (tests/models/make_face_modules.py).
inline void make_face_modules(const std::filesystem::path& dir, const std::string& options = "") {
  const char* source = std::getenv("GPUFLEET_SOURCE_DIR");
  const std::string script =
      std::string(source != nullptr ? source : ".") + "/tests/models/make_face_modules.py";
  const std::string command = python_for_models() + " " + script + " " + dir.string() + " " + options;
  if (std::system(command.c_str()) != 0)
    throw std::runtime_error("cannot build the test face modules: " + command);
}

}  // namespace gpufleet::testing
