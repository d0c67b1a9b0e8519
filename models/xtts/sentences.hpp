#pragma once
// Long text for XTTS-v2, cut the way upstream's split_sentence cuts it before generating: into sentences,
// packed greedily into pieces no longer than the language's character limit (upstream's char_limits), each
// spoken on its own and the audio joined. One generation of the GPT holds a few hundred text tokens and
// about 30 s of audio; longer text in one piece runs out of either.

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace gpufleet::xtts {

// Upstream's per-language limit in characters (code points) for one generation: en 250, de 253, fr 273,
// es 239, it 213, pt 203, pl 224, zh 82, ar 166, cs 186, ru 182, nl 251, tr 226, ja 71, hu 224, ko 95, hi
// 150; 250 for any other. A region suffix is ignored ("zh-cn" -> zh).
size_t xtts_char_limit(std::string_view language);

// `text` as pieces of at most `limit` code points: sentences end after the marks of spaCy's sentencizer in
// XTTS's scripts (. ! ? । ॥ ؟ ۔ 。！？ and their kin; not ; or …), with closing quotes and brackets kept on
// the sentence; neighbouring sentences share a piece while they fit, and a sentence longer than the limit is
// cut at the last space that fits (or, in text without spaces, at the limit). Pieces are trimmed; empty ones
// are dropped. Text within the limit comes back as one piece.
std::vector<std::string> split_xtts_text(std::string_view text, size_t limit);

}  // namespace gpufleet::xtts
