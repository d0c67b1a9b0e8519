// Guards the per-key bound on open waits: a key past its limit is refused, slots come back when their
// leases go (in any order), keys do not share counts, and nothing is kept for keys that wait no more.
#include "gateway/wait_quota.hpp"

#include <gtest/gtest.h>

namespace gpufleet::gateway {
namespace {

TEST(WaitQuota, RefusesPastTheLimitAndTakesSlotsBackWhenLeasesEnd) {
  WaitQuota quota(2);
  auto first = quota.acquire("alice");
  auto second = quota.acquire("alice");
  ASSERT_TRUE(first && second);
  EXPECT_EQ(quota.acquire("alice"), nullptr);
  EXPECT_EQ(quota.open("alice"), 2u);
  first.reset();
  EXPECT_EQ(quota.open("alice"), 1u);
  auto third = quota.acquire("alice");
  EXPECT_NE(third, nullptr);
  EXPECT_EQ(quota.acquire("alice"), nullptr);
}

TEST(WaitQuota, KeysCountApartAndIdleKeysLeaveNoEntry) {
  WaitQuota quota(1);
  auto alice = quota.acquire("alice");
  auto anonymous = quota.acquire("");
  EXPECT_NE(quota.acquire("bob"), nullptr);  // released at once: the temporary lease ends here
  EXPECT_EQ(quota.open("bob"), 0u);
  EXPECT_EQ(quota.open_total(), 2u);
  alice.reset();
  anonymous.reset();
  EXPECT_EQ(quota.open_total(), 0u);
}

}  // namespace
}  // namespace gpufleet::gateway
