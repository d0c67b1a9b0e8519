// Guards video jobs through the real fleet: a portrait uploaded through /v1/files and speech from the
// original /tts/generate make a talking head through the original /video/generate and through
// /v1/jobs (kind video); the result streams as an MP4 that FFmpeg reads back with both streams and the
// speech's length; bad portraits and paths outside the allowed folders are refused with clear errors.
#include <gtest/gtest.h>

#include <opencv2/imgcodecs.hpp>

#include <fstream>
#include <iterator>
#include <set>

#include "common/files.hpp"
#include "common/wav.hpp"
#include "tests/support/fleet_fixture.hpp"
#include "tests/support/media.hpp"

namespace gpufleet::testing {
namespace {

using nlohmann::json;

std::string read_all(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

std::string astronaut() { return std::string(std::getenv("GPUFLEET_SOURCE_DIR")) + "/tests/data/astronaut.png"; }

TEST(FleetVideo, SpeechAndAPortraitBecomeATalkingHeadMp4) {
  Fleet fleet(FleetOptions{1, "espeak,portrait", 1, {}});
  auto health = json::parse(fleet.get("/health").body);
  EXPECT_EQ(health["models"]["video"], true) << health.dump();

  auto image = fleet.post("/v1/files", read_all(astronaut()), "image/png");
  ASSERT_EQ(image.status, 201) << image.body;
  const std::string portrait = json::parse(image.body)["reference_image"];
  EXPECT_EQ(json::parse(fleet.get("/v1/files/" + json::parse(image.body)["id"].get<std::string>()).body)["content_type"],
            "image/png");

  // The original runtime's two calls: speech first, then the video of it.
  auto speech = fleet.post("/tts/generate", json{{"text", "Hello, I am a talking head made by the fleet."}}.dump());
  ASSERT_EQ(speech.status, 200) << speech.body;
  const std::string audio_path = json::parse(speech.body)["audio_path"];
  const auto wav = parse_wav(*read_file(audio_path, 64 << 20));
  ASSERT_TRUE(wav);
  auto video = fleet.post("/video/generate", json{{"audio_path", audio_path}, {"reference_image", portrait}}.dump());
  ASSERT_EQ(video.status, 200) << video.body;
  const auto answer = json::parse(video.body);
  EXPECT_EQ(answer["success"], true);
  const std::string video_path = answer["video_path"];
  const auto probe = probe_media(video_path);
  ASSERT_TRUE(probe.contains("streams")) << "ffprobe cannot read " << video_path;
  std::set<std::string> kinds;
  for (const auto& stream : probe["streams"]) kinds.insert(stream.value("codec_name", ""));
  EXPECT_EQ(kinds, (std::set<std::string>{"h264", "aac"}));
  EXPECT_NEAR(std::stod(probe["format"]["duration"].get<std::string>()), wav->duration_s(), 0.05);

  // The async API: kind video, the speech as an uploaded WAV this time, the result streamed back, and the
  // frames rendered reported on the job's events while it runs.
  EventRecorder events(fleet.redis_endpoint(), fleet.keys().job_events());
  auto uploaded = fleet.post("/v1/files", encode_wav_pcm16(std::vector<int16_t>(48000, 0), 16000), "audio/wav");
  ASSERT_EQ(uploaded.status, 201) << uploaded.body;
  const std::string id = fleet.submit({{"kind", "video"},
                                       {"input", {{"audio_path", json::parse(uploaded.body)["audio_path"]},
                                                  {"reference_image", portrait},
                                                  {"mode", "lip_sync"},
                                                  {"size", 256}}}});
  auto job = fleet.wait_job(id, 120);
  ASSERT_EQ(job["state"], "succeeded") << job.dump();
  EXPECT_EQ(job["model"], "portrait");
  EXPECT_EQ(job["result"]["frames"], 75);
  EXPECT_EQ(job["result"]["width"], 256);
  auto result = fleet.get("/v1/jobs/" + id + "/result");
  ASSERT_EQ(result.status, 200);
  EXPECT_EQ(result.body.substr(4, 4), "ftyp") << "not an MP4";
  ASSERT_TRUE(events.wait_final(id, std::chrono::seconds(10)));
  int reports = 0;
  for (const auto& event : events.events_for(id)) {
    if (!event.contains("progress")) continue;
    ++reports;
    EXPECT_EQ(event["state"], "running");
    EXPECT_EQ(event["progress"]["total"], 75);
    EXPECT_LT(event["progress"]["done"].get<int>(), 75);
  }
  EXPECT_GE(reports, 1) << "no progress was reported while the video rendered";
}

TEST(FleetVideo, BadPortraitsAndPathsAreRefused) {
  Fleet fleet(FleetOptions{1, "espeak,portrait", 1, {}});
  auto not_an_image = fleet.post("/v1/files", "definitely not a png", "image/png");
  EXPECT_EQ(not_an_image.status, 422) << not_an_image.body;
  EXPECT_EQ(json::parse(not_an_image.body)["error"]["code"], "invalid_input");

  auto speech = fleet.post("/v1/files", encode_wav_pcm16(std::vector<int16_t>(8000, 500), 16000), "audio/wav");
  const std::string audio_path = json::parse(speech.body)["audio_path"];
  auto escape = fleet.post("/v1/jobs", json{{"kind", "video"},
                                             {"input", {{"audio_path", audio_path}, {"reference_image", "../../etc/passwd"}}}}
                                           .dump());
  EXPECT_EQ(escape.status, 422) << escape.body;
  EXPECT_EQ(escape.body.find("/etc"), std::string::npos) << "the error echoes a server path";

  // A picture without a face: accepted as an image, refused by the model with its reason.
  cv::Mat sky(240, 320, CV_8UC3, cv::Scalar(230, 180, 120));
  std::vector<uint8_t> png;
  cv::imencode(".png", sky, png);
  auto faceless = fleet.post("/v1/files", std::string(png.begin(), png.end()), "image/png");
  ASSERT_EQ(faceless.status, 201) << faceless.body;
  const std::string id = fleet.submit(
      {{"kind", "video"}, {"input", {{"audio_path", audio_path}, {"reference_image", json::parse(faceless.body)["reference_image"]}}}});
  auto job = fleet.wait_job(id, 60);
  EXPECT_EQ(job["state"], "failed");
  EXPECT_EQ(job["error"]["code"], "invalid_input");
  EXPECT_NE(job["error"]["message"].get<std::string>().find("no face"), std::string::npos) << job.dump();

  auto text_video = fleet.post("/video/generate", json{{"audio_path", audio_path}}.dump());
  EXPECT_EQ(text_video.status, 400) << text_video.body;
  EXPECT_EQ(json::parse(text_video.body)["error"]["code"], "missing_field");
}

}  // namespace
}  // namespace gpufleet::testing
