#include "gateway/http/http_server.hpp"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <spdlog/spdlog.h>
#include <sys/socket.h>

#include <algorithm>
#include <array>
#include <boost/asio/ssl.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/beast/ssl.hpp>
#include <deque>
#include <optional>

#include "common/error.hpp"
#include "gateway/api.hpp"

namespace gpufleet::gateway {

namespace beast = boost::beast;
namespace asio = boost::asio;
using tcp = asio::ip::tcp;

StringResponse json_response(unsigned status, std::string body, unsigned version, bool keep_alive) {
  StringResponse response{static_cast<http::status>(status), version};
  response.set(http::field::server, "gpufleet");
  response.set(http::field::content_type, "application/json");
  response.keep_alive(keep_alive);
  response.body() = std::move(body);
  response.prepare_payload();
  return response;
}

StringResponse error_response(const ApiError& error) {
  auto response = json_response(static_cast<unsigned>(error.status), error_body(error), 11, true);
  if (error.status == 503 || error.status == 429) response.set(http::field::retry_after, "1");
  return response;
}

namespace {

using PlainStream = beast::tcp_stream;
using TlsStream = beast::ssl_stream<beast::tcp_stream>;

// One connection: read a request, wait for the handler's response, write it, repeat while keep-alive.
// `Stream` is a plain TCP stream or a TLS stream over one; TLS adds a handshake first and a close_notify
// last.
template <typename Stream>
class Session : public std::enable_shared_from_this<Session<Stream>> {
  static constexpr bool kTls = std::is_same_v<Stream, TlsStream>;
  using std::enable_shared_from_this<Session<Stream>>::shared_from_this;
  using std::enable_shared_from_this<Session<Stream>>::weak_from_this;

 public:
  Session(tcp::socket socket, const HttpLimits& limits, std::shared_ptr<Handler> handler,
          std::shared_ptr<size_t> connections) requires(!kTls)
      : stream_(std::move(socket)),
        deadline_(stream_.get_executor()),
        client_poll_(stream_.get_executor()),
        buffer_(limits.max_read_buffer_bytes),
        limits_(limits),
        handler_(std::move(handler)),
        connections_(std::move(connections)) {
    ++*connections_;
  }
  Session(tcp::socket socket, asio::ssl::context& tls, const HttpLimits& limits,
          std::shared_ptr<Handler> handler, std::shared_ptr<size_t> connections) requires(kTls)
      : stream_(std::move(socket), tls),
        deadline_(stream_.get_executor()),
        client_poll_(stream_.get_executor()),
        buffer_(limits.max_read_buffer_bytes),
        limits_(limits),
        handler_(std::move(handler)),
        connections_(std::move(connections)) {
    ++*connections_;
  }
  ~Session() { --*connections_; }

  void start() {
    if constexpr (kTls) {
      // The handshake counts against the header deadline: a client that connects and says nothing is dropped.
      arm_read_deadline(limits_.header_timeout);
      stream_.async_handshake(
          asio::ssl::stream_base::server, [self = shared_from_this()](beast::error_code ec) {
            self->disarm_read_deadline();
            if (ec) return self->close_now();  // not TLS, or no acceptable protocol: nothing to answer on
            self->read_header();
          });
    } else {
      read_header();
    }
  }

 private:
  class SessionResponder : public Responder {
   public:
    explicit SessionResponder(std::shared_ptr<Session> session) : session_(std::move(session)) {}
    // A request whose handler gave up without answering (a completion threw) still gets an answer.
    ~SessionResponder() override {
      try {
        if (auto session = take(); session && !session->client_gone_) {
          session->write(json_response(500, error_body(api_error(ErrorCode::kInternal, "internal error")),
                                       session->version_, false));
        }
      } catch (...) {  // NOLINT(bugprone-empty-catch)
        // Out of memory while answering: the connection is dropped, as it would be after its timeout.
      }
    }
    void send(StringResponse response) override {
      if (auto session = take()) session->write(std::move(response));
    }
    void send_file(FileResponse response) override {
      if (auto session = take()) session->write(std::move(response));
    }
    std::shared_ptr<BodyStream> stream(StringResponse head) override {
      auto session = take();
      if (!session) return nullptr;
      return session->start_stream(std::move(head));
    }
    bool connection_open() const override { return session_ && session_->socket().is_open(); }
    void on_client_gone(std::function<void()> gone) override {
      if (session_) session_->watch_client(std::move(gone));
    }

