#pragma once
// JSON written by hand where building an nlohmann object would cost more than the rest of the work (every job
// event, every log line): string literals escaped as RFC 8259 wants.

#include <string>
#include <string_view>

namespace gpufleet {

// Appends `text` as a JSON string literal (quotes, backslashes and control characters escaped).
void append_json_string(std::string& out, std::string_view text);

}  // namespace gpufleet
