#include "common/api_keys.hpp"

#include <openssl/rand.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <set>
#include <sstream>

#include "common/error.hpp"
#include "common/sha256.hpp"

namespace gpufleet {

namespace {

bool is_key_name(std::string_view name) {
  return !name.empty() && name.size() <= 64 && std::isalnum(static_cast<unsigned char>(name[0])) &&
         std::all_of(name.begin(), name.end(), [](char c) {
           return std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '_' || c == '-';
         });
}

bool is_sha256_hex(std::string_view text) {
  return text.size() == 64 && text.find_first_not_of("0123456789abcdef") == std::string_view::npos;
}

std::string hex(const unsigned char* bytes, size_t size) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  for (size_t i = 0; i < size; ++i) {
    out += kHex[bytes[i] >> 4];
    out += kHex[bytes[i] & 15];
  }
  return out;
}

}  // namespace

ApiKeys ApiKeys::parse(std::string_view text) {
  ApiKeys keys;
  std::set<std::string> names;
  std::string all(text);
  std::replace(all.begin(), all.end(), ';', '\n');
  std::istringstream lines(all);
  std::string line;
  int number = 0;
  while (std::getline(lines, line)) {
    ++number;
    const auto comment = line.find('#');
    if (comment != std::string::npos) line.erase(comment);
    std::istringstream fields(line);
    ApiKey key;
    if (!(fields >> key.name)) continue;  // blank
    const std::string where = "API keys, line " + std::to_string(number) + " (" + key.name + "): ";
    if (!(fields >> key.token_sha256) || !is_sha256_hex(key.token_sha256)) {
      throw ConfigError(where + "expected '<name> <sha256 of the token, 64 hex digits> [rate [burst]]'");
    }
    if (!is_key_name(key.name))
      throw ConfigError(where + "a name is 1 to 64 of A-Z a-z 0-9 . _ -, starting with a letter or digit");
    std::string extra;
    int numbers = 0;
    while (fields >> extra) {
      if (extra == "operator") {
        key.is_operator = true;
        continue;
      }
      if (key.is_operator || numbers == 2) throw ConfigError(where + "unexpected '" + extra + "'");
      try {
        size_t used = 0;
        const double value = std::stod(extra, &used);
        if (used != extra.size()) throw std::invalid_argument(extra);
        (numbers++ == 0 ? key.rate_per_s : key.burst) = value;
      } catch (const std::exception&) {
        throw ConfigError(where + "rate and burst must be numbers");
      }
    }
    if (!(key.rate_per_s >= 0) || !(key.burst >= 0) || !std::isfinite(key.rate_per_s) ||
        !std::isfinite(key.burst)) {
      throw ConfigError(where + "rate and burst must be non-negative");
    }
    if (key.burst == 0) key.burst = std::max(1.0, key.rate_per_s);
    if (!names.insert(key.name).second) throw ConfigError(where + "the name is listed twice");
    Bucket bucket{key, key.burst, {}};
    if (!keys.by_hash_.emplace(key.token_sha256, std::move(bucket)).second) {
      throw ConfigError(where + "the same token is listed twice");
    }
  }
  return keys;
}

Admission ApiKeys::admit(std::string_view authorization, Clock::time_point now) {
  Admission admission;
  constexpr std::string_view kBearer = "Bearer ";
  if (authorization.size() <= kBearer.size() || authorization.substr(0, kBearer.size()) != kBearer) {
    admission.verdict = Admission::Verdict::kMissing;
    return admission;
  }
  std::string_view token = authorization.substr(kBearer.size());
  while (!token.empty() && token.back() == ' ') token.remove_suffix(1);
  // Looked up by its hash: the table holds no tokens, and the lookup's timing depends on the hash only.
  auto found = by_hash_.find(sha256_hex(token));
  if (found == by_hash_.end()) {
    admission.verdict = Admission::Verdict::kUnknown;
    return admission;
  }
  Bucket& bucket = found->second;
  admission.key_name = bucket.key.name;
  admission.is_operator = bucket.key.is_operator;
  if (bucket.key.rate_per_s <= 0) return admission;
  if (bucket.refilled != Clock::time_point{}) {
    const double elapsed = std::chrono::duration<double>(now - bucket.refilled).count();
    bucket.tokens =
        std::min(bucket.key.burst, bucket.tokens + std::max(0.0, elapsed) * bucket.key.rate_per_s);
  }
  bucket.refilled = now;
  if (bucket.tokens >= 1.0) {
    bucket.tokens -= 1.0;
    return admission;
  }
  admission.verdict = Admission::Verdict::kRateLimited;
  admission.retry_after_s = (1.0 - bucket.tokens) / bucket.key.rate_per_s;
  return admission;
}

std::pair<std::string, std::string> ApiKeys::generate(const std::string& name, double rate_per_s,
                                                      double burst, bool is_operator) {
  if (!is_key_name(name)) throw ConfigError("a key name is 1 to 64 of A-Z a-z 0-9 . _ -");
  unsigned char random[32];
  if (RAND_bytes(random, sizeof(random)) != 1)
    throw std::runtime_error("OpenSSL could not make random bytes");
  const std::string token = "gf_" + hex(random, sizeof(random));
  std::string line = name + " " + sha256_hex(token);
  if (rate_per_s > 0) {
    std::ostringstream numbers;
    numbers << " " << rate_per_s;
    if (burst > 0) numbers << " " << burst;
    line += numbers.str();
  }
  if (is_operator) line += " operator";
  return {token, line};
}

}  // namespace gpufleet
