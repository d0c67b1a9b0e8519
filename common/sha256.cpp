#include "common/sha256.hpp"

#include <openssl/evp.h>

#include <stdexcept>

namespace gpufleet {

Sha256::Sha256() : context_(EVP_MD_CTX_new()) {
  if (context_ == nullptr || EVP_DigestInit_ex(context_, EVP_sha256(), nullptr) != 1) {
    EVP_MD_CTX_free(context_);
    throw std::runtime_error("OpenSSL could not start a SHA-256 digest");
  }
}

Sha256::~Sha256() {
  EVP_MD_CTX_free(context_);
}

Sha256& Sha256::update(std::string_view data) {
  if (EVP_DigestUpdate(context_, data.data(), data.size()) != 1) {
    throw std::runtime_error("OpenSSL could not compute SHA-256");
  }
  return *this;
}

std::string Sha256::hex_digest() {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  if (EVP_DigestFinal_ex(context_, digest, &length) != 1)
    throw std::runtime_error("OpenSSL could not compute SHA-256");
  static constexpr char kHex[] = "0123456789abcdef";
  std::string hex;
  hex.reserve(size_t{length} * 2);
  for (unsigned int i = 0; i < length; ++i) {
    hex += kHex[digest[i] >> 4];
    hex += kHex[digest[i] & 15];
  }
  return hex;
}

std::string sha256_hex(std::string_view data) {
  return Sha256().update(data).hex_digest();
}

}  // namespace gpufleet
