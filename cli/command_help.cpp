#include "cli/command_help.hpp"

namespace gpufleet::cli {

namespace {

constexpr std::string_view kExitStatus = "exit status: 0 success, 1 the job or the request failed, 2 usage\n";

}  // namespace

const std::vector<CommandHelp>& command_help() {
  static const std::vector<CommandHelp> commands{
      {"up",
       "usage: gpufleet up\n"
       "  Starts the local fleet (Redis, broker, workers, gateway) and keeps it running until Ctrl-C.\n"
       "  environment: HOST PORT BROKER_PORT REDIS_PORT REDIS_URL STORAGE_ROOT STATE_DIR WORKERS\n"
       "               WORKER_MODELS WORKER_SLOTS DEVICE (docs/operations.md)\n"},
      {"demo",
       "usage: gpufleet demo [TEXT]\n"
       "  Starts the local fleet, synthesises TEXT through it, reports where the audio landed and how long\n"
       "  each stage took, and stops the fleet. The environment is that of `gpufleet up`.\n"},
      {"keys",
       "usage: gpufleet keys new NAME [RATE [BURST]] [--operator]\n"
       "       gpufleet keys curve NAME [MODELS]\n"
       "  new: makes an API key: prints the token (give it to the client) and the line for the gateway's\n"
       "       API_KEYS_FILE (it holds only the token's SHA-256). RATE requests per second, BURST at once\n"
       "       (0: unlimited); --operator: the key sees every tenant's jobs.\n"
       "  curve: makes a CURVE key pair (broker: BROKER_CURVE_SECRET_KEY, its public key to the workers;\n"
       "       worker: WORKER_CURVE_SECRET_KEY, and its line for the broker's BROKER_CURVE_CLIENTS_FILE,\n"
       "       MODELS a,b or * for the models it may serve).\n"},
      {"submit",
       "usage: gpufleet submit [TEXT|-] [--model M] [--kind tts|video|lipsync] [--language L] [--speaker "
       "NAME]\n"
       "                       [--speaker-wav FILE] [--image FILE] [--audio FILE] [--param KEY=JSON]\n"
       "                       [--priority N] [--timeout S] [--out FILE] [--no-wait] [--json]\n"
       "  Submits a job (local files are uploaded first) and waits for it with a progress line; --out\n"
       "  writes its result there, --no-wait prints the job's id at once. TEXT - reads standard input.\n"},
      {"status",
       "usage: gpufleet status ID [--json]\n"
       "  Prints one job's state (its record with --json).\n"},
      {"wait",
       "usage: gpufleet wait ID [--timeout S] [--json]\n"
       "  Waits until the job is final (at most S seconds, default 3600) and prints it.\n"},
      {"cancel",
       "usage: gpufleet cancel ID [--json]\n"
       "  Cancels a job: a queued one at once, a running one on its worker.\n"},
      {"workers",
       "usage: gpufleet workers [--json]\n"
       "  The workers (device, slots, heartbeat, models, running jobs) and each model's queue.\n"},
      {"models",
       "usage: gpufleet models [--json]\n"
       "  The models the fleet serves: kind, workers, devices, languages, cloning.\n"},
      {"evaluate",
       "usage: gpufleet evaluate [--concurrency N] [--rounds R] [--languages N] [--models A,B] [--image "
       "FILE]\n"
       "                         [--speaker-wav FILE] [--timeout S] [--out DIR]\n"
       "  Runs the standard workload against the fleet (every served model; sentences of three lengths in "
       "up\n"
       "  to N languages, streamed every other round; cloning and text-to-video where offered), writes\n"
       "  DIR/summary_report_<UTC>.json and DIR/latency_<UTC>.svg and prints the table; exits 1 if a job\n"
       "  failed.\n"},
      {"help",
       "usage: gpufleet help [COMMAND]\n"
       "  Prints the usage of every command, or of COMMAND (as `gpufleet COMMAND --help` does).\n"},
  };
  return commands;
}

std::optional<std::string_view> usage_of(std::string_view command) {
  for (const auto& entry : command_help()) {
    if (entry.name == command) return entry.usage;
  }
  return std::nullopt;
}

std::string overall_usage() {
  std::string text =
      "usage: gpufleet <command> [options]      gpufleet <command> --help: that command's usage\n"
      "commands:\n";
  for (const auto& entry : command_help()) {
    // Each command's synopsis lines, without "usage: gpufleet " (16 characters; its continuation lines are
    // indented as far) and indented under "commands:".
    std::string_view usage = entry.usage;
    while (usage.rfind("usage: ", 0) == 0 || usage.rfind("       ", 0) == 0) {
      const auto end = usage.find('\n');
      text += "  ";
      text += usage.substr(16, end - 16);
      text += '\n';
      usage.remove_prefix(end + 1);
    }
  }
  text +=
      "client commands talk to GPUFLEET_URL (default http://127.0.0.1:8001), with GPUFLEET_API_KEY as the\n"
      "bearer token and GPUFLEET_CA_FILE as the CA certificates of an https gateway\n";
  text += kExitStatus;
  return text;
}

}  // namespace gpufleet::cli
