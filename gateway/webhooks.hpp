#pragma once
// Webhooks on completion, the pure parts: which URLs a client may give, how a delivery is signed, and when a
// failed delivery is tried again. The sender that uses them (Redis, HTTP) is webhook_sender.hpp; the
// delivery guarantees are in docs/reliability.md.

#include <boost/asio/ip/address.hpp>
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace gpufleet::gateway {

// A webhook target: an absolute http or https URL without credentials or fragment.
struct WebhookUrl {
  bool tls = false;
  std::string host;          // lower case; an IPv6 literal without its brackets
  uint16_t port = 0;         // 80 or 443 unless the URL says otherwise
  std::string target = "/";  // path and query, as sent in the request line
  std::string text;          // the URL as the client gave it
};

// The URL, or why it is refused (for the client's 400).
std::variant<WebhookUrl, std::string> parse_webhook_url(std::string_view text);

// WEBHOOK_ALLOWED_HOSTS: exact names ("hooks.example.com", "10.0.0.7") and suffixes ("*.example.com" matches
// any name under example.com, not example.com itself). An empty list allows every host.
bool webhook_host_allowed(const std::vector<std::string>& allowed, std::string_view host);

// Whether a delivery may connect to `address` without the host being listed in WEBHOOK_ALLOWED_HOSTS: public
// unicast only. Loopback, private (RFC 1918, fc00::/7), link-local (metadata services: 169.254.169.254,
// fd00:ec2::254), CGNAT, multicast, unspecified, broadcast, documentation, benchmarking and reserved ranges,
// IPv4-mapped/compatible and NAT64 IPv6 are refused: otherwise a client could make the gateway call what sits
// behind it (Redis on 127.0.0.1:6379, a cloud's metadata service) and read the outcome.
bool webhook_address_public(const boost::asio::ip::address& address);

// A webhook host that can be judged before any resolution: an address literal in any form the system
// resolver reads as one ("127.1", "0x7f000001", "2130706433", "[::ffff:127.0.0.1]") or a name of this machine
// ("localhost", "*.localhost"). The reason it is refused, or nullopt (names are judged by the addresses they
// resolve to, at delivery).
std::optional<std::string> webhook_host_refused(std::string_view host);

// Whether `host` is named in a non-empty WEBHOOK_ALLOWED_HOSTS: a listed host may be private.
bool webhook_host_listed(const std::vector<std::string>& allowed, std::string_view host);

// The X-Gpufleet-Signature header of a delivery: "t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>">".
// Receivers recompute v1 with the shared secret and refuse old timestamps, which stops replays.
std::string webhook_signature(std::string_view secret, int64_t unix_s, std::string_view body);
// HMAC-SHA256 as lower-case hex (exposed for tests against RFC 4231).
std::string hmac_sha256_hex(std::string_view key, std::string_view message);

struct WebhookRetryPolicy {
  int max_attempts = 10;
  std::chrono::milliseconds first_delay{1000};
  std::chrono::milliseconds max_delay{300000};
};

// How long to wait after failed attempt number `attempt` (1-based): first_delay doubled per attempt, capped,
// with `jitter` in [0, 1) spreading retries by up to a fifth so that many failed deliveries do not return
// to a recovered receiver all at once.
std::chrono::milliseconds webhook_retry_delay(const WebhookRetryPolicy& policy, int attempt, double jitter);

// Whether a receiver's answer ends the deliveries: 2xx (delivered) and 410 Gone (the receiver asks never to
// be called again for this job). Everything else, and no answer at all, is tried again.
enum class WebhookVerdict { kDelivered, kRetry, kGone };
WebhookVerdict webhook_verdict(int http_status);

}  // namespace gpufleet::gateway
