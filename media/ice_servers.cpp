#include "media/ice_servers.hpp"

#include <string_view>

namespace gpufleet::media {

namespace {

bool plain(std::string_view text) {
  for (char c : text) {
    const auto byte = static_cast<unsigned char>(c);
    if (byte <= 0x20 || byte >= 0x7F || c == '"' || c == '<' || c == '>' || c == ',' || c == ';')
      return false;
  }
  return !text.empty();
}

}  // namespace

std::optional<std::string> ice_server_link(const std::string& url) {
  const auto scheme_end = url.find("://");
  if (scheme_end == std::string::npos) return std::nullopt;
  const std::string scheme = url.substr(0, scheme_end);
  std::string_view rest = std::string_view(url).substr(scheme_end + 3);
  if (scheme == "stun") {
    if (!plain(rest) || rest.find('@') != std::string_view::npos) return std::nullopt;
    return "<stun:" + std::string(rest) + ">; rel=\"ice-server\"";
  }
  if (scheme != "turn" && scheme != "turns") return std::nullopt;
  const auto at = rest.rfind('@');
  if (at == std::string_view::npos) return std::nullopt;
  const auto credentials = rest.substr(0, at);
  const auto host = rest.substr(at + 1);
  const auto colon = credentials.find(':');
  if (colon == std::string_view::npos) return std::nullopt;
  const auto user = credentials.substr(0, colon);
  const auto password = credentials.substr(colon + 1);
  if (!plain(host) || !plain(user) || !plain(password)) return std::nullopt;
  return "<" + scheme + ":" + std::string(host) + ">; rel=\"ice-server\"; username=\"" + std::string(user) +
         "\"; credential=\"" + std::string(password) + "\"; credential-type=\"password\"";
}

std::vector<std::string> ice_server_links(const std::string& stun_server,
                                          const std::vector<std::string>& turn_servers) {
  std::vector<std::string> links;
  if (!stun_server.empty()) {
    if (auto link = ice_server_link(stun_server)) links.push_back(*link);
  }
  for (const auto& turn : turn_servers) {
    if (auto link = ice_server_link(turn)) links.push_back(*link);
  }
  return links;
}

}  // namespace gpufleet::media
