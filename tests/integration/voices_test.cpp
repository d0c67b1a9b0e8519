// Guards TorchScript voices in the real fleet: a Piper-interface voice built at test time is served from a
// WORKER_CONFIG registry through the real gateway, broker and worker; concurrent jobs are batched by the
// worker, and every batched job's audio equals what the same request gets alone.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <csignal>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <thread>

#include "common/api_keys.hpp"
#include "common/wav.hpp"
#include "tests/support/fleet_fixture.hpp"
#include "tests/support/temp_dir.hpp"
#include "tests/support/vits_voice.hpp"
#include "tests/support/xtts_golden.hpp"

namespace gpufleet::testing {
namespace {

using nlohmann::json;

std::string result_bytes(Fleet& fleet, const std::string& id) {
  auto response = fleet.get("/v1/jobs/" + id + "/result");
  EXPECT_EQ(response.status, 200) << response.body;
  return response.body;
}

// The largest difference between two jobs' WAV results, sample by sample; -1 when their lengths differ or one
// is not a WAV file.
int worst_sample_difference(Fleet& fleet, const std::string& id, const std::string& other) {
  const std::string bytes = result_bytes(fleet, id);
  const std::string other_bytes = result_bytes(fleet, other);
  const auto info = parse_wav(bytes);
  const auto other_info = parse_wav(other_bytes);
  if (!info || !other_info) return -1;
  const auto samples = wav_samples_pcm16(bytes, *info);
  const auto other_samples = wav_samples_pcm16(other_bytes, *other_info);
  if (samples.size() != other_samples.size()) return -1;
  int worst = 0;
  for (size_t k = 0; k < samples.size(); ++k)
    worst = std::max(worst, std::abs(samples[k] - other_samples[k]));
  return worst;
}

// One worker serving the golden checkpoint as "xtts" with the given batching, its reference uploaded and its
// voice computed, so that what follows is about decoding.
struct BatchingXttsFleet {
  BatchingXttsFleet(int max_batch, int max_queue_delay_ms) {
    const std::string golden = xtts_golden_dir();
    const json xtts{{"name", "xtts"},
                    {"backend", "xtts"},
                    {"device", "cpu"},
                    {"warmup", false},
                    {"max_batch", max_batch},
                    {"max_queue_delay_ms", max_queue_delay_ms},
                    {"files", {{"config", golden + "/config.json"}}}};
    const std::string registry = write_model_registry(dir.path(), json{{"models", {xtts}}}.dump());
    fleet = std::make_unique<Fleet>(FleetOptions{1, "noop", 1, {{"WORKER_CONFIG", registry}}});
    std::ifstream in(golden + "/inputs/ref.wav", std::ios::binary);
    const std::string reference((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    speaker_wav = json::parse(fleet->post("/v1/files", reference, "audio/wav").body)["speaker_wav"];
    warm = fleet->wait_job(fleet->submit({{"model", "xtts"}, {"input", input("Warm up.")}}), 120)["state"] ==
           "succeeded";
  }
  json input(const std::string& text, const std::string& language = "en") const {
    return json{{"text", text}, {"language", language}, {"speaker_wav", speaker_wav}, {"greedy", true}};
  }
  TempDir dir;
  std::unique_ptr<Fleet> fleet;
  std::string speaker_wav;
  bool warm = false;
};

TEST(FleetVoices, APiperVoiceIsServedAndConcurrentJobsBatchToTheirSoloAudio) {
  TempDir dir;
  make_vits_voice(dir.path() / "voice", "--sample-rate 22050");
  const std::string registry = write_model_registry(dir.path(), R"({"models":[
        {"name":"voice","backend":"piper","device":"cpu","max_batch":4,"max_queue_delay_ms":300,
         "files":{"model":"voice/voice.pt","config":"voice/voice.json"}},
        {"name":"noop","backend":"noop"}]})");
  Fleet fleet(FleetOptions{1, "noop", 1, {{"WORKER_CONFIG", registry}, {"DEFAULT_TTS_MODEL", "voice"}}});
  auto models = json::parse(fleet.get("/v1/models").body)["models"];
  json voice;
  for (const auto& model : models) {
    if (model["name"] == "voice") voice = model;
  }
  ASSERT_TRUE(voice.is_object()) << models.dump();
  EXPECT_EQ(voice["sample_rate"], 22050);
  EXPECT_EQ(voice["max_batch"], 4);
  EXPECT_EQ(voice["cloning"], false);

  const std::vector<std::string> texts{"The first request.", "A second, longer request than the first one.",
                                       "Third.", "And a fourth request, to fill the batch."};
  std::vector<std::string> ids;
  for (const auto& text : texts)
    ids.push_back(fleet.submit({{"model", "voice"}, {"input", {{"text", text}}}}));
  size_t largest_batch = 0;
  std::vector<std::string> batched_audio;
  for (const auto& id : ids) {
    auto job = fleet.wait_job(id);
    ASSERT_EQ(job["state"], "succeeded") << job.dump();
    largest_batch = std::max(largest_batch, job["result"]["batch_size"].get<size_t>());
    batched_audio.push_back(result_bytes(fleet, id));
  }
  EXPECT_GE(largest_batch, 2u) << "four jobs within the 300 ms queue delay did not batch";