   private:
    std::shared_ptr<Session> take() { return std::exchange(session_, nullptr); }
    std::shared_ptr<Session> session_;
  };

  // The body of a streamed response: raw writes on the socket after a head without a length (the body ends
  // with the connection), and a read that notices the client closing.
  class SessionStream : public BodyStream, public std::enable_shared_from_this<SessionStream> {
   public:
    explicit SessionStream(std::shared_ptr<Session> session) : session_(std::move(session)) {}
    void write(std::string data) override {
      if (!open_) return;
      constexpr size_t kMaxQueued = 1024;
      if (queue_.size() >= kMaxQueued ||
          queued_bytes_ + data.size() > session_->limits_.max_stream_queued_bytes) {
        // The client does not keep up: what is queued goes out, then a last comment says why, then the end.
        if (!cut_off_) {
          cut_off_ = true;
          queue_.push_back(": cut off: the client read too slowly\n\n");
          ending_ = true;
          if (!writing_) write_next();
        }
        return;
      }
      queued_bytes_ += data.size();
      queue_.push_back(std::move(data));
      if (!writing_) write_next();
    }
    void end() override {
      if (cut_off_) return;
      ending_ = true;
      if (!writing_) finish();
    }
    bool open() const override { return open_; }

    void start(std::string head) {
      watch_for_close();
      write(std::move(head));
    }

   private:
    void write_next() {
      if (queue_.empty()) {
        writing_ = false;
        if (ending_) finish();
        return;
      }
      writing_ = true;
      auto data = std::make_shared<std::string>(std::move(queue_.front()));
      queue_.pop_front();
      queued_bytes_ -= std::min(queued_bytes_, data->size());
      // this->: the enclosing Session's shared_from_this would hide this class's own (a dependent base).
      asio::async_write(session_->stream_, asio::buffer(*data),
                        [self = this->shared_from_this(), data](beast::error_code ec, size_t) {
                          if (ec) return self->finish();
                          self->write_next();
                        });
    }
    void watch_for_close() {
      session_->stream_.async_read_some(asio::buffer(scratch_),
                                        [self = this->shared_from_this()](beast::error_code ec, size_t) {
                                          if (ec) return self->finish();
                                          self->watch_for_close();  // a client may send anything; ignored
                                        });
    }
    void finish() {
      if (!open_) return;
      open_ = false;
      queue_.clear();
      session_->close();
    }

    std::shared_ptr<Session> session_;
    std::deque<std::string> queue_;
    std::array<char, 256> scratch_{};
    size_t queued_bytes_ = 0;
    bool cut_off_ = false;
    bool writing_ = false;
    bool ending_ = false;
    bool open_ = true;
  };

  tcp::socket& socket() { return beast::get_lowest_layer(stream_).socket(); }
  beast::tcp_stream& transport() { return beast::get_lowest_layer(stream_); }

  std::shared_ptr<BodyStream> start_stream(const StringResponse& head) {
    stop_watching_client();  // the stream watches for the close itself
    transport().expires_never();
    std::string text =
        "HTTP/1.1 " + std::to_string(head.result_int()) + " " + std::string(head.reason()) + "\r\n";
    for (const auto& field : head) {
      if (field.name() == http::field::content_length || field.name() == http::field::connection) continue;
      text += std::string(field.name_string()) + ": " + std::string(field.value()) + "\r\n";
    }
    text += "Connection: close\r\n\r\n";
    auto body = std::make_shared<SessionStream>(shared_from_this());
    body->start(std::move(text));
    return body;
  }

  void read_header() {
    parser_.emplace();
    // Beast checks a Content-Length against the limit while it reads the header, before on_header knows the
    // path: start from the largest limit of any path and narrow it there.
    body_limit_ = limits_.max_body_bytes;
    for (const auto& [path, limit] : limits_.body_bytes_by_path) body_limit_ = std::max(body_limit_, limit);
    parser_->body_limit(body_limit_);
    parser_->header_limit(16 * 1024);
    arm_read_deadline(requests_ == 0 ? limits_.header_timeout : limits_.idle_timeout);
    http::async_read_header(
        stream_, buffer_, *parser_,
        [self = shared_from_this()](beast::error_code ec, size_t) { self->on_header(ec); });
  }

