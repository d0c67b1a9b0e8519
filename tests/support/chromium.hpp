#pragma once
// Drives a real page in headless Chromium (Debian's `chromium`) through the DevTools protocol, for tests of
// the dashboard: evaluate JavaScript in the page, wait for a condition, take a screenshot.
#include <chrono>
#include <filesystem>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "cli/process.hpp"

namespace gpufleet::testing {

class HeadlessChromium {
 public:
  // Opens `url` in a fresh profile under `dir` (the browser's log lands there too). Throws when the browser
  // does not start or its DevTools endpoint does not answer.
  // `extra_flags` go on the browser's command line (say, WebRTC and autoplay switches).
  HeadlessChromium(const std::string& url, const std::filesystem::path& dir,
                   const std::vector<std::string>& extra_flags = {});
  ~HeadlessChromium();

  // The value of a JavaScript expression in the page (returned by value).
  nlohmann::json evaluate(const std::string& expression);
  // The value a Promise-valued expression settles to (an async function's call, say); throws if it rejects.
  nlohmann::json evaluate_async(const std::string& expression);
  // Polls `expression` until it is true; false on timeout.
  bool wait_for(const std::string& expression, std::chrono::milliseconds timeout);
  // A PNG of the page as shown.
  void screenshot(const std::filesystem::path& file);

 private:
  nlohmann::json call(const std::string& method, const nlohmann::json& params);

  cli::Process browser_;
  struct Connection;
  std::unique_ptr<Connection> connection_;
  int next_id_ = 1;
};

}  // namespace gpufleet::testing
