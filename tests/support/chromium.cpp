#include "tests/support/chromium.hpp"

#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/websocket.hpp>
#include <fstream>
#include <stdexcept>
#include <thread>

#include "cli/http_client.hpp"

namespace gpufleet::testing {

namespace beast = boost::beast;
namespace asio = boost::asio;

struct HeadlessChromium::Connection {
  asio::io_context io;
  beast::websocket::stream<asio::ip::tcp::socket> socket{io};
};

namespace {

std::string base64_decode(const std::string& text) {
  static const std::string kAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  int value = 0, bits = -8;
  for (char c : text) {
    const auto at = kAlphabet.find(c);
    if (at == std::string::npos) continue;
    value = (value << 6) + static_cast<int>(at);
    bits += 6;
    if (bits >= 0) {
      out.push_back(static_cast<char>((value >> bits) & 0xFF));
      bits -= 8;
    }
  }
  return out;
}

}  // namespace

HeadlessChromium::HeadlessChromium(const std::string& url, const std::filesystem::path& dir,
                                   const std::vector<std::string>& extra_flags) {
  const uint16_t port = cli::free_port();
  std::vector<std::string> command{"chromium",
                                   "--headless=new",
                                   "--no-sandbox",
                                   "--disable-gpu",
                                   "--disable-dev-shm-usage",
                                   "--no-first-run",
                                   "--hide-scrollbars",
                                   "--window-size=1280,800",
                                   "--user-data-dir=" + (dir / "profile").string(),
                                   "--remote-debugging-address=127.0.0.1",
                                   "--remote-debugging-port=" + std::to_string(port),
                                   "--remote-allow-origins=*"};
  command.insert(command.end(), extra_flags.begin(), extra_flags.end());
  command.push_back(url);
  browser_ = cli::Process::spawn(command, {}, (dir / "chromium.log").string());
  std::string socket_path;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (socket_path.empty()) {
    if (std::chrono::steady_clock::now() > deadline)
      throw std::runtime_error("chromium's DevTools did not answer");
    auto list = cli::http_request("GET", "127.0.0.1", port, "/json/list", "", "application/json",
                                  std::chrono::milliseconds(1000));
    auto pages = nlohmann::json::parse(list.body.empty() ? "[]" : list.body, nullptr, false);
    if (pages.is_array()) {
      for (const auto& page : pages) {
        if (page.value("type", "") == "page" && page.value("url", "") == url) {
          const std::string ws = page.value("webSocketDebuggerUrl", "");
          socket_path = ws.substr(ws.find('/', std::string("ws://").size()));
        }
      }
    }
    if (socket_path.empty()) std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  connection_ = std::make_unique<Connection>();
  asio::ip::tcp::resolver resolver(connection_->io);
  asio::connect(connection_->socket.next_layer(), resolver.resolve("127.0.0.1", std::to_string(port)));
  connection_->socket.handshake("127.0.0.1:" + std::to_string(port), socket_path);
}

HeadlessChromium::~HeadlessChromium() {
  if (connection_) {
    beast::error_code ignored;
    connection_->socket.close(beast::websocket::close_code::normal, ignored);
  }
  browser_.stop(std::chrono::milliseconds(3000));
}

nlohmann::json HeadlessChromium::call(const std::string& method, const nlohmann::json& params) {
  const int id = next_id_++;
  const std::string request = nlohmann::json{{"id", id}, {"method", method}, {"params", params}}.dump();
  connection_->socket.write(asio::buffer(request));
  while (true) {
    beast::flat_buffer buffer;
    connection_->socket.read(buffer);
    auto message = nlohmann::json::parse(beast::buffers_to_string(buffer.data()), nullptr, false);
    if (message.is_object() && message.value("id", -1) == id) {
      if (message.contains("error")) throw std::runtime_error(method + ": " + message["error"].dump());
      return message["result"];
    }
  }
}

nlohmann::json HeadlessChromium::evaluate(const std::string& expression) {
  auto result = call("Runtime.evaluate", {{"expression", expression}, {"returnByValue", true}});
  if (result.contains("exceptionDetails"))
    throw std::runtime_error("page threw: " + result["exceptionDetails"].dump());
  return result["result"].value("value", nlohmann::json());
}

nlohmann::json HeadlessChromium::evaluate_async(const std::string& expression) {
  auto result =
      call("Runtime.evaluate", {{"expression", expression}, {"returnByValue", true}, {"awaitPromise", true}});
  if (result.contains("exceptionDetails"))
    throw std::runtime_error("page threw: " + result["exceptionDetails"].dump());
  return result["result"].value("value", nlohmann::json());
}

bool HeadlessChromium::wait_for(const std::string& expression, std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (evaluate("Boolean(" + expression + ")") == true) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  return false;
}

void HeadlessChromium::screenshot(const std::filesystem::path& file) {
  auto result = call("Page.captureScreenshot", {{"format", "png"}});
  std::ofstream out(file, std::ios::binary);
  out << base64_decode(result.value("data", ""));
}

}  // namespace gpufleet::testing
