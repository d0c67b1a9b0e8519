#include "common/http_client.hpp"

#include <algorithm>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/use_awaitable.hpp>
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

template <typename Stream>
asio::awaitable<void> exchange(Stream& stream, const Request& request, uint64_t max_body, HttpResult& result) {
  co_await http::async_write(stream, request, asio::use_awaitable);
  beast::flat_buffer buffer;
  http::response_parser<http::string_body> parser;
  parser.body_limit(max_body);
  co_await http::async_read(stream, buffer, parser, asio::use_awaitable);
  auto response = parser.release();
  result.status = static_cast<int>(response.result_int());
  result.body = std::move(response.body());
  for (const auto& field : response) {
    std::string name(field.name_string());
    std::transform(name.begin(), name.end(), name.begin(), [](unsigned char c) { return std::tolower(c); });
    result.headers[name] = std::string(field.value());
  }
}

asio::awaitable<void> call(const HttpEndpoint& endpoint, const Request& request, asio::ssl::context* tls,
                           uint64_t max_body, HttpResult& result) {
  auto executor = co_await asio::this_coro::executor;
  tcp::resolver resolver(executor);
  auto addresses = co_await resolver.async_resolve(endpoint.host, std::to_string(endpoint.port), asio::use_awaitable);
  if (tls == nullptr) {
    beast::tcp_stream stream(executor);
    co_await stream.async_connect(addresses, asio::use_awaitable);
    co_await exchange(stream, request, max_body, result);
    beast::error_code ignored;
    stream.socket().shutdown(tcp::socket::shutdown_both, ignored);
  } else {
    beast::ssl_stream<beast::tcp_stream> stream(executor, *tls);
    boost::system::error_code not_an_address;
    asio::ip::make_address(endpoint.host, not_an_address);
    if (not_an_address) SSL_set_tlsext_host_name(stream.native_handle(), endpoint.host.c_str());  // SNI: names only
    stream.set_verify_mode(asio::ssl::verify_peer);
    stream.set_verify_callback(asio::ssl::host_name_verification(endpoint.host));
    co_await beast::get_lowest_layer(stream).async_connect(addresses, asio::use_awaitable);
    co_await stream.async_handshake(asio::ssl::stream_base::client, asio::use_awaitable);
    co_await exchange(stream, request, max_body, result);
  }
}

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
  if (!request.body().empty() || verb == http::verb::post || verb == http::verb::put) request.prepare_payload();

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

  HttpResult result;
  asio::io_context io(1);
  bool done = false;
  asio::co_spawn(io, call(endpoint, request, tls ? &*tls : nullptr, options.max_body_bytes, result),
                 [&](std::exception_ptr failure) {
                   done = true;
                   if (!failure) return;
                   result.status = 0;
                   try {
                     std::rethrow_exception(failure);
                   } catch (const boost::system::system_error& error) {
                     result.error = error.code().message();
                   } catch (const std::exception& error) {
                     result.error = error.what();
                   }
                 });
  // Run in slices so that a cancel is seen within 100 ms; what is still pending dies with the io_context.
  const auto deadline = std::chrono::steady_clock::now() + options.timeout;
  while (!done && !io.stopped() && !(options.cancel && options.cancel->load())) {
    const auto left = deadline - std::chrono::steady_clock::now();
    if (left <= std::chrono::steady_clock::duration::zero()) break;
    io.run_for(std::min<std::chrono::steady_clock::duration>(std::chrono::milliseconds(100), left));
  }
  if (done) return result;
  if (options.cancel && options.cancel->load()) return HttpResult{0, "", {}, "cancelled"};
  return HttpResult{0, "", {}, "no answer within " + std::to_string(options.timeout.count()) + " ms"};
}

}  // namespace gpufleet
