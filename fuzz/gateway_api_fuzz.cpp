// Fuzz target: the gateway's validation of everything a client sends (JSON bodies of both submission routes,
// the ?wait= query, the Idempotency-Key header, uploads, speaker references) and the rendering of job
// records. Any outcome is fine except a crash, an exception escaping, or an accepted request that breaks the
// limits. It brings its own mutator (below), which libFuzzer uses instead of only flipping bytes.
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <random>
#include <string>
#include <string_view>

#include "common/files.hpp"
#include "fuzz/json_mutator.hpp"
#include "gateway/api.hpp"

#ifdef GPUFLEET_LIBFUZZER
extern "C" size_t LLVMFuzzerMutate(uint8_t* data, size_t size, size_t max_size);
#endif

// Half of libFuzzer's mutations stay its own byte-level ones (with the dictionary), half are structure-aware
// (fuzz/json_mutator.hpp: deep nesting, ill-formed UTF-8 in strings). The replay build uses the latter too.
extern "C" size_t LLVMFuzzerCustomMutator(uint8_t* data, size_t size, size_t max_size, unsigned int seed) {
  std::mt19937_64 random(seed);
#ifdef GPUFLEET_LIBFUZZER
  if (random() % 2 == 0) return LLVMFuzzerMutate(data, size, max_size);
#endif
  const auto mutated = gpufleet::fuzz::mutate_json_structure(
      std::string(reinterpret_cast<const char*>(data), size), max_size, random);
  std::memcpy(data, mutated.data(), mutated.size());
  return mutated.size();
}

namespace {

const gpufleet::gateway::Catalog& catalog() {
  static const auto value = gpufleet::gateway::Catalog::from_redis_hash(
      {{"espeak", R"({"name":"espeak","kind":"tts","languages":["en","de"],"cloning":false,"workers":1})"},
       {"xtts", R"({"name":"xtts","kind":"tts","languages":[],"cloning":true,"workers":1})"}});
  return value;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace gpufleet::gateway;
  const std::string_view bytes(reinterpret_cast<const char*>(data), size);
  Limits limits;
  limits.max_text_chars = 64;
  limits.input_root = "/srv/inputs";
  for (auto parse : {&parse_job_submission, &parse_tts_generate}) {
    auto parsed = parse("application/json", bytes, catalog(), limits);
    if (auto* request = std::get_if<SubmitRequest>(&parsed)) {
      // Accepted means within the limits: a text, at most 64 code points, a known model.
      const auto& text = request->input.at("text").get_ref<const std::string&>();
      if (text.size() > 64 * 4) std::abort();
      if (catalog().find(request->model) == nullptr) std::abort();
      // An accepted reference is a clean relative name: never absolute, never "..".
      if (auto speaker = request->input.find("speaker_wav"); speaker != request->input.end()) {
        // One name or a list of 1 to 8, each a string.
        if (speaker->is_array() && (speaker->empty() || speaker->size() > 8)) std::abort();
        for (const auto& name : speaker->is_array() ? *speaker : nlohmann::json::array({*speaker})) {
          if (!name.is_string()) std::abort();
          const std::filesystem::path path = name.get<std::string>();
          if (path.is_absolute()) std::abort();
          for (const auto& part : path) {
            if (part == "..") std::abort();
          }
        }
      }
    }
  }
  if (auto reference = gpufleet::relative_reference(bytes, limits.input_root)) {
    if (reference->is_absolute() || reference->empty()) std::abort();
    for (const auto& part : *reference) {
      if (part == ".." || part == ".") std::abort();
    }
  }
  parse_upload("audio/wav", bytes);
  parse_wait(bytes, 60);
  parse_idempotency_key(std::string_view(bytes));
  render_job({{"id", std::string(bytes.substr(0, 40))},
              {"state", "succeeded"},
              {"result", std::string(bytes)},
              {"input", std::string(bytes)},
              {"created_ms", std::string(bytes.substr(0, 20))}});
  return 0;
}
