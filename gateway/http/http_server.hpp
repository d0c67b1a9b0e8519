#pragma once
// The HTTP/1.1 transport (Boost.Beast): accepts connections, reads one request at a time with header and
// body deadlines and a body size limit, hands it to a handler and writes whatever response the handler
// sends back, possibly later (handlers are asynchronous). Malformed or oversized requests are answered
// with a JSON error and the connection is closed; no error escapes the event loop.

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <string>

namespace boost::asio::ssl {
class context;
}

namespace gpufleet::gateway {

namespace http = boost::beast::http;
using Request = http::request<http::string_body>;
using StringResponse = http::response<http::string_body>;
using FileResponse = http::response<http::file_body>;

// A response body written piece by piece until the server ends it or the client goes away: server-sent
// events. Event loop only.
class BodyStream {
 public:
  virtual ~BodyStream() = default;
  // Queued and written in order. A client that reads too slowly to keep up is cut off.
  virtual void write(std::string data) = 0;
  // Closes the connection once what is queued has been written.
  virtual void end() = 0;
  virtual bool open() const = 0;
};

// Sends the one response to a request. Safe to call from the event loop only, at most once.
class Responder {
 public:
  virtual ~Responder() = default;
  virtual void send(StringResponse response) = 0;
  virtual void send_file(FileResponse response) = 0;
  // Sends `head` (status and headers; its body is ignored) and answers the stream for the body, which ends
  // with the connection.
  virtual std::shared_ptr<BodyStream> stream(StringResponse head) = 0;
  virtual bool connection_open() const = 0;
  // Calls `gone` (once, on the event loop) if the client closes its connection before the response is sent,
  // so that a wait held for it stops at once instead of at its timeout. The connection is closed then and
  // nothing sent later reaches it. A pipelined request behind this one is read as data, not as a close.
  virtual void on_client_gone(std::function<void()> gone) = 0;
};

using Handler = std::function<void(Request request, std::shared_ptr<Responder> responder)>;

struct HttpLimits {
  size_t max_body_bytes = 1 << 20;
  // Paths whose bodies may be larger (uploads): path -> limit.
  std::map<std::string, size_t> body_bytes_by_path;
  std::chrono::milliseconds header_timeout{10000};
  std::chrono::milliseconds body_timeout{30000};
  std::chrono::milliseconds idle_timeout{60000};
  // Connections open at once (MAX_CONNECTIONS); past it a new one is answered 503 and closed.
  size_t max_connections = 10000;
  // What a streamed response (server-sent events) may hold unsent for a slow client; past it the client is
  // cut off with a final comment.
  size_t max_stream_queued_bytes = 1 << 20;
  // Bytes read ahead of the parser: bounds a chunk-size line, chunk extensions and trailers, which Beast
  // buffers whole.
  size_t max_read_buffer_bytes = 256 * 1024;
};

// A JSON response with the server's common headers.
StringResponse json_response(unsigned status, std::string body, unsigned version, bool keep_alive);
struct ApiError;
// The JSON error body with its status (and Retry-After for 429 and 503).
StringResponse error_response(const ApiError& error);

// A TLS server context (TLS 1.2 and later) from PEM files; throws ConfigError naming what is wrong.
std::shared_ptr<boost::asio::ssl::context> make_server_tls(const std::string& certificate_file,
                                                           const std::string& key_file);

class HttpServer {
 public:
  // With `tls`, every connection is HTTPS; plain HTTP on the same port is dropped at the handshake.
  HttpServer(boost::asio::io_context& io, const std::string& host, uint16_t port, HttpLimits limits,
             Handler handler, std::shared_ptr<boost::asio::ssl::context> tls = nullptr);
  void start();
  void stop();
  uint16_t port() const;

 private:
  void accept();

  boost::asio::io_context& io_;
  boost::asio::ip::tcp::acceptor acceptor_;
  boost::asio::steady_timer accept_pause_;
  HttpLimits limits_;
  std::shared_ptr<size_t> open_connections_ = std::make_shared<size_t>(0);  // event loop only
  std::shared_ptr<Handler> handler_;
  std::shared_ptr<boost::asio::ssl::context> tls_;
};

}  // namespace gpufleet::gateway
