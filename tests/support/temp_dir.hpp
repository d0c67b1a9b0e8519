#pragma once
// A fresh folder under /tmp for one test, removed with everything in it when the test is done.
#include <unistd.h>

#include <filesystem>
#include <string>
#include <system_error>

namespace gpufleet::testing {

class TempDir {
 public:
  TempDir() {
    std::string pattern = "/tmp/gpufleet-test-XXXXXX";
    path_ = std::filesystem::path(::mkdtemp(pattern.data()));
  }
  ~TempDir() {
    std::error_code ignored;
    std::filesystem::remove_all(path_, ignored);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

}  // namespace gpufleet::testing
