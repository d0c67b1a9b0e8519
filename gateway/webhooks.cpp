#include "gateway/webhooks.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <algorithm>
#include <cctype>
#include <cmath>

namespace gpufleet::gateway {

namespace {

std::string lower(std::string_view text) {
  std::string out(text);
  std::transform(out.begin(), out.end(), out.begin(), [](unsigned char c) { return std::tolower(c); });
  return out;
}

bool starts_with_ci(std::string_view text, std::string_view prefix) {
  return text.size() >= prefix.size() && lower(text.substr(0, prefix.size())) == prefix;
}

bool is_host_char(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '.' || c == '_';
}

}  // namespace

std::variant<WebhookUrl, std::string> parse_webhook_url(std::string_view text) {
  if (text.empty() || text.size() > 2048) return std::string("webhook must be a URL of 1 to 2048 characters");
  for (unsigned char c : text) {
    if (c <= 0x20 || c >= 0x7f)
      return std::string("webhook URL contains a space or a control or non-ASCII character");
  }
  WebhookUrl url;
  url.text = std::string(text);
  std::string_view rest;
  if (starts_with_ci(text, "https://")) {
    url.tls = true;
    url.port = 443;
    rest = text.substr(8);
  } else if (starts_with_ci(text, "http://")) {
    url.port = 80;
    rest = text.substr(7);
  } else {
    return std::string("webhook must be an http:// or https:// URL");
  }
  if (auto fragment = rest.find('#'); fragment != std::string_view::npos) rest = rest.substr(0, fragment);
  const size_t authority_end = std::min(rest.find('/'), rest.find('?'));
  std::string_view authority = rest.substr(0, authority_end);
  if (authority_end != std::string_view::npos) {
    url.target = std::string(rest.substr(authority_end));
    if (url.target.front() == '?') url.target.insert(url.target.begin(), '/');
  }
  if (authority.find('@') != std::string_view::npos)
    return std::string("webhook URL must not carry credentials");
  std::string_view port_text;
  if (!authority.empty() && authority.front() == '[') {
    const auto close = authority.find(']');
    if (close == std::string_view::npos) return std::string("webhook URL has an unclosed IPv6 address");
    url.host = lower(authority.substr(1, close - 1));
    if (url.host.empty() || url.host.find_first_not_of("0123456789abcdef:.") != std::string::npos) {
      return std::string("webhook URL has a malformed IPv6 address");
    }
    std::string_view after = authority.substr(close + 1);
    if (!after.empty()) {
      if (after.front() != ':') return std::string("webhook URL has a malformed host");
      port_text = after.substr(1);
    }
  } else {
    const auto colon = authority.find(':');
    url.host = lower(authority.substr(0, colon));
    if (colon != std::string_view::npos) port_text = authority.substr(colon + 1);
    if (url.host.empty() || !std::all_of(url.host.begin(), url.host.end(), is_host_char) ||
        url.host.front() == '.' || url.host.front() == '-') {
      return std::string("webhook URL has no valid host name");
    }
  }
  if (authority.find(':') != std::string_view::npos && port_text.empty() && authority.front() != '[') {
    return std::string("webhook URL has an empty port");
  }
  if (!port_text.empty()) {
    if (port_text.size() > 5 || port_text.find_first_not_of("0123456789") != std::string_view::npos) {
      return std::string("webhook URL has a malformed port");
    }
    const int port = std::stoi(std::string(port_text));
    if (port < 1 || port > 65535) return std::string("webhook URL port must be in 1..65535");
    url.port = static_cast<uint16_t>(port);
  }
  return url;
}

bool webhook_host_allowed(const std::vector<std::string>& allowed, std::string_view host) {
  if (allowed.empty()) return true;
  const std::string name = lower(host);
  for (const auto& entry : allowed) {
    const std::string pattern = lower(entry);
    if (pattern.rfind("*.", 0) == 0) {
      const std::string suffix = pattern.substr(1);  // ".example.com"
      if (name.size() > suffix.size() &&
          name.compare(name.size() - suffix.size(), suffix.size(), suffix) == 0) {
        return true;
      }
    } else if (name == pattern) {
      return true;
    }
  }
  return false;
}

bool webhook_host_listed(const std::vector<std::string>& allowed, std::string_view host) {
  return !allowed.empty() && webhook_host_allowed(allowed, host);
}

namespace {

bool v4_public(uint32_t a) {
  auto in = [a](uint32_t base, int bits) { return (a >> (32 - bits)) == (base >> (32 - bits)); };
  return !(in(0x00000000, 8) ||   // "this network", 0.0.0.0
           in(0x0A000000, 8) ||   // 10/8
           in(0x64400000, 10) ||  // 100.64/10 CGNAT
           in(0x7F000000, 8) ||   // loopback
           in(0xA9FE0000, 16) ||  // link-local, metadata
           in(0xAC100000, 12) ||  // 172.16/12
           in(0xC0000000, 24) ||  // IETF protocol assignments
           in(0xC0000200, 24) ||  // TEST-NET-1
           in(0xC0A80000, 16) ||  // 192.168/16
           in(0xC6120000, 15) ||  // benchmarking
           in(0xC6336400, 24) ||  // TEST-NET-2
           in(0xCB007100, 24) ||  // TEST-NET-3
           in(0xE0000000, 4) ||   // multicast
           in(0xF0000000, 4));    // reserved, broadcast
}

}  // namespace

bool webhook_address_public(const boost::asio::ip::address& address) {
  if (address.is_v4()) return v4_public(address.to_v4().to_uint());
  const auto v6 = address.to_v6();
  const auto bytes = v6.to_bytes();
  if (v6.is_unspecified() || v6.is_loopback() || v6.is_multicast() || v6.is_link_local() ||
      v6.is_site_local() || v6.is_v4_mapped() || v6.is_v4_compatible()) {
    return false;
  }
  if ((bytes[0] & 0xFE) == 0xFC) return false;  // fc00::/7
  if (bytes[0] == 0x00 && bytes[1] == 0x64 && bytes[2] == 0xFF && bytes[3] == 0x9B)
    return false;  // 64:ff9b::/96
  if (bytes[0] == 0x20 && bytes[1] == 0x01 && bytes[2] == 0x0D && bytes[3] == 0xB8)
    return false;                                          // 2001:db8::/32
  if (bytes[0] == 0x20 && bytes[1] == 0x02) return false;  // 6to4 carries an IPv4 address of any kind
  if (bytes[0] == 0x20 && bytes[1] == 0x01 && bytes[2] == 0x00 && bytes[3] == 0x00) return false;  // Teredo
  return true;
}

std::optional<std::string> webhook_host_refused(std::string_view host) {
  const std::string name = lower(host);
  if (name == "localhost" || (name.size() > 10 && name.compare(name.size() - 10, 10, ".localhost") == 0) ||
      name == "localhost.") {
    return "webhook host " + name + " is this machine";
  }
  boost::system::error_code error;
  auto address = boost::asio::ip::make_address(name, error);
  if (error) {
    // The forms inet_aton (and so getaddrinfo) reads as IPv4 besides dotted quads: "127.1", "0x7f000001",
    // "2130706433", "0177.0.0.1".
    in_addr legacy{};
    if (inet_aton(name.c_str(), &legacy) == 0) return std::nullopt;
    address = boost::asio::ip::address_v4(ntohl(legacy.s_addr));
  }
  if (webhook_address_public(address)) return std::nullopt;
  return "webhook host " + name + " is not a public address (list it in WEBHOOK_ALLOWED_HOSTS to allow it)";
}

std::string hmac_sha256_hex(std::string_view key, std::string_view message) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
       reinterpret_cast<const unsigned char*>(message.data()), message.size(), digest, &length);
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  for (unsigned int i = 0; i < length; ++i) {
    out += kHex[digest[i] >> 4];
    out += kHex[digest[i] & 15];
  }
  return out;
}

std::string webhook_signature(std::string_view secret, int64_t unix_s, std::string_view body) {
  const std::string stamp = std::to_string(unix_s);
  std::string signed_text = stamp + ".";
  signed_text.append(body);
  return "t=" + stamp + ",v1=" + hmac_sha256_hex(secret, signed_text);
}

std::chrono::milliseconds webhook_retry_delay(const WebhookRetryPolicy& policy, int attempt, double jitter) {
  const double base =
      static_cast<double>(policy.first_delay.count()) * std::pow(2.0, std::max(0, attempt - 1));
  const double capped = std::min(base, static_cast<double>(policy.max_delay.count()));
  const double spread = capped * 0.2 * std::clamp(jitter, 0.0, 1.0);
  return std::chrono::milliseconds(static_cast<int64_t>(capped + spread));
}

WebhookVerdict webhook_verdict(int http_status) {
  if (http_status >= 200 && http_status < 300) return WebhookVerdict::kDelivered;
  if (http_status == 410) return WebhookVerdict::kGone;
  return WebhookVerdict::kRetry;
}

}  // namespace gpufleet::gateway
