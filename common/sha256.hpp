#pragma once
// SHA-256 (OpenSSL): content addresses for uploaded files, so that the same bytes get the same name and one
// client cannot make its upload replace another's; and fingerprints of model weights, so that a cached
// voice is never used with weights it was not computed by.
#include <memory>
#include <string>
#include <string_view>

struct evp_md_ctx_st;

namespace gpufleet {

// 64 lowercase hex digits.
std::string sha256_hex(std::string_view data);

// A digest fed in pieces: for data that is not in one buffer (the tensors of a model).
class Sha256 {
 public:
  Sha256();
  ~Sha256();
  Sha256(const Sha256&) = delete;
  Sha256& operator=(const Sha256&) = delete;

  Sha256& update(std::string_view data);
  // 64 lowercase hex digits; the digest cannot be fed afterwards.
  std::string hex_digest();

 private:
  evp_md_ctx_st* context_;
};

}  // namespace gpufleet
