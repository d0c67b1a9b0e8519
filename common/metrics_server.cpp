#include "common/metrics_server.hpp"

#include <arpa/inet.h>
#include <netdb.h>
#include <poll.h>
#include <spdlog/spdlog.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstring>
#include <system_error>

#include "common/error.hpp"

namespace gpufleet {
namespace {

void send_all(int fd, const std::string& data) {
  size_t sent = 0;
  while (sent < data.size()) {
    const ssize_t n = ::send(fd, data.data() + sent, data.size() - sent, MSG_NOSIGNAL);
    if (n <= 0) return;
    sent += static_cast<size_t>(n);
  }
}

}  // namespace

MetricsServer::MetricsServer(const MetricsRegistry& registry, const std::string& host, uint16_t port)
    : registry_(registry) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE;
  addrinfo* found = nullptr;
  const std::string service = std::to_string(port);
  if (::getaddrinfo(host.empty() ? nullptr : host.c_str(), service.c_str(), &hints, &found) != 0 ||
      found == nullptr) {
    throw ConfigError("metrics: cannot resolve " + host);
  }
  listener_ = ::socket(found->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
  const int yes = 1;
  ::setsockopt(listener_, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof(yes));
  const bool bound = listener_ >= 0 && ::bind(listener_, found->ai_addr, found->ai_addrlen) == 0 &&
                     ::listen(listener_, 16) == 0;
  ::freeaddrinfo(found);
  if (!bound) {
    const std::string reason = std::generic_category().message(errno);
    if (listener_ >= 0) ::close(listener_);
    throw ConfigError("metrics: cannot listen on " + host + ":" + std::to_string(port) + ": " + reason);
  }
  sockaddr_storage address{};
  socklen_t length = sizeof(address);
  ::getsockname(listener_, reinterpret_cast<sockaddr*>(&address), &length);
  port_ = ntohs(address.ss_family == AF_INET6 ? reinterpret_cast<sockaddr_in6*>(&address)->sin6_port
                                              : reinterpret_cast<sockaddr_in*>(&address)->sin_port);
  thread_ = std::thread([this] { serve(); });
}

MetricsServer::~MetricsServer() {
  stop_.store(true);
  thread_.join();
  ::close(listener_);
}

void MetricsServer::serve() {
  while (!stop_.load()) {
    pollfd waiting{listener_, POLLIN, 0};
    if (::poll(&waiting, 1, 200) <= 0) continue;
    const int client = ::accept4(listener_, nullptr, nullptr, SOCK_CLOEXEC);
    if (client < 0) continue;
    timeval timeout{2, 0};
    ::setsockopt(client, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof(timeout));
    ::setsockopt(client, SOL_SOCKET, SO_SNDTIMEO, &timeout, sizeof(timeout));
    // Only the request line matters; the headers are read up to their end so the client sees a clean close.
    std::string request;
    char buffer[2048];
    while (request.find("\r\n\r\n") == std::string::npos && request.size() < 16384) {
      const ssize_t n = ::recv(client, buffer, sizeof(buffer), 0);
      if (n <= 0) break;
      request.append(buffer, static_cast<size_t>(n));
    }
    const bool metrics = request.rfind("GET /metrics ", 0) == 0 || request.rfind("GET /metrics?", 0) == 0;
    const std::string body = metrics ? registry_.render() : "not found: GET /metrics\n";
    send_all(client, std::string("HTTP/1.1 ") + (metrics ? "200 OK" : "404 Not Found") +
                         "\r\nContent-Type: text/plain; version=0.0.4; charset=utf-8\r\nContent-Length: " +
                         std::to_string(body.size()) + "\r\nConnection: close\r\n\r\n" + body);
    ::close(client);
  }
}

std::unique_ptr<MetricsServer> start_metrics_server(const MetricsRegistry& registry, const std::string& host,
                                                    uint16_t port, const std::string& setting) {
  if (port == 0) return nullptr;
  try {
    auto server = std::make_unique<MetricsServer>(registry, host, port);
    spdlog::info("metrics on http://{}:{}/metrics", host, server->port());
    return server;
  } catch (const ConfigError& error) {
    spdlog::error("no metrics endpoint: {} (set {} to a free port, or 0)", error.what(), setting);
    return nullptr;
  }
}

}  // namespace gpufleet
