#include "cli/client_commands.hpp"

#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <iterator>
#include <map>
#include <set>
#include <sstream>
#include <thread>

#include "cli/command_help.hpp"
#include "cli/evaluate_command.hpp"
#include "cli/http_client.hpp"
#include "cli/text_columns.hpp"
#include "common/config.hpp"
#include "common/error.hpp"
#include "common/files.hpp"
#include "common/json_text.hpp"
#include "common/usage.hpp"
#include "common/utf8.hpp"

namespace gpufleet::cli {

using nlohmann::json;

std::optional<GatewayAddress> parse_gateway_url(const std::string& url) {
  GatewayAddress address;
  std::string rest;
  if (url.rfind("http://", 0) == 0) {
    rest = url.substr(7);
  } else if (url.rfind("https://", 0) == 0) {
    address.tls = true;
    rest = url.substr(8);
  } else {
    return std::nullopt;
  }
  if (const auto slash = rest.find('/'); slash != std::string::npos) {
    if (rest.find_first_not_of('/', slash) != std::string::npos) return std::nullopt;  // no path prefixes
    rest = rest.substr(0, slash);
  }
  const auto colon = rest.rfind(':');
  address.host = rest.substr(0, colon);
  if (address.host.empty()) return std::nullopt;
  if (colon != std::string::npos) {
    const std::string port = rest.substr(colon + 1);
    if (port.empty() || port.size() > 5 || port.find_first_not_of("0123456789") != std::string::npos)
      return std::nullopt;
    const long value = std::stol(port);
    if (value < 1 || value > 65535) return std::nullopt;
    address.port = static_cast<uint16_t>(value);
  } else {
    address.port = address.tls ? 443 : 80;
  }
  return address;
}

std::string upload_content_type(const std::string& path) {
  const std::string extension = std::filesystem::path(path).extension().string();
  if (extension == ".png") return "image/png";
  if (extension == ".jpg" || extension == ".jpeg") return "image/jpeg";
  return "audio/wav";
}

bool is_final_state(const std::string& state) {
  return state == "succeeded" || state == "failed" || state == "cancelled" || state == "expired";
}

std::string progress_line(const json& job, size_t width) {
  const std::string state = job.value("state", "?");
  std::string stage;
  if (job.contains("stages") && job["stages"].is_array()) {
    const size_t index = job.value("stage", 0);
    if (index < job["stages"].size()) {
      stage = "  stage " + std::to_string(index + 1) + "/" + std::to_string(job["stages"].size()) + " " +
              job["stages"][index].value("kind", "");
    }
  }
  if (state == "running" && job.contains("progress")) {
    const double done = job["progress"].value("done", 0.0), total = job["progress"].value("total", 0.0);
    const double fraction = total > 0 ? std::min(1.0, done / total) : 0.0;
    const auto filled = static_cast<size_t>(fraction * static_cast<double>(width));
    return "[" + std::string(filled, '#') + std::string(width - filled, '-') + "] " +
           pad(fixed(fraction * 100, 0) + "%", 4) + "  " + fixed(done, 0) + "/" + fixed(total, 0) + stage;
  }
  return state + stage;
}

std::string job_summary(const json& job) {
  std::string line = job.value("id", "?") + "  " + pad(job.value("state", "?"), 9) + "  " +
                     job.value("kind", "?") + "/" + job.value("model", "?");
  const std::string state = job.value("state", "");
  if (job.contains("timings") && job["timings"].contains("total_ms")) {
    line += "  " + fixed(job["timings"]["total_ms"].get<double>() / 1000.0, 2) + " s";
  }
  if (state == "succeeded" && job.contains("result")) {
    const auto& result = job["result"];
    for (const char* field : {"video_path", "audio_path"}) {
      if (result.contains(field) && result[field].is_string()) {
        line += "  " + result[field].get<std::string>();
        break;
      }
    }
    if (result.contains("duration_s"))
      line += "  (" + fixed(result["duration_s"].get<double>(), 2) + " s of media)";
  } else if (job.contains("error")) {
    line += "  " + job["error"].value("code", "") + ": " + job["error"].value("message", "");
  } else if (!is_final_state(state)) {
    line += "  " + progress_line(job, 20);
  }
  return line;
}

std::string workers_table(const json& answer) {
  std::ostringstream out;
  out << pad("WORKER", 28) << pad("DEVICE", 12) << pad("SLOTS", 8) << pad("HEARTBEAT", 11)
      << "MODELS / RUNNING\n";
  for (const auto& worker : answer.value("workers", json::array())) {
    std::string models;
    for (const auto& model : worker.value("models", json::array()))
      models += (models.empty() ? "" : ",") + model.get<std::string>();
    const auto running = worker.value("running", json::array());
    out << pad(worker.value("id", "?"), 28) << pad(worker.value("device", "?"), 12)
        << pad(std::to_string(worker.value("active", 0)) + "/" + std::to_string(worker.value("slots", 0)), 8)
        << pad(std::to_string(worker.value("heartbeat_age_ms", 0)) + " ms", 11) << models;
    if (!running.empty())
      out << "  running " << running.size() << ": " << running[0].get<std::string>()
          << (running.size() > 1 ? " ..." : "");
    out << "\n";
  }
  const auto queues = answer.value("queues", json::object());
  if (!queues.empty()) {
    out << "queues:";
    for (const auto& [model, queue] : queues.items()) {
      const long long depth = queue.is_object() ? queue.value("depth", 0LL) : queue.get<long long>();
      out << " " << model << "=" << depth;
      if (queue.is_object() && depth > 0)
        out << " (oldest " << fixed(queue.value("oldest_age_s", 0.0), 1) << " s)";
    }
    out << "\n";
  }
  return out.str();
}

std::string models_table(const json& answer) {
  std::ostringstream out;
  out << pad("MODEL", 18) << pad("KIND", 7) << pad("WORKERS", 9) << pad("DEVICES", 14) << "LANGUAGES\n";
  for (const auto& model : answer.value("models", json::array())) {
    std::string devices, languages;
    for (const auto& device : model.value("devices", json::array()))
      devices += (devices.empty() ? "" : ",") + device.get<std::string>();
    for (const auto& language : model.value("languages", json::array())) {
      languages += (languages.empty() ? "" : ",") + language.get<std::string>();
    }
    std::string name = model.value("name", "?") + (model.value("default", false) ? " *" : "");
    out << pad(name, 18) << pad(model.value("kind", "?"), 7)
        << pad(std::to_string(model.value("workers", 0)), 9) << pad(devices.empty() ? "-" : devices, 14)
        << (languages.empty() ? "-" : languages) << (model.value("cloning", false) ? "  (clones voices)" : "")
        << "\n";
  }
  out << "* the default model of its kind\n";
  return out.str();
}

namespace {

struct Client {
  GatewayAddress address;
  bool json_output = false;

