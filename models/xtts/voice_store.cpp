#include "models/xtts/voice_store.hpp"

#include <spdlog/spdlog.h>

#include <stdexcept>

#include "common/sha256.hpp"
#include "models/xtts/safetensors.hpp"

namespace gpufleet::xtts {

std::string voice_key(const std::string& reference_sha256, const std::filesystem::path& reference) {
  return sha256_hex(reference.parent_path().lexically_normal().generic_string() + '\n' + reference_sha256);
}

namespace fs = std::filesystem;

namespace {

void require_digest(const std::string& name, const char* what) {
  const bool hex = name.size() == 64 && name.find_first_not_of("0123456789abcdef") == std::string::npos;
  if (!hex)
    throw std::invalid_argument(std::string("voice store: the ") + what + " is not a SHA-256 hex digest");
}

}  // namespace

fs::path VoiceStore::path(const std::string& fingerprint, const std::string& reference) const {
  require_digest(fingerprint, "model fingerprint");
  require_digest(reference, "reference digest");
  return root_ / fingerprint / (reference + ".safetensors");
}

std::optional<TensorMap> VoiceStore::load(const std::string& fingerprint,
                                          const std::string& reference) const {
  const auto file = path(fingerprint, reference);
  std::error_code error;
  if (!fs::is_regular_file(file, error)) return std::nullopt;
  try {
    const auto stored = SafetensorsFile::open(file);
    TensorMap voice;
    for (const auto& [name, view] : stored.tensors()) {
      OwnedTensor owned;
      owned.dtype = view.dtype;
      owned.shape = view.shape;
      owned.bytes.assign(reinterpret_cast<const char*>(view.bytes.data()), view.bytes.size());
      voice.emplace(name, std::move(owned));
    }
    return voice;
  } catch (const std::exception& failure) {
    spdlog::warn("voice store: {} is unreadable ({}); computing the voice again", file.string(),
                 failure.what());
    return std::nullopt;
  }
}

bool VoiceStore::save(const std::string& fingerprint, const std::string& reference,
                      const TensorMap& voice) const {
  const auto file = path(fingerprint, reference);
  try {
    fs::create_directories(file.parent_path());
    write_safetensors(file, voice);
    return true;
  } catch (const std::exception& failure) {
    spdlog::warn("voice store: cannot write {}: {}", file.string(), failure.what());
    return false;
  }
}

}  // namespace gpufleet::xtts
