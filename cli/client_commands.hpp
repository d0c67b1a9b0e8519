#pragma once
// The `gpufleet` client commands (submit, status, wait, cancel, workers, models): HTTP to a gateway, output
// for people by default and JSON with --json for scripts. The formatting is kept apart from the transport so
// it is tested as plain functions (tests/unit/cli_test.cpp); run_client_command does the I/O.

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

namespace gpufleet::cli {

struct GatewayAddress {
  bool tls = false;
  std::string host = "127.0.0.1";
  uint16_t port = 8001;
};
// "http://host:port" or "https://host:port" (GPUFLEET_URL); nullopt for anything else.
std::optional<GatewayAddress> parse_gateway_url(const std::string& url);

// One line about a job: "<id>  succeeded  tts/espeak  2.1 s  /path.wav", with the stage and progress while
// it runs and the error when it failed.
std::string job_summary(const nlohmann::json& job);
// "[#########-----------]  45%  frames 90/200" for a running job that reports progress; its state otherwise.
std::string progress_line(const nlohmann::json& job, size_t width = 30);
std::string workers_table(const nlohmann::json& answer);  // GET /v1/workers
std::string models_table(const nlohmann::json& answer);   // GET /v1/models

bool is_final_state(const std::string& state);

// The Content-Type POST /v1/files is given for a local file: by its extension (.png, .jpg/.jpeg), else WAV.
std::string upload_content_type(const std::string& path);

// Runs `gpufleet <args...>` for a client command; returns the exit status (0 success, 1 the job or request
// failed, 2 usage; -h or --help prints the command's usage and returns 0). nullopt when args[0] is not a
// client command.
std::optional<int> run_client_command(const std::vector<std::string>& args);

}  // namespace gpufleet::cli