  HttpResult request(const std::string& method, const std::string& target, const std::string& body = "",
                     const std::string& content_type = "application/json",
                     std::chrono::milliseconds timeout = std::chrono::milliseconds(30000)) const {
    return http_request(HttpEndpoint{address.tls, address.host, address.port}, method, target, body,
                        content_type, timeout, {}, env_string("GPUFLEET_CA_FILE", ""));
  }

  // Prints the gateway's error (or why there was no answer) and returns 1.
  int fail(const HttpResult& result) const {
    if (result.status == 0) {
      std::cerr << "gpufleet: no answer from " << (address.tls ? "https://" : "http://") << address.host
                << ":" << address.port << " (" << result.error
                << "); is the fleet up, and GPUFLEET_URL right?\n";
      return 1;
    }
    auto body = parse_json_or_discarded(result.body);
    if (json_output) {
      std::cout << dump_json(body.is_discarded() ? json{{"status", result.status}, {"body", result.body}}
                                                 : body)
                << "\n";
    } else if (body.is_object() && body.contains("error")) {
      std::cerr << "gpufleet: " << result.status << " " << body["error"].value("code", "") << ": "
                << body["error"].value("message", "") << "\n";
    } else {
      std::cerr << "gpufleet: HTTP " << result.status << ": " << result.body << "\n";
    }
    return 1;
  }

