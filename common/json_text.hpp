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

// parse_json_bounded's value, or a discarded value (is_discarded(), which is no object, array or string)
// where it gives none: for readers that check the value's type next anyway. Every JSON the fleet reads from
// Redis, a peer, an HTTP body or a file is parsed here or by parse_json_bounded (scripts/check-json.sh).
nlohmann::json parse_json_or_discarded(std::string_view text, size_t max_depth = kMaxJsonDepth);

// JSON text of `value` that never throws: ill-formed UTF-8 in a string is written as U+FFFD. Every JSON the
// fleet writes goes through here (scripts/check-json.sh keeps it so), since a string read back from Redis,
// a peer or a file may hold any bytes, and nlohmann's dump() throws on them. `indent` as dump()'s (-1: one
// line).
std::string dump_json(const nlohmann::json& value, int indent = -1);

}  // namespace gpufleet
