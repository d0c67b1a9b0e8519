#include "tests/support/http_sink.hpp"

#include <algorithm>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <cctype>
#include <condition_variable>
#include <cstdlib>
#include <stdexcept>

namespace gpufleet::testing {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

SinkTls make_self_signed_certificate(const std::filesystem::path& dir, const std::string& name) {
  SinkTls tls{dir / (name + ".crt"), dir / (name + ".key")};
  const std::string command =
      "openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=127.0.0.1"
      " -addext subjectAltName=IP:127.0.0.1 -keyout '" +
      tls.private_key.string() + "' -out '" + tls.certificate.string() + "' >/dev/null 2>&1";
  if (std::system(command.c_str()) != 0) throw std::runtime_error("openssl req failed: " + command);
  return tls;
}

struct HttpSink::State {
  asio::io_context io{1};
  tcp::acceptor acceptor{io};
  std::optional<asio::ssl::context> tls;
  std::mutex mutex;
  std::condition_variable changed;
  std::vector<ReceivedRequest> requests;
  std::vector<int> statuses;
  int otherwise = 200;

  int next_status() {
    std::lock_guard lock(mutex);
    return requests.size() < statuses.size() ? statuses[requests.size()] : otherwise;
  }

  template <typename Stream>
  void serve(Stream& stream) {
    beast::flat_buffer buffer;
    http::request<http::string_body> request;
    beast::error_code error;
    http::read(stream, buffer, request, error);
    if (error) return;
    const int status = next_status();
    ReceivedRequest received;
    received.method = std::string(request.method_string());
    received.target = std::string(request.target());
    for (const auto& field : request) {
      std::string name(field.name_string());
      std::transform(name.begin(), name.end(), name.begin(), [](unsigned char c) { return std::tolower(c); });
      received.headers[name] = std::string(field.value());
    }
    received.body = request.body();
    received.at = std::chrono::steady_clock::now();
    {
      std::lock_guard lock(mutex);
      requests.push_back(std::move(received));
    }
    changed.notify_all();
    http::response<http::string_body> response{static_cast<http::status>(status), 11};
    response.set(http::field::content_type, "text/plain");
    response.body() = "sink\n";
    response.keep_alive(false);
    response.prepare_payload();
    http::write(stream, response, error);
  }

  void accept() {
    acceptor.async_accept([this](beast::error_code error, tcp::socket socket) {
      if (error) return;
      // One connection at a time, synchronously: enough for tests, and the order of requests is the order
      // seen.
      socket.non_blocking(false);
      timeval timeout{5, 0};
      ::setsockopt(socket.native_handle(), SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof(timeout));
      if (tls) {
        beast::ssl_stream<tcp::socket&> stream(socket, *tls);
        beast::error_code handshake_error;
        stream.handshake(asio::ssl::stream_base::server, handshake_error);
        if (!handshake_error) serve(stream);
      } else {
        serve(socket);
      }
      beast::error_code ignored;
      socket.shutdown(tcp::socket::shutdown_both, ignored);
      accept();
    });
  }
};

HttpSink::HttpSink(std::vector<int> statuses, int otherwise, std::optional<SinkTls> tls, uint16_t port)
    : state_(std::make_shared<State>()) {
  state_->statuses = std::move(statuses);
  state_->otherwise = otherwise;
  if (tls) {
    state_->tls.emplace(asio::ssl::context::tls_server);
    state_->tls->use_certificate_chain_file(tls->certificate.string());
    state_->tls->use_private_key_file(tls->private_key.string(), asio::ssl::context::pem);
  }
  const tcp::endpoint endpoint(asio::ip::make_address("127.0.0.1"), port);
  state_->acceptor.open(endpoint.protocol());
  state_->acceptor.set_option(tcp::acceptor::reuse_address(true));
  state_->acceptor.bind(endpoint);
  state_->acceptor.listen();
  port_ = state_->acceptor.local_endpoint().port();
  state_->accept();
  thread_ = std::thread([state = state_] { state->io.run(); });
}

HttpSink::~HttpSink() {
  state_->io.stop();
  if (thread_.joinable()) thread_.join();
}

std::vector<ReceivedRequest> HttpSink::requests() {
  std::lock_guard lock(state_->mutex);
  return state_->requests;
}

bool HttpSink::wait_requests(size_t count, std::chrono::milliseconds timeout) {
  std::unique_lock lock(state_->mutex);
  return state_->changed.wait_for(lock, timeout, [&] { return state_->requests.size() >= count; });
}

}  // namespace gpufleet::testing
