#include "cli/http_client.hpp"

#include <cstdlib>

#include <algorithm>
#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

namespace gpufleet::cli {

namespace beast = boost::beast;
namespace http = beast::http;
namespace asio = boost::asio;

HttpResult http_request(const std::string& method, const std::string& host, uint16_t port, const std::string& target,
                        const std::string& body, const std::string& content_type, std::chrono::milliseconds timeout,
                        const std::map<std::string, std::string>& extra_headers) {
  HttpResult result;
  try {
    asio::io_context io;
    asio::ip::tcp::resolver resolver(io);
    beast::tcp_stream stream(io);
    stream.expires_after(timeout);
    stream.connect(resolver.resolve(host, std::to_string(port)));
    http::request<http::string_body> request{http::string_to_verb(method), target, 11};
    request.set(http::field::host, host);
    request.set(http::field::user_agent, "gpufleet-cli");
    // The gateway's API key, for fleets that require one (see gateway/api_keys.hpp).
    if (const char* key = std::getenv("GPUFLEET_API_KEY"); key != nullptr && *key != '\0') {
      request.set(http::field::authorization, std::string("Bearer ") + key);
    }
    if (!body.empty() || method == "POST") {
      request.set(http::field::content_type, content_type);
      request.body() = body;
    }
    for (const auto& [name, value] : extra_headers) request.set(name, value);
    request.prepare_payload();
    stream.expires_after(timeout);
    http::write(stream, request);
    beast::flat_buffer buffer;
    http::response_parser<http::string_body> parser;
    parser.body_limit(1ULL << 32);
    stream.expires_after(timeout);
    http::read(stream, buffer, parser);
    auto response = parser.release();
    result.status = static_cast<int>(response.result_int());
    result.body = std::move(response.body());
    for (const auto& field : response) {
      std::string name(field.name_string());
      std::transform(name.begin(), name.end(), name.begin(), [](unsigned char c) { return std::tolower(c); });
      result.headers[name] = std::string(field.value());
    }
    beast::error_code ignored;
    stream.socket().shutdown(asio::ip::tcp::socket::shutdown_both, ignored);
  } catch (const std::exception& error) {
    result.status = 0;
    result.error = error.what();
  }
  return result;
}

}  // namespace gpufleet::cli