  void on_header(beast::error_code ec) {
    if (ec) return fail_read(ec);
    const auto raw_target = parser_->get().target();
    const std::string_view target(raw_target.data(), raw_target.size());
    auto route = limits_.body_bytes_by_path.find(std::string(target.substr(0, target.find('?'))));
    body_limit_ = route == limits_.body_bytes_by_path.end() ? limits_.max_body_bytes : route->second;
    parser_->body_limit(body_limit_);
    if (auto length = parser_->content_length(); length && *length > body_limit_) {
      return reject_unread_body(api_error(ErrorCode::kPayloadTooLarge, "body of " + std::to_string(*length) +
                                                                           " bytes is over the limit of " +
                                                                           std::to_string(body_limit_)));
    }
    arm_read_deadline(limits_.body_timeout);
    http::async_read(
        stream_, buffer_, *parser_,
        [self = shared_from_this()](beast::error_code read_ec, size_t) { self->on_body(read_ec); });
  }

  void on_body(beast::error_code ec) {
    if (ec) return fail_read(ec);
    disarm_read_deadline();
    ++requests_;
    Request request = parser_->release();
    version_ = request.version();
    keep_alive_ = request.keep_alive();
    try {
      // A handler that throws drops its responder, which answers 500 (SessionResponder's destructor).
      (*handler_)(std::move(request), std::make_shared<SessionResponder>(shared_from_this()));
    } catch (const std::exception& error) {
      spdlog::error("request handler threw: {}", error.what());
    }
  }

  // Read deadlines run on a timer of the session's own rather than the stream's expiry, which closes the
  // socket: a client that stalls mid-request is owed a 408 on it.
  void arm_read_deadline(std::chrono::milliseconds timeout) {
    const uint64_t generation = ++deadline_generation_;
    read_timed_out_ = false;
    transport().expires_never();  // the expiry armed for the previous write must not cut this read short
    deadline_.expires_after(timeout);
    deadline_.async_wait([weak = weak_from_this(), generation](beast::error_code ec) {
      auto self = weak.lock();
      if (ec || !self || generation != self->deadline_generation_) return;
      self->read_timed_out_ = true;
      beast::error_code ignored;
      self->socket().cancel(ignored);
    });
  }

  // A later expiry of the timer (already queued, or a cancel that came too late) is ignored by generation.
  void disarm_read_deadline() {
    ++deadline_generation_;
    deadline_.cancel();
  }

  void fail_read(beast::error_code ec) {
    disarm_read_deadline();
    if (ec == asio::error::operation_aborted && read_timed_out_) {
      // A client that stalls mid-request gets told why; an idle keep-alive connection is just closed.
      if (parser_ && parser_->got_some()) {
        return reject(api_error(ErrorCode::kTimeout, "request not received in time"), 408);
      }
      return close();
    }
    if (ec == http::error::end_of_stream || ec == asio::error::eof || ec == asio::error::connection_reset ||
        ec == asio::error::operation_aborted || ec == asio::ssl::error::stream_truncated) {
      return close();
    }
    if (ec == http::error::body_limit) {
      return reject_unread_body(api_error(
          ErrorCode::kPayloadTooLarge, "body over the limit of " + std::to_string(body_limit_) + " bytes"));
    }
    if (ec == http::error::header_limit) {
      return reject(api_error(ErrorCode::kInvalidRequest, "request headers too large"), 431);
    }
    reject(api_error(ErrorCode::kInvalidRequest, "malformed HTTP request: " + ec.message()));
  }

  void reject(const ApiError& error, unsigned status = 0) {
    write(json_response(status != 0 ? status : static_cast<unsigned>(error.status), error_body(error), 11,
                        false));
  }

  // A refusal while the client is still sending its body (413): the connection is drained before it closes.
  void reject_unread_body(const ApiError& error) {
    drain_before_close_ = true;
    reject(error);
  }

  // While a handler holds the response: a readable socket is either the client's close or a pipelined
  // request. The kernel's view of the connection tells them apart without consuming what was sent, so
  // TLS records and pipelined requests stay in place for the next read.
  void watch_client(std::function<void()> gone) {
    if (client_gone_) return;
    on_client_gone_ = std::move(gone);
    const uint64_t generation = ++watch_generation_;
    socket().async_wait(tcp::socket::wait_read,
                        [self = shared_from_this(), generation](beast::error_code ec) {
                          if (!ec) self->check_client(generation);
                        });
  }

