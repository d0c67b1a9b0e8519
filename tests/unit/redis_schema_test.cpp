// Guards the Redis schema's one definition (#33): the job-store scripts build key names from the prefix in
// Lua, and each name they spell must be one RedisKeys makes, so that a key renamed in C++ (or a new one added
// to a script) cannot leave the scripts writing where no reader looks.
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

TEST(RedisSchema, EveryKeyAJobStoreScriptSpellsIsOneRedisKeysMakes) {
  const auto defined = schema_suffixes();
  // prefix .. ':name' and prefix .. ':name:' .. id, as the scripts write them.
  const std::regex spelled(R"(\.\.\s*'(:[A-Za-z0-9_:-]+)')");
  size_t names_seen = 0;
  for (const auto& script : job_store::scripts()) {
    for (std::sregex_iterator it(script.source.begin(), script.source.end(), spelled), end; it != end; ++it) {
      const std::string name = (*it)[1];
      ++names_seen;
      EXPECT_EQ(defined.count(name), 1u) << "script " << script.name << " builds a key '<prefix>" << name
                                         << "' that store/redis_schema.hpp does not define";
    }
  }
  // The scripts do build names: a change that stopped this scan from finding them must not pass silently.
  EXPECT_GE(names_seen, 20u);
}

TEST(RedisSchema, TheSuffixesTellEveryKeyApart) {
  // Two RedisKeys names that were equal would share one Redis key for two purposes.
  EXPECT_EQ(schema_suffixes().size(), 15u);
}

}  // namespace
}  // namespace gpufleet
