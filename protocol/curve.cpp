#include "protocol/curve.hpp"

#include <zmq.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <sstream>

#include "common/config.hpp"
#include "common/error.hpp"
#include "common/files.hpp"

namespace gpufleet {

CurveKeyPair generate_curve_keypair() {
  std::array<char, 41> public_key{}, secret_key{};
  if (zmq_has("curve") == 0 || zmq_curve_keypair(public_key.data(), secret_key.data()) != 0) {
    throw ConfigError("this libzmq has no CURVE support");
  }
  return {public_key.data(), secret_key.data()};
}

bool is_z85_key(std::string_view key) {
  if (key.size() != 40) return false;
  std::array<uint8_t, 32> decoded{};
  const std::string text(key);
  return zmq_z85_decode(decoded.data(), text.c_str()) != nullptr;
}

std::optional<std::string> curve_public_key(const std::string& secret_z85) {
  if (!is_z85_key(secret_z85)) return std::nullopt;
  std::array<char, 41> public_key{};
  if (zmq_curve_public(public_key.data(), secret_z85.c_str()) != 0) return std::nullopt;
  return std::string(public_key.data());
}

std::string curve_key_from_env(const std::string& name) {
  if (auto file = env_value((name + "_FILE").c_str())) {
    auto text = read_file(*file, 4096);
    if (!text) throw ConfigError(name + "_FILE cannot be read: " + *file);
    return text->substr(0, text->find_first_of(" \t\r\n"));
  }
  return env_string(name.c_str(), "");
}

bool CurveClient::may_serve(const std::string& model) const {
  return any_model || std::find(models.begin(), models.end(), model) != models.end();
}

CurveClients CurveClients::parse(std::string_view text) {
  CurveClients clients;
  std::istringstream lines{std::string(text)};
  std::string line;
  int number = 0;
  while (std::getline(lines, line)) {
    ++number;
    // '#' is a Z85 character too: a comment starts a line or follows whitespace.
    for (size_t at = line.find('#'); at != std::string::npos; at = line.find('#', at + 1)) {
      if (at == 0 || std::isspace(static_cast<unsigned char>(line[at - 1]))) {
        line.erase(at);
        break;
      }
    }
    std::istringstream fields(line);
    CurveClient client;
    std::string models, extra;
    if (!(fields >> client.name)) continue;
    const std::string where = "curve clients line " + std::to_string(number) + ": ";
    if (!(fields >> client.public_key >> models) || (fields >> extra)) {
      throw ConfigError(where + "expected NAME PUBLIC_KEY MODELS (MODELS: a,b or *)");
    }
    if (!is_z85_key(client.public_key))
      throw ConfigError(where + "the key is not a 40-character Z85 CURVE key");
    if (clients.find_name(client.name) != nullptr)
      throw ConfigError(where + "name " + client.name + " appears twice");
    if (models == "*") {
      client.any_model = true;
    } else {
      std::istringstream list(models);
      std::string model;
      while (std::getline(list, model, ',')) {
        if (!model.empty()) client.models.push_back(model);
      }
      if (client.models.empty()) throw ConfigError(where + "no models listed");
    }
    std::array<uint8_t, 32> binary{};
    zmq_z85_decode(binary.data(), client.public_key.c_str());
    clients.binary_keys_.emplace_back(reinterpret_cast<const char*>(binary.data()), binary.size());
    clients.clients_.push_back(std::move(client));
  }
  return clients;
}

const CurveClient* CurveClients::find_binary(std::string_view key) const {
  for (size_t i = 0; i < clients_.size(); ++i) {
    if (binary_keys_[i] == key) return &clients_[i];
  }
  return nullptr;
}

const CurveClient* CurveClients::find_name(const std::string& name) const {
  for (const auto& client : clients_) {
    if (client.name == name) return &client;
  }
  return nullptr;
}

std::vector<std::string> zap_reply(const std::vector<std::string>& request, const CurveClients& clients) {
  const std::string version = request.empty() ? "1.0" : request[0];
  const std::string id = request.size() > 1 ? request[1] : "";
  auto answer = [&](const char* code, const char* text, const std::string& user) {
    return std::vector<std::string>{version, id, code, text, user, ""};
  };
  if (request.size() < 7 || request[0] != "1.0") return answer("500", "malformed ZAP request", "");
  if (request[5] != "CURVE") return answer("400", "only CURVE is admitted", "");
  const CurveClient* client = clients.find_binary(request[6]);
  if (client == nullptr) return answer("400", "unknown key", "");
  return answer("200", "OK", client->name);
}

}  // namespace gpufleet
