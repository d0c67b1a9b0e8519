#pragma once
// CurveZMQ between hosts: key pairs, and the broker's list of the worker keys it admits with the models each
// key may serve. ZeroMQ's CURVE encrypts and authenticates the connection; the ZAP decision here is what
// makes it an allow-list (without a ZAP handler CURVE admits anyone who knows the server's public key).

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace gpufleet {

struct CurveKeyPair {
  std::string public_key;  // Z85, 40 characters
  std::string secret_key;
};

// Throws ConfigError when this libzmq has no CURVE.
CurveKeyPair generate_curve_keypair();
// The public key of a Z85 secret key; nullopt when it is not one.
std::optional<std::string> curve_public_key(const std::string& secret_z85);
bool is_z85_key(std::string_view key);
// A key setting: the variable `name`, or the first word of the file named by `name`_FILE (which wins).
// Empty when neither is set; throws ConfigError when the file cannot be read.
std::string curve_key_from_env(const std::string& name);

// One admitted worker key: "NAME PUBLIC_KEY MODELS" per line of BROKER_CURVE_CLIENTS_FILE, MODELS a comma
// list or * for any; # at the start of a line or after a space starts a comment (Z85 keys may hold '#').
struct CurveClient {
  std::string name;
  std::string public_key;  // Z85
  std::vector<std::string> models;
  bool any_model = false;

  bool may_serve(const std::string& model) const;
};

class CurveClients {
 public:
  // Throws ConfigError naming the line at fault.
  static CurveClients parse(std::string_view text);
  // By the client's 32-byte public key as ZAP hands it over.
  const CurveClient* find_binary(std::string_view key) const;
  const CurveClient* find_name(const std::string& name) const;
  size_t size() const { return clients_.size(); }

 private:
  std::vector<CurveClient> clients_;
  std::vector<std::string> binary_keys_;  // parallel to clients_
};

// The ZAP handler's answer to one request (RFC 27: version, request id, domain, address, identity, mechanism,
// credentials): 200 with the client's name as user id for a listed CURVE key, 400 otherwise.
std::vector<std::string> zap_reply(const std::vector<std::string>& request, const CurveClients& clients);

}  // namespace gpufleet
