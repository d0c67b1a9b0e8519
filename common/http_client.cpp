#include "common/http_client.hpp"

#include <algorithm>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <cctype>
#include <optional>

namespace gpufleet {

namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;
using Request = http::request<http::string_body>;

std::string host_header(const HttpEndpoint& endpoint) {
  std::string host = endpoint.host.find(':') != std::string::npos ? "[" + endpoint.host + "]" : endpoint.host;
  if (endpoint.port != (endpoint.tls ? 443 : 80)) host += ":" + std::to_string(endpoint.port);
  return host;
}

}  // namespace

HttpResult http_call(const HttpEndpoint& endpoint, std::string_view method, std::string_view target,
                     const std::vector<std::pair<std::string, std::string>>& headers, std::string body,
                     const HttpCallOptions& options) {
  const http::verb verb = http::string_to_verb(beast::string_view(method.data(), method.size()));
  if (verb == http::verb::unknown) return HttpResult{0, "", {}, "unknown HTTP method " + std::string(method)};
  Request request{verb, beast::string_view(target.data(), target.size()), 11};
  request.set(http::field::host, host_header(endpoint));
  request.set(http::field::user_agent, "gpufleet");
  for (const auto& [name, value] : headers) request.set(name, value);
  request.body() = std::move(body);
  if (!request.body().empty() || verb == http::verb::post || verb == http::verb::put)
    request.prepare_payload();

  std::optional<asio::ssl::context> tls;
  if (endpoint.tls) {
    tls.emplace(asio::ssl::context::tls_client);
    boost::system::error_code error;
    if (options.ca_file.empty()) {
      tls->set_default_verify_paths(error);
    } else {
      tls->load_verify_file(options.ca_file, error);
    }
    if (error) return HttpResult{0, "", {}, "cannot load CA certificates: " + error.message()};
  }

  // Everything below lives on this stack and runs inside io.run_for() here: a handler still pending when the
  // call gives up is destroyed with the io_context, never run.
  HttpResult result;
  bool done = false;
  asio::io_context io(1);
  tcp::resolver resolver(io);
  std::optional<beast::tcp_stream> plain;
  std::optional<beast::ssl_stream<beast::tcp_stream>> secure;
  if (tls) {
    secure.emplace(io, *tls);
    boost::system::error_code not_an_address;
    asio::ip::make_address(endpoint.host, not_an_address);
    if (not_an_address)
      SSL_set_tlsext_host_name(secure->native_handle(), endpoint.host.c_str());  // SNI: names only
    secure->set_verify_mode(asio::ssl::verify_peer);
    secure->set_verify_callback(asio::ssl::host_name_verification(endpoint.host));
  } else {
    plain.emplace(io);
  }
  beast::tcp_stream& transport = secure ? beast::get_lowest_layer(*secure) : *plain;
  beast::flat_buffer buffer;
  std::string streamed_body;  // a chunked body, when on_body_data takes it piece by piece
  auto on_chunk = [&](std::uint64_t, beast::string_view data, beast::error_code& error) -> std::size_t {
    const std::string_view piece(data.data(), data.size());
    if (streamed_body.size() + piece.size() > options.max_body_bytes) {
      error = http::error::body_limit;
      return 0;
    }
    streamed_body.append(piece);
    options.on_body_data(piece);
    return piece.size();
  };
  http::response_parser<http::string_body> parser;
  parser.body_limit(options.max_body_bytes);
  if (options.on_body_data) parser.on_chunk_body(on_chunk);

  auto fail = [&](const beast::error_code& error) {
    result.status = 0;
    result.error = error.message();
    done = true;
  };
  auto on_read = [&](beast::error_code error, size_t) {
    if (error) return fail(error);
    const bool streamed = parser.chunked() && options.on_body_data;
    auto response = parser.release();
    result.status = static_cast<int>(response.result_int());
    result.body = streamed ? std::move(streamed_body) : std::move(response.body());
    for (const auto& field : response) {
      std::string name(field.name_string());
      std::transform(name.begin(), name.end(), name.begin(), [](unsigned char c) { return std::tolower(c); });
      result.headers[name] = std::string(field.value());
    }
    done = true;
  };
  auto on_written = [&](beast::error_code error, size_t) {
    if (error) return fail(error);
    if (secure) return http::async_read(*secure, buffer, parser, on_read);
    http::async_read(*plain, buffer, parser, on_read);
  };
  auto send = [&] {
    if (secure) return http::async_write(*secure, request, on_written);
    http::async_write(*plain, request, on_written);
  };
  resolver.async_resolve(
      endpoint.host, std::to_string(endpoint.port),
      [&](beast::error_code error, const tcp::resolver::results_type& addresses) {
        if (error) return fail(error);
        std::vector<tcp::endpoint> allowed;
        for (const auto& entry : addresses) {
          if (!options.address_allowed || options.address_allowed(entry.endpoint().address())) {
            allowed.push_back(entry.endpoint());
          }
        }
        if (allowed.empty()) {
          result.status = 0;
          result.error = "the destination's addresses are not allowed";
          done = true;
          return;
        }
        transport.async_connect(allowed, [&](beast::error_code connect_error, const tcp::endpoint&) {
          if (connect_error) return fail(connect_error);
          if (!secure) return send();
          secure->async_handshake(asio::ssl::stream_base::client, [&](beast::error_code handshake_error) {
            if (handshake_error) return fail(handshake_error);
            send();
          });
        });
      });

  // Run in slices so that a cancel is seen within 100 ms.
  const auto deadline = std::chrono::steady_clock::now() + options.timeout;
  while (!done && !io.stopped() && !(options.cancel && options.cancel->load())) {
    const auto left = deadline - std::chrono::steady_clock::now();
    if (left <= std::chrono::steady_clock::duration::zero()) break;
    io.run_for(std::min<std::chrono::steady_clock::duration>(std::chrono::milliseconds(100), left));
  }
  if (done) {
    if (plain) {
      beast::error_code ignored;
      plain->socket().shutdown(tcp::socket::shutdown_both, ignored);
    }
    return result;
  }
  if (options.cancel && options.cancel->load()) return HttpResult{0, "", {}, "cancelled"};
  return HttpResult{0, "", {}, "no answer within " + std::to_string(options.timeout.count()) + " ms"};
}

}  // namespace gpufleet
