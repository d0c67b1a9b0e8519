// Guards the CURVE broker's admission rules without sockets: a worker id belongs to the key that first
// registered it (another key cannot speak for it, before or after it leaves), a key serves only its models
// (the rest reported as failed, naming the key), a key cannot mint worker ids without bound, and bindings
// restored from Redis are kept only for keys still listed. Without CURVE nothing is filtered.
#include "broker/admission.hpp"

#include <gtest/gtest.h>

namespace gpufleet::broker {
namespace {

protocol::Ready ready_with(std::initializer_list<const char*> models) {
  protocol::Ready ready;
  for (const char* name : models) ready.models.push_back(protocol::ModelInfo{name, "tts"});
  return ready;
}

class AdmissionTest : public ::testing::Test {
 protected:
  AdmissionTest()
      : clients_(CurveClients::parse("alpha " + generate_curve_keypair().public_key + " espeak\nbeta " +
                                     generate_curve_keypair().public_key + " *\n")),
        admission_(&clients_) {}

  CurveClients clients_;
  Admission admission_;
};

TEST(AdmissionWithoutCurve, EveryMessageIsAdmittedAndNothingFiltered) {
  Admission admission(nullptr);
  EXPECT_FALSE(admission.curve());
  EXPECT_EQ(admission.check_sender("w1", ""), Admission::Verdict::kAdmit);
  auto ready = ready_with({"espeak", "noop"});
  const auto verdict = admission.admit_ready("w1", "", ready);
  EXPECT_EQ(verdict.verdict, Admission::Verdict::kAdmit);
  EXPECT_FALSE(verdict.newly_bound);
  EXPECT_EQ(ready.models.size(), 2u);
  EXPECT_TRUE(ready.failed_models.empty());
}

TEST_F(AdmissionTest, AKeyServesOnlyItsModelsAndTheRestIsReportedAsFailed) {
  auto ready = ready_with({"espeak", "noop"});
  const auto verdict = admission_.admit_ready("w1", "alpha", ready);
  EXPECT_EQ(verdict.verdict, Admission::Verdict::kAdmit);
  EXPECT_TRUE(verdict.newly_bound);
  ASSERT_EQ(ready.models.size(), 1u);
  EXPECT_EQ(ready.models[0].name, "espeak");
  ASSERT_EQ(ready.failed_models.size(), 1u);
  EXPECT_EQ(ready.failed_models[0].name, "noop");
  EXPECT_NE(ready.failed_models[0].error.find("alpha"), std::string::npos);
}

TEST_F(AdmissionTest, AWorkerIdBelongsToTheKeyThatRegisteredIt) {
  auto ready = ready_with({"espeak"});
  ASSERT_TRUE(admission_.admit_ready("w1", "alpha", ready).newly_bound);
  EXPECT_EQ(admission_.check_sender("w1", "alpha"), Admission::Verdict::kAdmit);
  EXPECT_EQ(admission_.check_sender("w1", "beta"), Admission::Verdict::kForeignKey);
  EXPECT_EQ(admission_.check_sender("w1", ""), Admission::Verdict::kForeignKey);
  EXPECT_EQ(admission_.check_sender("w2", ""), Admission::Verdict::kForeignKey);  // no key at all
  EXPECT_EQ(admission_.check_sender("w2", "beta"), Admission::Verdict::kAdmit);   // not bound yet
  // Registering again (a reconnect) binds nothing new.
  auto again = ready_with({"espeak"});
  const auto verdict = admission_.admit_ready("w1", "alpha", again);
  EXPECT_EQ(verdict.verdict, Admission::Verdict::kAdmit);
  EXPECT_FALSE(verdict.newly_bound);
}

TEST_F(AdmissionTest, AKeyCannotMintWorkerIdsWithoutBound) {
  for (size_t i = 0; i < Admission::kMaxIdsPerKey; ++i) {
    auto ready = ready_with({"espeak"});
    ASSERT_TRUE(admission_.admit_ready("w" + std::to_string(i), "alpha", ready).newly_bound) << i;
  }
  auto one_more = ready_with({"espeak"});
  EXPECT_EQ(admission_.admit_ready("w-extra", "alpha", one_more).verdict, Admission::Verdict::kTooManyIds);
  EXPECT_EQ(admission_.ids_of("alpha"), Admission::kMaxIdsPerKey);
  // The id was not bound: another key may still take it, and the limit is per key.
  auto other = ready_with({"espeak"});
  EXPECT_TRUE(admission_.admit_ready("w-extra", "beta", other).newly_bound);
}

TEST_F(AdmissionTest, BindingsFromRedisAreKeptOnlyForKeysStillListed) {
  const auto dropped = admission_.restore({{"w1", "alpha"}, {"w2", "retired-key"}});
  EXPECT_EQ(dropped, std::vector<std::string>{"w2"});
  EXPECT_EQ(admission_.check_sender("w1", "beta"), Admission::Verdict::kForeignKey);
  EXPECT_EQ(admission_.check_sender("w2", "beta"), Admission::Verdict::kAdmit);
  EXPECT_EQ(Admission(nullptr).restore({{"w1", "alpha"}}), std::vector<std::string>{"w1"});
}

}  // namespace
}  // namespace gpufleet::broker
