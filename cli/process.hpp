#pragma once
// A child process the launcher owns: started with its own environment and log file, signalled, reaped.
// The destructor kills what is still running, so no test or launcher leaves orphans behind.

#include <sys/types.h>

#include <chrono>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace gpufleet::cli {

class Process {
 public:
  Process() = default;
  ~Process();
  Process(Process&& other) noexcept;
  Process& operator=(Process&& other) noexcept;
  Process(const Process&) = delete;
  Process& operator=(const Process&) = delete;

  // Starts `argv` with the current environment plus `env`, stdout and stderr appended to `log_path`.
  // Throws std::runtime_error when it cannot be started.
  static Process spawn(const std::vector<std::string>& argv, const std::map<std::string, std::string>& env,
                       const std::string& log_path);

  pid_t pid() const { return pid_; }
  bool running();
  void signal(int signal_number);
  // Waits for the exit; nullopt on timeout. Returns the exit status as from waitpid.
  std::optional<int> wait(std::chrono::milliseconds timeout);
  // SIGTERM, then SIGKILL if it has not exited within `grace`.
  void stop(std::chrono::milliseconds grace);

 private:
  pid_t pid_ = -1;
  std::optional<int> status_;
};

// A loopback TCP port that was free a moment ago, chosen below the kernel's ephemeral range: a port the
// kernel hands out (bind to port 0) is also what it gives outgoing connections as their source port, and
// a client still reconnecting from an earlier test could take it before the server binds it (seen in CI:
// "Address already in use"). Never the same port twice in one process.
uint16_t free_port();

}  // namespace gpufleet::cli