  // Polls the job until it is final (or `timeout_s` passes), drawing progress on stderr for people.
  std::optional<json> wait(const std::string& id, double timeout_s, bool show_progress) const {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double>(timeout_s);
    const bool terminal = show_progress && ::isatty(STDERR_FILENO) != 0;
    json job;
    while (true) {
      auto answer = request("GET", "/v1/jobs/" + id + "?wait=1", "", "application/json",
                            std::chrono::milliseconds(10000));
      if (answer.status != 200) {
        fail(answer);
        return std::nullopt;
      }
      job = parse_json_or_discarded(answer.body);
      if (!job.is_object()) return std::nullopt;
      if (terminal) std::cerr << "\r\033[K" << id.substr(0, 8) << "  " << progress_line(job) << std::flush;
      if (is_final_state(job.value("state", "")) || std::chrono::steady_clock::now() >= deadline) break;
    }
    if (terminal) std::cerr << "\r\033[K" << std::flush;
    return job;
  }

  int print_job(const json& job) const {
    std::cout << (json_output ? dump_json(job) : job_summary(job)) << "\n";
    return job.value("state", "") == "succeeded" ? 0 : 1;
  }
};

// A local file becomes an upload's name in the input folder; anything else is passed on as it is (a name
// an earlier upload answered, or a TTS result's path).
std::optional<std::string> upload_if_local(const Client& client, const std::string& value,
                                           const char* answer_field) {
  std::error_code ec;
  if (!std::filesystem::is_regular_file(value, ec)) return value;
  std::ifstream in(value, std::ios::binary);
  const std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  auto answer = client.request("POST", "/v1/files", bytes, upload_content_type(value),
                               std::chrono::milliseconds(120000));
  if (answer.status != 200 && answer.status != 201) {
    client.fail(answer);
    return std::nullopt;
  }
  return parse_json_or_discarded(answer.body).value(answer_field, "");
}

int submit(Client& client, const std::vector<std::string>& args) {
  json request{{"input", json::object()}};
  std::string text, out_file;
  bool wait = true;
  double timeout_s = 3600;
  std::map<std::string, std::pair<std::string, const char*>> files;  // input field -> (value, answer field)
  for (size_t i = 1; i < args.size(); ++i) {
    const std::string& arg = args[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= args.size()) throw ConfigError(arg + " needs a value");
      return args[++i];
    };
    if (arg == "--json")
      client.json_output = true;
    else if (arg == "--no-wait")
      wait = false;
    else if (arg == "--model")
      request["model"] = value();
    else if (arg == "--kind")
      request["kind"] = value();
    else if (arg == "--language")
      request["input"]["language"] = value();
    else if (arg == "--speaker")
      request["input"]["speaker"] = value();
    else if (arg == "--speaker-wav")
      files["speaker_wav"] = {value(), "speaker_wav"};
    else if (arg == "--image")
      files["reference_image"] = {value(), "reference_image"};
    else if (arg == "--audio")
      files["audio_path"] = {value(), "audio_path"};
    else if (arg == "--priority")
      request["priority"] = std::stoi(value());
    else if (arg == "--timeout")
      timeout_s = std::stod(value());
    else if (arg == "--out")
      out_file = value();
    else if (arg == "--param") {
      const std::string pair = value();
      const auto equals = pair.find('=');
      if (equals == std::string::npos) throw ConfigError("--param takes KEY=JSON");
      auto parsed = parse_json_or_discarded(pair.substr(equals + 1));
      request["input"][pair.substr(0, equals)] =
          parsed.is_discarded() ? json(pair.substr(equals + 1)) : parsed;
    } else if (!arg.empty() && arg[0] == '-' && arg != "-")
      throw ConfigError("unknown option " + arg);
    else
      text = arg == "-"
                 ? std::string((std::istreambuf_iterator<char>(std::cin)), std::istreambuf_iterator<char>())
                 : arg;
  }
  // Sent as it is or not at all: the JSON writer would turn ill-formed bytes into U+FFFD, another text.
  if (!utf8_valid(text)) throw ConfigError("the text is not UTF-8");
  if (!text.empty()) request["input"]["text"] = text;
  if (files.count("reference_image") != 0 && !request.contains("kind")) request["kind"] = "video";
  for (const auto& [field, file] : files) {
    auto name = upload_if_local(client, file.first, file.second);
    if (!name) return 1;
    request["input"][field] = *name;
  }
  auto created = client.request("POST", "/v1/jobs", dump_json(request));
  if (created.status != 202) return client.fail(created);
  const std::string id = parse_json_or_discarded(created.body).value("id", "");
  if (!wait) {
    std::cout << (client.json_output ? created.body : id) << "\n";
    return 0;
  }
  auto job = client.wait(id, timeout_s, !client.json_output);
  if (!job) return 1;
  if (!out_file.empty() && job->value("state", "") == "succeeded") {
    auto result = client.request("GET", "/v1/jobs/" + id + "/result", "", "application/json",
                                 std::chrono::milliseconds(300000));
    if (result.status != 200) return client.fail(result);
    write_file_atomically(out_file, result.body);
    if (!client.json_output)
      std::cerr << "gpufleet: wrote " << result.body.size() << " bytes to " << out_file << "\n";
  }
  return client.print_job(*job);
}

}  // namespace

