#include "cli/process.hpp"

#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <fstream>
#include <mutex>
#include <random>
#include <set>
#include <stdexcept>
#include <system_error>
#include <thread>
#include <utility>

extern char** environ;

namespace gpufleet::cli {

Process::~Process() {
  if (pid_ > 0 && running()) stop(std::chrono::milliseconds(2000));
}

Process::Process(Process&& other) noexcept : pid_(std::exchange(other.pid_, -1)), status_(other.status_) {}

Process& Process::operator=(Process&& other) noexcept {
  if (this != &other) {
    if (pid_ > 0 && running()) stop(std::chrono::milliseconds(2000));
    pid_ = std::exchange(other.pid_, -1);
    status_ = other.status_;
  }
  return *this;
}

Process Process::spawn(const std::vector<std::string>& argv, const std::map<std::string, std::string>& env,
                       const std::string& log_path) {
  std::map<std::string, std::string> merged;
  for (char** entry = environ; *entry != nullptr; ++entry) {
    std::string text(*entry);
    auto equals = text.find('=');
    if (equals != std::string::npos) merged[text.substr(0, equals)] = text.substr(equals + 1);
  }
  for (const auto& [key, value] : env) merged[key] = value;
  std::vector<std::string> env_strings;
  env_strings.reserve(merged.size());
  for (const auto& [key, value] : merged) env_strings.push_back(key + "=" + value);
  std::vector<char*> envp;
  envp.reserve(env_strings.size() + 1);
  for (auto& text : env_strings) envp.push_back(text.data());
  envp.push_back(nullptr);
  std::vector<std::string> args = argv;
  std::vector<char*> argvp;
  argvp.reserve(args.size() + 1);
  for (auto& text : args) argvp.push_back(text.data());
  argvp.push_back(nullptr);

  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND,
                                   0644);
  posix_spawn_file_actions_adddup2(&actions, STDOUT_FILENO, STDERR_FILENO);
  posix_spawn_file_actions_addopen(&actions, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
  posix_spawnattr_t attributes;
  posix_spawnattr_init(&attributes);
  // Children start with default signal handling, whatever the launcher blocked or ignored.
  sigset_t none;
  sigemptyset(&none);
  posix_spawnattr_setsigmask(&attributes, &none);
  sigset_t all;
  sigfillset(&all);
  posix_spawnattr_setsigdefault(&attributes, &all);
  posix_spawnattr_setflags(&attributes, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);

  Process process;
  // A bare name is looked up on PATH, like a shell would.
  const bool search_path = argv[0].find('/') == std::string::npos;
  const int error =
      search_path ? posix_spawnp(&process.pid_, argvp[0], &actions, &attributes, argvp.data(), envp.data())
                  : posix_spawn(&process.pid_, argvp[0], &actions, &attributes, argvp.data(), envp.data());
  posix_spawn_file_actions_destroy(&actions);
  posix_spawnattr_destroy(&attributes);
  if (error != 0)
    throw std::runtime_error("cannot start " + argv[0] + ": " + std::generic_category().message(error));
  return process;
}

bool Process::running() {
  if (pid_ <= 0 || status_) return false;
  int status = 0;
  pid_t result = ::waitpid(pid_, &status, WNOHANG);
  if (result == pid_) {
    status_ = status;
    return false;
  }
  return result == 0;
}

void Process::signal(int signal_number) {
  if (pid_ > 0 && running()) ::kill(pid_, signal_number);
}

std::optional<int> Process::wait(std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (running()) {
    if (std::chrono::steady_clock::now() >= deadline) return std::nullopt;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return status_;
}

void Process::stop(std::chrono::milliseconds grace) {
  if (!running()) return;
  signal(SIGTERM);
  if (!wait(grace)) {
    signal(SIGKILL);
    wait(std::chrono::milliseconds(5000));
  }
}

namespace {

bool can_bind(uint16_t port) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) throw std::runtime_error("socket() failed");
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  address.sin_port = htons(port);
  const bool bound = ::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)) == 0;
  ::close(fd);
  return bound;
}

// The lowest port the kernel uses for outgoing connections (net.ipv4.ip_local_port_range).
int ephemeral_floor() {
  std::ifstream range("/proc/sys/net/ipv4/ip_local_port_range");
  int low = 0;
  return range >> low && low > 12000 ? low : 32768;
}

}  // namespace

uint16_t free_port() {
  static std::mutex mutex;
  static std::set<uint16_t> handed_out;
  static std::mt19937 random(std::random_device{}());
  std::lock_guard lock(mutex);
  const int high = ephemeral_floor() - 1;
  const int low = std::max(10000, high - 12000);
  std::uniform_int_distribution<int> pick(low, high);
  for (int attempt = 0; attempt < 1000; ++attempt) {
    const auto port = static_cast<uint16_t>(pick(random));
    if (handed_out.count(port) == 0 && can_bind(port)) {
      handed_out.insert(port);
      return port;
    }
  }
  throw std::runtime_error("cannot find a free port");
}

}  // namespace gpufleet::cli
