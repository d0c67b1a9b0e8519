#pragma once
// Who may use the gateway: API keys, kept hashed (a stolen keys file opens nothing), each with its own
// request-rate limit. Pure logic with an injected clock, so it is tested without sockets.
//
// Keys file (API_KEYS_FILE; or the same lines in API_KEYS, separated by ';' or newlines):
//   # comment
//   <name> <sha256 of the token, hex> [<requests per second> [<burst>]] [operator]
// `gpufleet keys new NAME [RATE [BURST]] [--operator]` makes a token and prints its line. Clients send
// "Authorization: Bearer <token>". A key owns the jobs and uploads it creates; `operator` keys see every
// tenant's (docs/security.md). Names are 1-64 of [A-Za-z0-9._-], the first a letter or digit: they are stored
// as owners in Redis.

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>

namespace gpufleet {

struct ApiKey {
  std::string name;
  std::string token_sha256;  // 64 lowercase hex digits
  double rate_per_s = 0;     // 0: unlimited
  double burst = 0;          // bucket size; default max(1, rate)
  bool is_operator = false;  // sees and manages every key's jobs, the workers and the fleet's event stream
};

// What a request's credentials amount to.
struct Admission {
  enum class Verdict { kAllowed, kMissing, kUnknown, kRateLimited } verdict = Verdict::kAllowed;
  std::string key_name;      // the key that was used, when known
  bool is_operator = false;  // kAllowed: the key is an operator's
  double retry_after_s = 0;  // kRateLimited: when the next request would pass
};

class ApiKeys {
 public:
  using Clock = std::chrono::steady_clock;

  // Parses the keys file format. Throws ConfigError naming the line at fault (a malformed hash, a
  // duplicate name or hash, a negative rate).
  static ApiKeys parse(std::string_view text);

  bool enabled() const { return !by_hash_.empty(); }
  size_t size() const { return by_hash_.size(); }

  // Checks an Authorization header value ("Bearer <token>") and takes one request from the key's bucket.
  Admission admit(std::string_view authorization, Clock::time_point now);

  // A new random token ("gf_" + 64 hex digits) and the line that admits it.
  static std::pair<std::string, std::string> generate(const std::string& name, double rate_per_s = 0,
                                                      double burst = 0, bool is_operator = false);

 private:
  struct Bucket {
    ApiKey key;
    double tokens = 0;
    Clock::time_point refilled{};
  };
  std::unordered_map<std::string, Bucket> by_hash_;
};

}  // namespace gpufleet