  void check_client(uint64_t generation) {
    if (generation != watch_generation_ || !on_client_gone_) return;
    if (peer_closed()) return client_left();
    // Still connected with bytes waiting (a pipelined request): the next look is on a timer, as the socket
    // stays readable until that request is read.
    client_poll_.expires_after(std::chrono::milliseconds(500));
    client_poll_.async_wait([self = shared_from_this(), generation](beast::error_code ec) {
      if (!ec) self->check_client(generation);
    });
  }

  // The peer has sent its FIN (CLOSE_WAIT) or reset the connection: it will read nothing more. A client that
  // half-closes after its request counts as gone, as nginx and most servers count it.
  bool peer_closed() {
    tcp_info info{};
    socklen_t length = sizeof info;
    if (getsockopt(socket().native_handle(), IPPROTO_TCP, TCP_INFO, &info, &length) != 0) return true;
    return info.tcpi_state != TCP_ESTABLISHED;
  }

  void client_left() {
    client_gone_ = true;
    auto gone = std::exchange(on_client_gone_, nullptr);
    stop_watching_client();
    close_now();
    if (gone) gone();
  }

  void stop_watching_client() {
    ++watch_generation_;
    on_client_gone_ = nullptr;
    client_poll_.cancel();
  }

  template <typename Response>
  void write(Response response) {
    if (client_gone_) return;
    stop_watching_client();
    if (!keep_alive_) response.keep_alive(false);
    auto shared = std::make_shared<Response>(std::move(response));
    const bool close_after = !shared->keep_alive();
    transport().expires_after(limits_.body_timeout);
    http::async_write(stream_, *shared,
                      [self = shared_from_this(), shared, close_after](beast::error_code ec, size_t) {
                        if (ec || close_after) return self->close();
                        self->read_header();
                      });
  }

  void close() {
    if constexpr (kTls) {
      // close_notify tells the client the body is complete (a streamed body ends with the connection).
      if (closing_) return;
      closing_ = true;
      transport().expires_after(std::chrono::seconds(2));
      stream_.async_shutdown([self = shared_from_this()](beast::error_code) { self->close_now(); });
    } else {
      close_now();
    }
  }

  void close_now() {
    beast::error_code ignored;
    socket().shutdown(tcp::socket::shutdown_send, ignored);
    if (std::exchange(drain_before_close_, false)) return drain();
    transport().close();
  }

  // Closing a socket with unread bytes resets the connection, and the reset can destroy the answer in the
  // client's receive buffer before it reads it: a client that writes its whole body before reading (most
  // HTTP libraries) then sees no answer at all instead of the 413. So, as nginx's lingering close does, the
  // rest of the body is read and discarded, for at most kDrainTime and kDrainBytes, and then the socket
  // closes.
  void drain() {
    static constexpr auto kDrainTime = std::chrono::seconds(2);
    static constexpr size_t kDrainBytes = 64u << 20;
    if (!drain_buffer_) {
      drain_buffer_ = std::make_unique<std::array<char, 16384>>();
      drained_bytes_ = 0;
      transport().expires_after(kDrainTime);  // the stream closes itself when it passes
    }
    transport().async_read_some(asio::buffer(*drain_buffer_),
                                [self = shared_from_this()](beast::error_code ec, size_t n) {
                                  self->drained_bytes_ += n;
                                  if (ec || self->drained_bytes_ >= kDrainBytes) {
                                    self->drain_buffer_.reset();
                                    beast::error_code ignored;
                                    self->transport().socket().close(ignored);
                                    return;
                                  }
                                  self->drain();
                                });
  }

