#pragma once
// JSON written by hand where building an nlohmann object would cost more than the rest of the work (every job
// event, every log line): string literals escaped as RFC 8259 wants.

#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>

namespace gpufleet {

// Appends `text` as a JSON string literal (quotes, backslashes and control characters escaped).
void append_json_string(std::string& out, std::string_view text);

// How deep JSON from outside may nest. Deeper documents are refused before they are parsed: nlohmann's
// copies and comparisons of a value recurse, so a 500 KB body of brackets would end the process.
inline constexpr size_t kMaxJsonDepth = 64;

// The deepest nesting of arrays and objects in `text` (strings skipped), counted without parsing; stops
// counting past `limit` (returns limit + 1). Malformed text is the parser's business, not this scan's.
size_t json_nesting_depth(std::string_view text, size_t limit = kMaxJsonDepth);

// Parses JSON from outside: nullopt when it is malformed, nests deeper than `max_depth` or holds ill-formed
// UTF-8 (which nlohmann's parser refuses). Never throws.
std::optional<nlohmann::json> parse_json_bounded(std::string_view text, size_t max_depth = kMaxJsonDepth);

// JSON text of `value` that never throws: ill-formed UTF-8 in a string is written as U+FFFD.
std::string dump_json(const nlohmann::json& value);

}  // namespace gpufleet
