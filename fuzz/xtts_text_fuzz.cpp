// Fuzz target: XTTS's text cleaning (a job's text, already valid UTF-8 at the gateway, read through
// upstream's number, abbreviation and symbol rules, Korean romanised). The first byte picks the language.
// Either a clean refusal (ModelError) or valid UTF-8 of bounded length; no other exception, no endless
// recursion.
#include <cstdint>
#include <cstdlib>
#include <string>

#include "common/error.hpp"
#include "common/utf8.hpp"
#include "models/xtts/tokenizer.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const char* kLanguages[] = {"en", "es", "fr", "de", "it", "pt", "pl", "tr",
                                     "ru", "nl", "cs", "ar", "hu", "hi", "ko", "xx"};
  if (size == 0 || size > 4096) return 0;
  const std::string language = kLanguages[data[0] % (sizeof(kLanguages) / sizeof(kLanguages[0]))];
  const std::string text =
      gpufleet::utf8_repair(std::string(reinterpret_cast<const char*>(data + 1), size - 1));
  try {
    const std::string cleaned = gpufleet::xtts::preprocess_text(text, language);
    if (!gpufleet::utf8_valid(cleaned)) std::abort();
    // The longest growth is a digit after a decimal point becoming a word and its space.
    if (cleaned.size() > 64 * text.size() + 1024) std::abort();
  } catch (const gpufleet::ModelError&) {
  }
  return 0;
}