  Stream stream_;
  bool closing_ = false;
  asio::steady_timer deadline_;
  uint64_t deadline_generation_ = 0;
  bool read_timed_out_ = false;
  // Responder::on_client_gone: the callback, the timer that re-checks, and a generation that retires both.
  std::function<void()> on_client_gone_;
  asio::steady_timer client_poll_;
  uint64_t watch_generation_ = 0;
  bool client_gone_ = false;
  beast::flat_buffer buffer_;
  std::optional<http::request_parser<http::string_body>> parser_;
  size_t body_limit_ = 0;            // the current request's, by its path
  bool drain_before_close_ = false;  // the client may still be sending a body we refused
  std::unique_ptr<std::array<char, 16384>> drain_buffer_;  // only while draining
  size_t drained_bytes_ = 0;
  const HttpLimits& limits_;
  std::shared_ptr<Handler> handler_;
  std::shared_ptr<size_t> connections_;  // the server's count of open sessions
  unsigned version_ = 11;
  bool keep_alive_ = true;
  uint64_t requests_ = 0;
};

}  // namespace

std::shared_ptr<asio::ssl::context> make_server_tls(const std::string& certificate_file,
                                                    const std::string& key_file) {
  auto tls = std::make_shared<asio::ssl::context>(asio::ssl::context::tls_server);
  // TLS 1.2 and 1.3 only.
  tls->set_options(asio::ssl::context::default_workarounds | asio::ssl::context::no_sslv2 |
                   asio::ssl::context::no_sslv3 | asio::ssl::context::no_tlsv1 |
                   asio::ssl::context::no_tlsv1_1 | asio::ssl::context::single_dh_use);
  boost::system::error_code error;
  tls->use_certificate_chain_file(certificate_file, error);
  if (error) throw ConfigError("TLS_CERT_FILE " + certificate_file + ": " + error.message());
  tls->use_private_key_file(key_file, asio::ssl::context::pem, error);
  if (error) throw ConfigError("TLS_KEY_FILE " + key_file + ": " + error.message());
  if (SSL_CTX_check_private_key(tls->native_handle()) != 1) {
    throw ConfigError("TLS_KEY_FILE " + key_file + " does not belong to the certificate in " +
                      certificate_file);
  }
  return tls;
}

HttpServer::HttpServer(asio::io_context& io, const std::string& host, uint16_t port, HttpLimits limits,
                       Handler handler, std::shared_ptr<asio::ssl::context> tls)
    : io_(io),
      acceptor_(io),
      accept_pause_(io),
      limits_(std::move(limits)),
      handler_(std::make_shared<Handler>(std::move(handler))),
      tls_(std::move(tls)) {
  tcp::endpoint endpoint(asio::ip::make_address(host), port);
  acceptor_.open(endpoint.protocol());
  acceptor_.set_option(asio::socket_base::reuse_address(true));
  acceptor_.bind(endpoint);
  acceptor_.listen(asio::socket_base::max_listen_connections);
}

uint16_t HttpServer::port() const {
  return acceptor_.local_endpoint().port();
}

void HttpServer::start() {
  accept();
}

void HttpServer::stop() {
  beast::error_code ignored;
  acceptor_.close(ignored);
  accept_pause_.cancel();
}

void HttpServer::accept() {
  acceptor_.async_accept(io_, [this](beast::error_code ec, tcp::socket socket) {
    if (ec == asio::error::operation_aborted) return;
    if (!ec) {
      socket.set_option(tcp::no_delay(true), ec);
      if (*open_connections_ >= limits_.max_connections) {
        // Over the cap: a short answer, written without waiting (it fits the socket buffer), and the door
        // shut.
        static const std::string kFull = [] {
          const std::string body =
              error_body(api_error(ErrorCode::kUnavailable, "the gateway holds all the connections it may"));
          return "HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\nRetry-After: 1\r\n"
                 "Connection: close\r\nContent-Length: " +
                 std::to_string(body.size()) + "\r\n\r\n" + body;
        }();
        if (!tls_) socket.write_some(asio::buffer(kFull), ec);
        socket.close(ec);
        return accept();
      }
      if (tls_) {
        std::make_shared<Session<TlsStream>>(std::move(socket), *tls_, limits_, handler_, open_connections_)
            ->start();
      } else {
        std::make_shared<Session<PlainStream>>(std::move(socket), limits_, handler_, open_connections_)
            ->start();
      }
      return accept();
    }
    // Out of file descriptors and the like: pause instead of spinning on the same error.
    spdlog::warn("accept failed: {}", ec.message());
    accept_pause_.expires_after(std::chrono::milliseconds(100));
    accept_pause_.async_wait([this](beast::error_code wait_ec) {
      if (!wait_ec) accept();
    });
  });
}

}  // namespace gpufleet::gateway
