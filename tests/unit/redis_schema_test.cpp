// Guards the Redis schema's one definition (#33, #16): every key name comes from RedisKeys, and the job-store
// scripts are given theirs (declared keys, and the prefixes of the names they find as they run), so that a
// key renamed in C++ cannot leave a script writing where no reader looks.
#include "store/redis_schema.hpp"

#include <gtest/gtest.h>

#include <regex>
#include <set>
#include <string>

#include "store/job_store.hpp"

namespace gpufleet {
namespace {

// Every name RedisKeys makes, without the prefix: fixed names whole, per-id names up to their last ':'.
std::set<std::string> schema_suffixes() {
  const RedisKeys keys("P");
  std::set<std::string> names;
  for (const std::string& key :
       {keys.job(""), keys.job_events(), keys.worker_events(), keys.workers(), keys.models(), keys.queues(),
        keys.broker(), keys.worker_keys(), keys.queue(""), keys.queue_models(), keys.running(),
        keys.submissions(), keys.completions(), keys.webhooks(), keys.idempotency("")}) {
    names.insert(key.substr(1));
  }
  return names;
}

TEST(RedisSchema, NoJobStoreScriptSpellsAKeyName) {
  // A name spelled in Lua (prefix .. ':job:' .. id) is a second definition that a rename in RedisKeys would
  // leave behind, and a key Redis Cluster cannot see before the script runs.
  const std::regex spelled(R"('(:[A-Za-z0-9_:-]*)')");
  for (const auto& script : job_store::scripts()) {
    std::smatch match;
    EXPECT_FALSE(std::regex_search(script.source, match, spelled))
        << "script " << script.name << " spells the key name '" << match[1] << "'";
    EXPECT_EQ(script.source.find("ARGV[1] .."), std::string::npos) << script.name;
  }
}

TEST(RedisSchema, EveryJobStoreScriptDeclaresItsKeysAndIsHeldToTheirSlot) {
  // The shebang is what makes Redis refuse a key outside the declared keys' slot (tested on a real
  // single-node cluster by redis_cluster_test); without it a script would only fail on a multi-node cluster.
  for (const auto& script : job_store::scripts()) {
    EXPECT_EQ(script.source.rfind("#!lua\n", 0), 0u) << script.name;
  }
  const RedisKeys keys("{fleet}");
  const auto cancel = job_store::cancel_command(keys, "job-1", 1, 60, "");
  ASSERT_GE(cancel.size(), 9u);
  EXPECT_EQ(cancel[2], "6");
  EXPECT_EQ(cancel[8], keys.job("job-1"));
  EXPECT_EQ(cancel[9], keys.job_prefix());
  EXPECT_EQ(cancel[12], keys.job_events());
  EXPECT_EQ(cancel[13], "job-1");
  const auto batch = job_store::batch_command(keys, job_store::Batch::kDispatch);
  EXPECT_EQ(batch.size(), 12u);
  EXPECT_EQ(batch[2], "5");
}

TEST(RedisSchema, TheSuffixesTellEveryKeyApart) {
  // Two RedisKeys names that were equal would share one Redis key for two purposes.
  EXPECT_EQ(schema_suffixes().size(), 15u);
}

}  // namespace
}  // namespace gpufleet
