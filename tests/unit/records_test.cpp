// Guards the records the broker writes and the gateway reads (store/records.hpp): what to_json writes reads
// back the same, and a record of the wrong shape (not JSON, not an object, a field of another type) is no
// record rather than an exception in the reader's event loop.
#include "store/records.hpp"

#include <gtest/gtest.h>

#include "common/json_text.hpp"

namespace gpufleet {
namespace {

using nlohmann::json;

TEST(ModelRecord, RoundTrip) {
  ModelRecord model;
  model.name = "xtts";
  model.kind = "tts";
  model.languages = {"en", "de"};
  model.cloning = true;
  model.sample_rate = 24000;
  model.max_batch = 8;
  model.parameters = {"temperature"};
  model.workers = 2;
  model.slots = 4;
  model.devices = {"cuda"};
  model.updated_ms = 1700000000000;
  const auto back = parse_model_record("xtts", dump_json(to_json(model)));
  ASSERT_TRUE(back);
  EXPECT_EQ(back->languages, model.languages);
  EXPECT_TRUE(back->cloning);
  EXPECT_EQ(back->max_batch, 8u);
  EXPECT_EQ(back->parameters, model.parameters);
  EXPECT_EQ(back->devices, model.devices);
  EXPECT_EQ(back->updated_ms, model.updated_ms);
  // The hash field names the model, whatever the record says inside.
  EXPECT_EQ(parse_model_record("other", dump_json(to_json(model)))->name, "other");
}

TEST(ModelRecord, WrongShapesAreNoRecord) {
  for (const char* text :
       {"", "{", "[]", "7", R"({"languages":"en"})", R"({"cloning":"yes"})", R"({"devices":[1]})"}) {
    EXPECT_FALSE(parse_model_record("m", text)) << text;
  }
  EXPECT_TRUE(parse_model_record("m", "{}"));  // every field has its default
}

TEST(WorkerRecord, RoundTripAndWrongShapes) {
  WorkerRecord worker;
  worker.id = "w1";
  worker.host = "gpu-a";
  worker.pid = 4242;
  worker.device = "cuda";
  worker.device_name = "cuda:0";
  worker.slots = 2;
  worker.active = 1;
  worker.models = {"xtts"};
  worker.running = {"0123456789abcdef0123456789abcdef"};
  worker.failed_models = {{"piper", "no such voice"}};
  worker.version = "1.0";
  const auto back = parse_worker_record(dump_json(to_json(worker)));
  ASSERT_TRUE(back);
  EXPECT_EQ(back->id, "w1");
  EXPECT_EQ(back->pid, 4242);
  EXPECT_EQ(back->running, worker.running);
  ASSERT_EQ(back->failed_models.size(), 1u);
  EXPECT_EQ(back->failed_models[0].error, "no such voice");
  EXPECT_EQ(back->state, "up");
  for (const char* text :
       {"not json", "[]", R"({"device":5})", R"({"models":"xtts"})", R"({"slots":"two"})"}) {
    EXPECT_FALSE(parse_worker_record(text)) << text;
  }
  // One odd failed-model entry does not hide the others.
  const auto mixed = parse_worker_record(R"({"failed_models":[1,{"name":"a","error":"e"}]})");
  ASSERT_TRUE(mixed);
  ASSERT_EQ(mixed->failed_models.size(), 1u);
  EXPECT_EQ(mixed->failed_models[0].name, "a");
}

}  // namespace
}  // namespace gpufleet
