#pragma once
// Korean for the XTTS tokenizer: upstream's VoiceBpeTokenizer romanises Korean text after cleaning it, with
// ko_speech_tools.hangul_romanize (the "academic" rule of hangul-romanize): each precomposed syllable spelt
// in Revised Romanisation letters, a hyphen before a syllable that starts with a silent ㅇ or whose letters
// could be read into the previous syllable's final; everything else is kept as it is.

#include <string>
#include <string_view>

namespace gpufleet::xtts {

// hangul_romanize(text) for valid UTF-8 text: "물엿" -> "mul-yeos", "한국어 OK" -> "hangug-eo OK".
std::string hangul_romanize(std::string_view text);

}  // namespace gpufleet::xtts
