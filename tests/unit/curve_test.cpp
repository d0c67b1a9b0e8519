// Guards the CURVE allow-list: key pairs and their public halves, the clients file (names, keys, the models
// each key may serve) with clear errors for bad lines, and the ZAP decision that admits listed keys only.
#include "protocol/curve.hpp"

#include <gtest/gtest.h>
#include <zmq.h>

#include <array>

#include "common/error.hpp"

namespace gpufleet {
namespace {

std::string binary(const std::string& z85) {
  std::array<uint8_t, 32> key{};
  zmq_z85_decode(key.data(), z85.c_str());
  return std::string(reinterpret_cast<const char*>(key.data()), key.size());
}

TEST(Curve, KeysAndTheClientsFileDecideWhoMayServeWhat) {
  const auto worker = generate_curve_keypair();
  const auto other = generate_curve_keypair();
  EXPECT_TRUE(is_z85_key(worker.public_key));
  EXPECT_EQ(curve_public_key(worker.secret_key), worker.public_key);
  EXPECT_FALSE(curve_public_key("not a key"));

  const auto clients = CurveClients::parse("# workers\ngpu-a " + worker.public_key + " espeak,xtts\n\nops " +
                                           other.public_key + " *   # any model\n");
  EXPECT_EQ(clients.size(), 2u);
  const CurveClient* gpu = clients.find_binary(binary(worker.public_key));
  ASSERT_NE(gpu, nullptr);
  EXPECT_EQ(gpu->name, "gpu-a");
  EXPECT_TRUE(gpu->may_serve("xtts"));
  EXPECT_FALSE(gpu->may_serve("portrait"));
  EXPECT_TRUE(clients.find_name("ops")->may_serve("anything"));

  // Z85 keys may contain '#': only a '#' at a line's start or after a space starts a comment.
  const std::string hashed = "a#cdefghijklmnopqrstuvwxyzABCDEFGHIJKLMN";
  ASSERT_TRUE(is_z85_key(hashed));
  EXPECT_EQ(CurveClients::parse("h " + hashed + " espeak").find_name("h")->public_key, hashed);
  EXPECT_THROW(CurveClients::parse("gpu-a " + worker.public_key), ConfigError);  // no models
  EXPECT_THROW(CurveClients::parse("gpu-a shortkey espeak"), ConfigError);       // not a key
  EXPECT_THROW(CurveClients::parse("a " + worker.public_key + " x\na " + other.public_key + " y"),
               ConfigError);
  EXPECT_THROW(CurveClients::parse("a " + worker.public_key + " x extra"), ConfigError);

  // ZAP: 200 with the client's name for a listed CURVE key, 400 for an unknown key or another mechanism.
  auto request = [](const std::string& mechanism, const std::string& key) {
    return std::vector<std::string>{"1.0", "7", "gpufleet", "10.0.0.3", "", mechanism, key};
  };
  auto admitted = zap_reply(request("CURVE", binary(worker.public_key)), clients);
  EXPECT_EQ(admitted[1], "7");
  EXPECT_EQ(admitted[2], "200");
  EXPECT_EQ(admitted[4], "gpu-a");
  EXPECT_EQ(zap_reply(request("CURVE", binary(generate_curve_keypair().public_key)), clients)[2], "400");
  EXPECT_EQ(zap_reply(request("NULL", ""), clients)[2], "400");
  EXPECT_EQ(zap_reply({"1.0", "7"}, clients)[2], "500");
}

}  // namespace
}  // namespace gpufleet