  for (size_t i = 0; i < texts.size(); ++i) {
    const std::string alone = fleet.submit({{"model", "voice"}, {"input", {{"text", texts[i]}}}});
    auto job = fleet.wait_job(alone);
    ASSERT_EQ(job["state"], "succeeded") << job.dump();
    EXPECT_EQ(job["result"]["batch_size"], 1);
    const std::string solo_bytes = result_bytes(fleet, alone);
    const auto solo_info = parse_wav(solo_bytes);
    const auto batched_info = parse_wav(batched_audio[i]);
    ASSERT_TRUE(solo_info && batched_info);
    EXPECT_EQ(solo_info->sample_rate, 22050u);
    const auto solo = wav_samples_pcm16(solo_bytes, *solo_info);
    const auto batched = wav_samples_pcm16(batched_audio[i], *batched_info);
    ASSERT_EQ(solo.size(), batched.size()) << texts[i];
    ASSERT_GT(solo.size(), 0u);
    int worst = 0;
    for (size_t s = 0; s < solo.size(); ++s) worst = std::max(worst, std::abs(solo[s] - batched[s]));
    EXPECT_LE(worst, 1) << texts[i];
  }

  // The original synchronous endpoint serves the configured default model.
  auto sync = fleet.post("/tts/generate", R"({"text":"Synchronous, on the default voice."})");
  ASSERT_EQ(sync.status, 200) << sync.body;
  auto body = json::parse(sync.body);
  EXPECT_EQ(body["success"], true) << sync.body;
  EXPECT_GT(body["duration_s"].get<double>(), 0.5) << sync.body;
  // What the voice cannot do is refused with its code, not ignored.
  auto refused = fleet.post("/v1/jobs", R"({"model":"voice","input":{"text":"x","speaker_wav":"a.wav"}})");
  EXPECT_EQ(refused.status, 422) << refused.body;
  EXPECT_EQ(json::parse(refused.body)["error"]["code"], "cannot_clone") << refused.body;
}

// Guards the reference plumbing end to end: an uploaded WAV is stored by content, named back to the client,
// and reaches a cloning model as the same audio; paths outside the input folder (by "..", by an absolute
// path, or by a symlink planted inside it) never reach a worker, and bad uploads get their own codes.
TEST(FleetReferences, UploadedReferencesReachTheModelAndNothingElseDoes) {
  TempDir dir;
  const std::string registry = write_model_registry(
      dir.path(), R"({"models":[{"name":"echo","backend":"noop","options":{"cloning":true}}]})");
  Fleet fleet(FleetOptions{1, "noop", 1, {{"WORKER_CONFIG", registry}, {"MAX_UPLOAD_BYTES", "200000"}}});
  std::vector<int16_t> samples(16000);
  for (size_t i = 0; i < samples.size(); ++i) samples[i] = static_cast<int16_t>((i * 37) % 2000 - 1000);
  const std::string wav = encode_wav_pcm16(samples, 16000);

  auto created = fleet.post("/v1/files", wav, "audio/wav");
  ASSERT_EQ(created.status, 201) << created.body;
  auto file = json::parse(created.body);
  EXPECT_EQ(file["bytes"], wav.size());
  EXPECT_EQ(file["duration_s"], 1.0);
  const std::string reference = file["speaker_wav"];
  EXPECT_EQ(reference, "uploads/" + file["id"].get<std::string>() + ".wav");
  auto again = fleet.post("/v1/files", wav, "audio/wav");
  EXPECT_EQ(again.status, 200) << "the same bytes are the same file";
  EXPECT_EQ(json::parse(again.body)["id"], file["id"]);
  EXPECT_EQ(fleet.get("/v1/files/" + file["id"].get<std::string>()).status, 200);
  EXPECT_EQ(fleet.get("/v1/files/" + std::string(64, 'f')).status, 404);

  const std::string id =
      fleet.submit({{"model", "echo"}, {"input", {{"text", "x"}, {"speaker_wav", reference}}}});
  auto job = fleet.wait_job(id);
  ASSERT_EQ(job["state"], "succeeded") << job.dump();
  auto result = fleet.get("/v1/jobs/" + id + "/result");
  EXPECT_EQ(result.body, wav) << "the model did not get the uploaded reference";

  // A symlink planted in the input folder that points outside it is refused like any other escape.
  std::filesystem::create_symlink("/etc/hostname", fleet.storage() / "inputs" / "planted.wav");
  for (const std::string bad : {"../../etc/passwd", "/etc/hostname", "planted.wav", "uploads/nothing.wav"}) {
    auto refused = fleet.post(
        "/v1/jobs", json{{"model", "echo"}, {"input", {{"text", "x"}, {"speaker_wav", bad}}}}.dump());
    EXPECT_EQ(refused.status, 422) << bad << ": " << refused.body;
    EXPECT_EQ(json::parse(refused.body)["error"]["code"], "invalid_input") << bad;
    EXPECT_EQ(refused.body.find(fleet.storage().string()), std::string::npos) << "a server path leaked";
  }
  EXPECT_EQ(fleet.post("/v1/files", "not a wav", "audio/wav").status, 422);
  EXPECT_EQ(fleet.post("/v1/files", wav, "text/plain").status, 415);
  EXPECT_EQ(
      fleet.post("/v1/files", encode_wav_pcm16(std::vector<int16_t>(200000), 16000), "audio/wav").status,
      413);
  EXPECT_EQ(fleet.request("DELETE", "/v1/files").status, 405);
}

// A registry serving the golden set's checkpoint as model "xtts" on the CPU, as docs/xtts.md's example does:
// warm-up left at its default (a cloning model without named speakers once failed it, so the worker served no
// XTTS; it now warms with a voice cloned from a synthetic reference).
std::string xtts_registry(const TempDir& dir, const std::string& golden) {
  const json entry{{"name", "xtts"},
                   {"backend", "xtts"},
                   {"device", "cpu"},
                   {"files", {{"config", golden + "/config.json"}}}};
  return write_model_registry(dir.path(), json{{"models", {entry}}}.dump());
}

// Guards XTTS-v2 as a fleet model: the native engine (small random-weight checkpoint of the golden set) is
// served from the registry, clones the voice of an uploaded reference, answers 24 kHz audio, computes a
// voice once and reuses it for the next job with the same reference, and refuses a job without reference.
TEST(FleetXtts, AClonedVoiceIsComputedOnceAndReused) {
  const std::string golden = xtts_golden_dir();
  if (!std::filesystem::exists(golden + "/config.json")) GTEST_SKIP() << "no XTTS golden set at " << golden;
  TempDir dir;
  const std::string registry = xtts_registry(dir, golden);
  Fleet fleet(FleetOptions{1, "noop", 1, {{"WORKER_CONFIG", registry}}});
  auto models = json::parse(fleet.get("/v1/models").body)["models"];
  ASSERT_EQ(models.size(), 1u) << models.dump();
  EXPECT_EQ(models[0]["cloning"], true);
  EXPECT_EQ(models[0]["sample_rate"], 24000);
  // The checkpoint lists zh-cn, ja and ko; the text front end cannot clean the first two, so they are not
  // announced and a job in one is refused on submission rather than failing after its voice was computed.
  const auto languages = models[0]["languages"].get<std::vector<std::string>>();
  EXPECT_EQ(std::count(languages.begin(), languages.end(), "hi"), 1) << models[0].dump();
  EXPECT_EQ(std::count(languages.begin(), languages.end(), "ko"), 1) << models[0].dump();
  for (const char* unspoken : {"ja", "zh-cn"}) {
    EXPECT_EQ(std::count(languages.begin(), languages.end(), unspoken), 0) << unspoken;
  }
  const auto japanese = fleet.post(
      "/v1/jobs", json{{"model", "xtts"}, {"input", {{"text", "こんにちは"}, {"language", "ja"}}}}.dump());
  EXPECT_EQ(japanese.status, 422) << japanese.body;
  EXPECT_NE(japanese.body.find("unsupported_language"), std::string::npos) << japanese.body;

  std::ifstream in(golden + "/inputs/ref.wav", std::ios::binary);
  const std::string reference((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  auto upload = fleet.post("/v1/files", reference, "audio/wav");
  ASSERT_EQ(upload.status, 201) << upload.body;
  const std::string speaker_wav = json::parse(upload.body)["speaker_wav"];

  std::vector<json> results;
  for (const char* text : {"Hello there.", "A second sentence in the same voice."}) {
    const std::string id = fleet.submit(
        {{"model", "xtts"},
         {"input", {{"text", text}, {"language", "en"}, {"speaker_wav", speaker_wav}, {"seed", 7}}}});
    auto job = fleet.wait_job(id, 120);
    ASSERT_EQ(job["state"], "succeeded") << job.dump();
    auto audio = fleet.get("/v1/jobs/" + id + "/result");
    const auto wav = parse_wav(audio.body);
    ASSERT_TRUE(wav) << "the result is not a WAV file";
    EXPECT_EQ(wav->sample_rate, 24000u);
    EXPECT_GT(wav->frames, 1000u);
    results.push_back(job["result"]);
  }
  EXPECT_EQ(results[0]["voice_cache"], "miss");
  EXPECT_EQ(results[1]["voice_cache"], "memory")
      << "the second job with the same reference computed the voice again";
  EXPECT_EQ(results[1]["pieces"], 1);

  // Longer than English's 250-character limit for one generation: spoken in pieces, the audio joined.
  std::string long_text;
  for (int i = 0; i < 6; ++i)
    long_text += "This is sentence number " + std::to_string(i) + " of a text that is long. ";
  const std::string long_id = fleet.submit(
      {{"model", "xtts"},
       {"input", {{"text", long_text}, {"language", "en"}, {"speaker_wav", speaker_wav}, {"seed", 7}}}});
  auto long_job = fleet.wait_job(long_id, 120);
  ASSERT_EQ(long_job["state"], "succeeded") << long_job.dump();
  EXPECT_EQ(long_job["result"]["pieces"], 2);

  // Several references of one voice, as upstream takes a list: one voice computed for the list, reused.
  auto parsed = parse_wav(reference);
  ASSERT_TRUE(parsed);
  auto reversed = wav_samples_pcm16(reference, *parsed);
  std::reverse(reversed.begin(), reversed.end());
  auto second = fleet.post("/v1/files", encode_wav_pcm16(reversed, parsed->sample_rate), "audio/wav");
  ASSERT_EQ(second.status, 201) << second.body;
  const json both = json::array({speaker_wav, json::parse(second.body)["speaker_wav"]});
  for (const char* expected : {"miss", "memory"}) {
    const auto job = fleet.wait_job(
        fleet.submit(
            {{"model", "xtts"},
             {"input",
              {{"text", "Two recordings."}, {"language", "en"}, {"speaker_wav", both}, {"seed", 7}}}}),
        120);
    ASSERT_EQ(job["state"], "succeeded") << job.dump();
    EXPECT_EQ(job["result"]["voice_cache"], expected) << job.dump();
  }

  const std::string bare = fleet.submit({{"model", "xtts"}, {"input", {{"text", "No reference."}}}});
  auto refused = fleet.wait_job(bare, 60);
  EXPECT_EQ(refused["state"], "failed");
  EXPECT_EQ(refused["error"]["code"], "invalid_input") << refused.dump();
}

// Guards the fleet-wide voice cache. Two workers each compute one voice; later jobs with either voice go to
// the worker holding it in memory (by load alone, both would go to worker-1, which wins ties), and a worker
// that restarted without its memory loads the voice its peer left in the shared store instead of computing
// it.
TEST(FleetXtts, JobsFollowTheirVoiceAndVoicesAreSharedThroughStorage) {
  const std::string golden = xtts_golden_dir();
  if (!std::filesystem::exists(golden + "/config.json")) GTEST_SKIP() << "no XTTS golden set at " << golden;
  TempDir dir;
  const std::string registry = xtts_registry(dir, golden);
  Fleet fleet(FleetOptions{2, "noop", 1, {{"WORKER_CONFIG", registry}}});
  ASSERT_TRUE(fleet.wait_workers(2));

  std::ifstream in(golden + "/inputs/ref.wav", std::ios::binary);
  const std::string alice((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  auto parsed = parse_wav(alice);
  ASSERT_TRUE(parsed);
  auto samples = wav_samples_pcm16(alice, *parsed);
  std::reverse(samples.begin(), samples.end());  // another voice, as far as content hashes go
  const std::string bob = encode_wav_pcm16(samples, parsed->sample_rate);
  auto upload = [&fleet](const std::string& bytes) {
    auto response = fleet.post("/v1/files", bytes, "audio/wav");
    EXPECT_EQ(response.status, 201) << response.body;
    return json::parse(response.body)["speaker_wav"].get<std::string>();
  };
  const std::string alice_wav = upload(alice);
  const std::string bob_wav = upload(bob);
  auto submit = [&fleet](const std::string& speaker_wav) {
    return fleet.submit(
        {{"model", "xtts"},
         {"input",
          {{"text", "Hello there."}, {"language", "en"}, {"speaker_wav", speaker_wav}, {"seed", 3}}}});
  };
  auto finished = [&fleet](const std::string& id) {
    auto job = fleet.wait_job(id, 120);
    EXPECT_EQ(job["state"], "succeeded") << job.dump();
    return job;
  };

  // Submitted together: one job per worker (the second finds the first worker busy).
  const std::string first_alice = submit(alice_wav);
  const std::string first_bob = submit(bob_wav);
  const auto alice_job = finished(first_alice);
  const auto bob_job = finished(first_bob);
  EXPECT_EQ(alice_job["result"]["voice_cache"], "miss");
  EXPECT_EQ(bob_job["result"]["voice_cache"], "miss");
  const std::string alice_worker = alice_job.value("worker", "");
  const std::string bob_worker = bob_job.value("worker", "");
  ASSERT_NE(alice_worker, bob_worker) << "both first jobs ran on one worker; the test needs one on each";
  // Each computed voice is in the shared store, under the model's fingerprint.
  size_t stored = 0;
  for (const auto& file : std::filesystem::recursive_directory_iterator(fleet.storage() / "voices")) {
    stored += file.path().extension() == ".safetensors" ? 1 : 0;
  }
  EXPECT_EQ(stored, 2u);

  std::this_thread::sleep_for(std::chrono::milliseconds(300));  // heartbeats carry what each worker holds
  for (int round = 0; round < 2; ++round) {
    for (const auto& [speaker_wav, worker] :
         {std::pair{alice_wav, alice_worker}, std::pair{bob_wav, bob_worker}}) {
      const auto job = finished(submit(speaker_wav));
      EXPECT_EQ(job["worker"], worker) << "a job went past the worker holding its voice: " << job.dump();
      EXPECT_EQ(job["result"]["voice_cache"], "memory") << job.dump();
    }
  }

  // Alice's worker comes back with an empty memory; whichever worker takes her next job (neither holds her
  // voice in memory now) finds the voice in the store rather than computing it.
  const size_t restarted = alice_worker.rfind("worker-1-", 0) == 0 ? 0 : 1;
  fleet.stack().restart_worker(restarted, SIGTERM);
  ASSERT_TRUE(fleet.wait_workers(2));
  const auto again = finished(submit(alice_wav));
  EXPECT_EQ(again["result"]["voice_cache"], "shared") << again.dump();
}

// Guards the voice cache's side channel between tenants: the cache was keyed by the reference's content
// alone, so a key that uploaded the same recording as another key got voice_cache "memory" (and a faster
// answer), learning that someone else had used that voice. Now each key's voices are its own: the second
// key's first job computes the voice again, and each key then hits its own entry.
TEST(FleetXtts, AVoiceComputedForOneKeyIsNotAnotherKeysCacheHit) {
  const std::string golden = xtts_golden_dir();
  if (!std::filesystem::exists(golden + "/config.json")) GTEST_SKIP() << "no XTTS golden set at " << golden;
  TempDir dir;
  const std::string registry = xtts_registry(dir, golden);
  const auto [alice, alice_line] = ApiKeys::generate("alice");
  const auto [bob, bob_line] = ApiKeys::generate("bob");
  Fleet fleet(
      FleetOptions{1, "noop", 1, {{"WORKER_CONFIG", registry}, {"API_KEYS", alice_line + ";" + bob_line}}});
  std::ifstream in(golden + "/inputs/ref.wav", std::ios::binary);
  const std::string reference((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  auto as = [&fleet](const std::string& token, const std::string& method, const std::string& target,
                     const std::string& body, const std::string& content_type = "application/json") {
    return fleet.request(method, target, body,
                         {{"Authorization", "Bearer " + token}, {"Content-Type", content_type}});
  };
  auto voice_source = [&](const std::string& token, const std::string& speaker_wav) {
    const json request{
        {"model", "xtts"},
        {"input", {{"text", "Hello there."}, {"language", "en"}, {"speaker_wav", speaker_wav}, {"seed", 5}}}};
    auto created = as(token, "POST", "/v1/jobs", request.dump());
    EXPECT_EQ(created.status, 202) << created.body;
    const std::string id = json::parse(created.body).value("id", "");
    auto job = json::parse(as(token, "GET", "/v1/jobs/" + id + "?wait=120", "").body);
    EXPECT_EQ(job["state"], "succeeded") << job.dump();
    return job["result"].value("voice_cache", "");
  };
  std::string speaker_wav[2];
  for (int i = 0; i < 2; ++i) {
    auto upload = as(i == 0 ? alice : bob, "POST", "/v1/files", reference, "audio/wav");
    ASSERT_EQ(upload.status, 201) << upload.body;
    speaker_wav[i] = json::parse(upload.body)["speaker_wav"];
  }
  EXPECT_EQ(voice_source(alice, speaker_wav[0]), "miss");
  EXPECT_EQ(voice_source(bob, speaker_wav[1]), "miss") << "Bob's job hit the voice Alice's job computed";
  EXPECT_EQ(voice_source(alice, speaker_wav[0]), "memory");
  EXPECT_EQ(voice_source(bob, speaker_wav[1]), "memory");
  size_t stored = 0;
  for (const auto& file : std::filesystem::recursive_directory_iterator(fleet.storage() / "voices")) {
    stored += file.path().extension() == ".safetensors" ? 1 : 0;
  }
  EXPECT_EQ(stored, 2u) << "one stored voice per key";
}

// Guards named speakers: a checkpoint folder with upstream's speakers_xtts.pth (written at test time by
// torch.save, read without Python) serves jobs that name a speaker instead of sending a reference; an
// unknown name fails with the names there are.
TEST(FleetXtts, NamedSpeakersFromTheCheckpointsSpeakersFile) {
  const std::string golden = xtts_golden_dir();
  if (!std::filesystem::exists(golden + "/config.json")) GTEST_SKIP() << "no XTTS golden set at " << golden;
  TempDir dir;
  const auto model_dir = dir.path() / "xtts";
  std::filesystem::create_directories(model_dir);
  for (const char* file : {"config.json", "vocab.json", "model.safetensors"}) {
    std::filesystem::create_symlink(std::filesystem::absolute(golden) / file, model_dir / file);
  }
  const char* source = std::getenv("GPUFLEET_SOURCE_DIR");
  const std::string command = python_for_models() + " " + std::string(source != nullptr ? source : ".") +
                              "/tests/models/make_xtts_speakers.py " + golden + " " +
                              (model_dir / "speakers_xtts.pth").string() + " 'Ana Florence' 'Test Speaker'";
  ASSERT_EQ(std::system(command.c_str()), 0) << command;
  // Warm-up at its default: with named speakers it speaks in the first one.
  const json entry{{"name", "xtts"},
                   {"backend", "xtts"},
                   {"device", "cpu"},
                   {"files", {{"config", (model_dir / "config.json").string()}}}};
  Fleet fleet(FleetOptions{
      1, "noop", 1, {{"WORKER_CONFIG", write_model_registry(dir.path(), json{{"models", {entry}}}.dump())}}});

  const std::string id = fleet.submit(
      {{"model", "xtts"}, {"input", {{"text", "Hello there."}, {"speaker", "Ana Florence"}, {"seed", 1}}}});
  auto job = fleet.wait_job(id, 120);
  ASSERT_EQ(job["state"], "succeeded") << job.dump();
  EXPECT_EQ(job["result"]["speaker"], "Ana Florence");
  EXPECT_FALSE(job["result"].contains("voice_cache"));
  EXPECT_EQ(parse_wav(fleet.get("/v1/jobs/" + id + "/result").body)->sample_rate, 24000u);

  // Both a named speaker and a reference: the named speaker wins, as in upstream's Xtts.synthesize (the
  // reference used to win).
  std::ifstream in(golden + "/inputs/ref.wav", std::ios::binary);
  const std::string reference((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const std::string speaker_wav =
      json::parse(fleet.post("/v1/files", reference, "audio/wav").body)["speaker_wav"];
  auto both = fleet.wait_job(
      fleet.submit(
          {{"model", "xtts"},
           {"input", {{"text", "Hello."}, {"speaker", "Test Speaker"}, {"speaker_wav", speaker_wav}}}}),
      120);
  ASSERT_EQ(both["state"], "succeeded") << both.dump();
  EXPECT_EQ(both["result"]["speaker"], "Test Speaker") << both.dump();
  EXPECT_FALSE(both["result"].contains("voice_cache"));

  const std::string unknown =
      fleet.submit({{"model", "xtts"}, {"input", {{"text", "Hello."}, {"speaker", "Nobody"}}}});
  auto refused = fleet.wait_job(unknown, 60);
  EXPECT_EQ(refused["state"], "failed");
  EXPECT_EQ(refused["error"]["code"], "invalid_input");
  EXPECT_NE(refused["error"]["message"].get<std::string>().find("Ana Florence, Test Speaker"),
            std::string::npos)
      << refused.dump();
}

// An HTTP/1.1 response read as it arrives, with chunked transfer decoded: when each chunk came, and whether
// the terminating chunk did (a stream cut short has none).
struct ChunkedBody {
  int status = 0;
  std::string head;
  std::string body;
  std::vector<std::chrono::steady_clock::time_point> arrivals;
  bool complete = false;
};

ChunkedBody read_chunked(uint16_t port, const std::string& target, std::chrono::seconds timeout) {
  ChunkedBody out;
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(port);
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)) != 0) {
    ::close(fd);
    return out;
  }
  const std::string request = "GET " + target + " HTTP/1.1\r\nHost: localhost\r\n\r\n";
  ::send(fd, request.data(), request.size(), MSG_NOSIGNAL);
  std::string raw;
  size_t parsed = 0;  // of raw, after the head
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!out.complete && std::chrono::steady_clock::now() < deadline) {
    pollfd ready{fd, POLLIN, 0};
    if (::poll(&ready, 1, 50) <= 0) continue;
    char buffer[65536];
    const ssize_t n = ::recv(fd, buffer, sizeof(buffer), 0);
    if (n <= 0) break;
    raw.append(buffer, static_cast<size_t>(n));
    if (out.head.empty()) {
      const auto end = raw.find("\r\n\r\n");
      if (end == std::string::npos) continue;
      out.head = raw.substr(0, end + 4);
      out.status = std::atoi(out.head.c_str() + 9);
      parsed = end + 4;
      if (out.head.find("chunked") == std::string::npos) {  // an error answer: a plain body
        out.body = raw.substr(parsed);
        out.complete = true;
        break;
      }
    }
    while (true) {
      const auto line_end = raw.find("\r\n", parsed);
      if (line_end == std::string::npos) break;
      const size_t size = std::strtoul(raw.c_str() + parsed, nullptr, 16);
      if (raw.size() < line_end + 2 + size + 2) break;
      if (size == 0) {
        out.complete = true;
        break;
      }
      out.body += raw.substr(line_end + 2, size);
      out.arrivals.push_back(std::chrono::steady_clock::now());
      parsed = line_end + 2 + size + 2;
    }
  }
  ::close(fd);
  return out;
}

// Guards streamed speech through the fleet: with "stream": true the XTTS worker appends audio as the engine
// vocodes it and GET /v1/jobs/{id}/stream forwards it in HTTP chunks while the job runs; the streamed samples
// are exactly the result's; a model that does not stream is answered with its finished result; unknown and
// failed jobs get JSON errors, and a malformed "stream" is refused at submission.
TEST(FleetXtts, StreamedSpeechArrivesInChunksAndEqualsTheResult) {
  const std::string golden = xtts_golden_dir();
  if (!std::filesystem::exists(golden + "/config.json")) GTEST_SKIP() << "no XTTS golden set at " << golden;
  TempDir dir;
  const json xtts = xtts_golden_entry(golden);
  const json espeak{{"name", "espeak"}, {"backend", "espeak"}};
  const std::string registry = write_model_registry(dir.path(), json{{"models", {xtts, espeak}}}.dump());
  Fleet fleet(FleetOptions{1, "noop", 1, {{"WORKER_CONFIG", registry}}});
  const uint16_t port = fleet.stack().config().http_port;

  std::ifstream in(golden + "/inputs/ref.wav", std::ios::binary);
  const std::string reference((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const std::string speaker_wav =
      json::parse(fleet.post("/v1/files", reference, "audio/wav").body)["speaker_wav"];

  const auto submitted = std::chrono::steady_clock::now();
  const std::string id = fleet.submit({{"model", "xtts"},
                                       {"input",
                                        {{"text", "Hello world! This is test number 42, isn't it?"},
                                         {"language", "en"},
                                         {"speaker_wav", speaker_wav},
                                         {"greedy", true},
                                         {"stream", true}}}});
  const auto streamed = read_chunked(port, "/v1/jobs/" + id + "/stream", std::chrono::seconds(120));
  ASSERT_EQ(streamed.status, 200) << streamed.head << streamed.body;
  EXPECT_NE(streamed.head.find("audio/wav"), std::string::npos);
  EXPECT_TRUE(streamed.complete) << "the stream ended without its last chunk";
  auto job = fleet.wait_job(id, 60);
  ASSERT_EQ(job["state"], "succeeded") << job.dump();
  EXPECT_GE(job["result"]["stream_chunks"].get<int>(), 2) << job.dump();
  const std::string result = fleet.get("/v1/jobs/" + id + "/result").body;
  const auto info = parse_wav(result);
  ASSERT_TRUE(info);
  ASSERT_GT(streamed.body.size(), 44u);
  EXPECT_EQ(streamed.body.substr(44), result.substr(info->data_offset, info->data_bytes))
      << "the streamed samples differ from the result's";
  const auto first_ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(streamed.arrivals.front() - submitted);
  const auto last_ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(streamed.arrivals.back() - submitted);
  std::cout << "streamed " << streamed.arrivals.size() << " chunks; first audio " << first_ms.count()
            << " ms after submission, last " << last_ms.count() << " ms (job ran "
            << job["timings"]["running_ms"] << " ms)\n";

  // A model that does not stream: its finished WAV, as /result serves it.
  const std::string spoken =
      fleet.submit({{"model", "espeak"}, {"input", {{"text", "Not streamed."}, {"stream", true}}}});
  const auto whole = read_chunked(port, "/v1/jobs/" + spoken + "/stream", std::chrono::seconds(60));
  ASSERT_EQ(whole.status, 200) << whole.head << whole.body;
  EXPECT_TRUE(whole.complete);
  EXPECT_EQ(whole.body, fleet.get("/v1/jobs/" + spoken + "/result").body);

  const auto unknown =
      read_chunked(port, "/v1/jobs/0123456789abcdef0123456789abcdef/stream", std::chrono::seconds(10));
  EXPECT_EQ(unknown.status, 404);
  const std::string doomed =
      fleet.submit({{"model", "xtts"}, {"input", {{"text", "No reference."}, {"stream", true}}}});
  const auto failed = read_chunked(port, "/v1/jobs/" + doomed + "/stream", std::chrono::seconds(60));
  EXPECT_EQ(failed.status, 409);
  EXPECT_NE(failed.body.find("job_failed"), std::string::npos) << failed.body;
  EXPECT_EQ(
      fleet.post("/v1/jobs", json{{"model", "espeak"}, {"input", {{"text", "x"}, {"stream", "yes"}}}}.dump())
          .status,
      400);
}

// Guards batching across requests in the fleet: XTTS jobs that reach a worker together (max_batch 4, 300 ms
// queue delay) decode together, and each one's audio equals what the same request gets alone.
TEST(FleetXtts, JobsArrivingTogetherDecodeTogetherToTheirSoloAudio) {
  if (!std::filesystem::exists(xtts_golden_dir() + "/config.json")) GTEST_SKIP() << "no XTTS golden set";
  BatchingXttsFleet xtts(4, 300);
  ASSERT_TRUE(xtts.warm);
  Fleet& fleet = *xtts.fleet;
  auto input = [&](const std::string& text, const std::string& language) {
    return xtts.input(text, language);
  };

  const std::vector<std::pair<std::string, std::string>> texts{
      {"Hello world! This is test number 42, isn't it?", "en"},
      {"Guten Morgen, wie geht es dir heute?", "de"},
      {"Le chat dort sur la chaise.", "fr"}};
  std::vector<std::string> ids;
  for (const auto& [text, language] : texts)
    ids.push_back(fleet.submit({{"model", "xtts"}, {"input", input(text, language)}}));
  size_t decoded_together = 0;
  for (size_t i = 0; i < ids.size(); ++i) {
    auto job = fleet.wait_job(ids[i], 120);
    ASSERT_EQ(job["state"], "succeeded") << job.dump();
    decoded_together = std::max<size_t>(decoded_together, job["result"].value("batch_decoded", 1));
    const std::string alone =
        fleet.submit({{"model", "xtts"}, {"input", input(texts[i].first, texts[i].second)}});
    auto solo_job = fleet.wait_job(alone, 120);
    ASSERT_EQ(solo_job["state"], "succeeded") << solo_job.dump();
    EXPECT_EQ(solo_job["result"].value("batch_decoded", 1), 1);
    const int worst = worst_sample_difference(fleet, ids[i], alone);
    EXPECT_GE(worst, 0) << texts[i].first << ": the audio lengths differ";
    EXPECT_LE(worst, 2) << texts[i].first;
  }
  EXPECT_GE(decoded_together, 2u) << "three jobs within the 300 ms queue delay were not decoded together";
}

// Guards continuous batching in the fleet: a job that reaches the worker while another decodes joins the
// running batch instead of waiting for it, is reported as soon as its own audio is done (before the long job
// it joined), streams from the batch, and sounds as it does alone.
TEST(FleetXtts, AJobArrivingMidDecodeJoinsTheBatchAndIsReportedFirst) {
  if (!std::filesystem::exists(xtts_golden_dir() + "/config.json")) GTEST_SKIP() << "no XTTS golden set";
  BatchingXttsFleet xtts(4, 0);
  ASSERT_TRUE(xtts.warm);
  Fleet& fleet = *xtts.fleet;
  auto input = [&](const std::string& text) { return xtts.input(text); };

  // Many pieces (the text is split at the language's limit), each decoded in turn: a long job.
  std::string long_text;
  for (int i = 0; i < 10; ++i) {
    long_text +=
        "Sentence number " + std::to_string(i) +
        " is long enough to be a piece of its own when it is joined "
        "with the others, because the English limit is two hundred and fifty characters, which this one "
        "together with its neighbour exceeds by far. ";
  }
  const std::string long_id = fleet.submit({{"model", "xtts"}, {"input", input(long_text)}});
  const auto waiting_since = std::chrono::steady_clock::now();
  while (json::parse(fleet.get("/v1/jobs/" + long_id).body)["state"] != "running") {
    ASSERT_LT(std::chrono::steady_clock::now() - waiting_since, std::chrono::seconds(60))
        << "the long job never ran";
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  json streamed_input = input("Le chat dort.");
  streamed_input["stream"] = true;
  const std::string short_id = fleet.submit({{"model", "xtts"}, {"input", streamed_input}});
  const auto short_job = fleet.wait_job(short_id, 120);
  const auto long_job = fleet.wait_job(long_id, 120);
  ASSERT_EQ(short_job["state"], "succeeded") << short_job.dump();
  ASSERT_EQ(long_job["state"], "succeeded") << long_job.dump();
  EXPECT_GE(long_job["result"]["pieces"].get<int>(), 5) << long_job.dump();
  EXPECT_GE(short_job["result"].value("batch_decoded", 1), 2)
      << "the newcomer did not join: " << short_job.dump();
  EXPECT_GE(long_job["result"].value("batch_decoded", 1), 2) << long_job.dump();
  EXPECT_LT(short_job["finished_at_ms"].get<int64_t>(), long_job["finished_at_ms"].get<int64_t>())
      << "the short job waited for the long one";
  EXPECT_GE(short_job["result"].value("stream_chunks", 0), 1) << short_job.dump();
  std::cout << "long job " << long_job["timings"]["running_ms"] << " ms (" << long_job["result"]["pieces"]
            << " pieces); the newcomer ran " << short_job["timings"]["running_ms"]
            << " ms inside it, finished "
            << long_job["finished_at_ms"].get<int64_t>() - short_job["finished_at_ms"].get<int64_t>()
            << " ms before it\n";

  const std::string alone = fleet.submit({{"model", "xtts"}, {"input", streamed_input}});
  const auto solo_job = fleet.wait_job(alone, 120);
  ASSERT_EQ(solo_job["state"], "succeeded") << solo_job.dump();
  EXPECT_EQ(solo_job["result"].value("batch_decoded", 1), 1);
  const int worst = worst_sample_difference(fleet, short_id, alone);
  EXPECT_GE(worst, 0) << "the audio lengths differ";
  EXPECT_LE(worst, 2);
}

}  // namespace
}  // namespace gpufleet::testing