std::optional<int> run_client_command(const std::vector<std::string>& args) {
  static const std::set<std::string> kCommands{"submit",  "status", "wait",    "cancel",
                                               "workers", "models", "evaluate"};
  if (args.empty() || kCommands.count(args[0]) == 0) return std::nullopt;
  const std::string usage(usage_of(args[0]).value_or(""));
  for (size_t i = 1; i < args.size(); ++i) {
    if (is_help_option(args[i])) return print_usage(usage);
  }
  Client client;
  const std::string url = env_string("GPUFLEET_URL", "http://127.0.0.1:8001");
  const auto address = parse_gateway_url(url);
  if (!address) {
    std::cerr << "gpufleet: GPUFLEET_URL must be http(s)://HOST[:PORT], not " << url << "\n";
    return kExitUsage;
  }
  client.address = *address;
  try {
    const std::string& command = args[0];
    if (command == "submit") return submit(client, args);
    if (command == "evaluate") {
      return run_evaluate(HttpEndpoint{address->tls, address->host, address->port},
                          env_string("GPUFLEET_CA_FILE", ""), args, usage);
    }
    std::vector<std::string> positional;
    double timeout_s = 3600;
    for (size_t i = 1; i < args.size(); ++i) {
      if (args[i] == "--json")
        client.json_output = true;
      else if (args[i] == "--timeout" && i + 1 < args.size())
        timeout_s = std::stod(args[++i]);
      else if (!args[i].empty() && args[i][0] == '-')
        throw ConfigError("unknown option " + args[i]);
      else
        positional.push_back(args[i]);
    }
    if (command == "workers" || command == "models") {
      auto answer = client.request("GET", "/v1/" + command);
      if (answer.status != 200) return client.fail(answer);
      const auto body = parse_json_or_discarded(answer.body);
      std::cout << (client.json_output     ? dump_json(body) + "\n"
                    : command == "workers" ? workers_table(body)
                                           : models_table(body));
      return 0;
    }
    if (positional.size() != 1) throw ConfigError(command + " takes one job id");
    const std::string& id = positional[0];
    if (command == "status") {
      auto answer = client.request("GET", "/v1/jobs/" + id);
      if (answer.status != 200) return client.fail(answer);
      const auto job = parse_json_or_discarded(answer.body);
      std::cout << (client.json_output ? dump_json(job) : job_summary(job)) << "\n";
      return 0;
    }
    if (command == "wait") {
      auto job = client.wait(id, timeout_s, !client.json_output);
      return job ? client.print_job(*job) : 1;
    }
    auto answer = client.request("DELETE", "/v1/jobs/" + id);  // cancel
    if (answer.status != 200 && answer.status != 202) return client.fail(answer);
    std::cout << (client.json_output
                      ? answer.body
                      : id + "  " + (answer.status == 200 ? "cancelled" : "cancelling (it was running)"))
              << "\n";
    return 0;
  } catch (const ConfigError& error) {
    return usage_error("gpufleet " + args[0], error.what(), usage);
  } catch (const std::exception& error) {
    // A malformed number (std::stoi) or an answer that is not the JSON the gateway sends.
    std::cerr << "gpufleet: " << error.what() << "\n";
    return kExitUsage;
  }
}

}  // namespace gpufleet::cli
