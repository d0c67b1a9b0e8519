#pragma once
// SHA-256 (OpenSSL): content addresses for uploaded files, so that the same bytes get the same name and one
// client cannot make its upload replace another's.
#include <string>
#include <string_view>

namespace gpufleet {

// 64 lowercase hex digits.
std::string sha256_hex(std::string_view data);

}  // namespace gpufleet
