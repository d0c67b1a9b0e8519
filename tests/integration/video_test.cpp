// Guards video jobs through the real fleet: a portrait uploaded through /v1/files and speech from the
// original /tts/generate make a talking head through the original /video/generate and through
// /v1/jobs (kind video); the result streams as an MP4 that FFmpeg reads back with both streams and the
// speech's length; bad portraits and paths outside the allowed folders are refused with clear errors. An
// uploaded video is lip-synced through /lipsync/generate and /v1/jobs kind lipsync (also from text), and bad
// videos are refused at the upload with their codes.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>

#include <array>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <opencv2/core.hpp>
#include <opencv2/imgcodecs.hpp>
#include <set>
#include <thread>

#include "cli/http_client.hpp"
#include "cli/process.hpp"
#include "common/files.hpp"
#include "common/wav.hpp"
#include "models/video/motion.hpp"
#include "tests/support/fleet_fixture.hpp"
#include "tests/support/media.hpp"
#include "tests/support/temp_dir.hpp"
#include "tests/support/vits_voice.hpp"

namespace gpufleet::testing {
namespace {

using nlohmann::json;

std::string read_all(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

std::string astronaut() {
  return std::string(std::getenv("GPUFLEET_SOURCE_DIR")) + "/tests/data/astronaut.png";
}

TEST(FleetVideo, SpeechAndAPortraitBecomeATalkingHeadMp4) {
  Fleet fleet(FleetOptions{1, "espeak,portrait", 1, {}});
  auto health = json::parse(fleet.get("/health").body);
  EXPECT_EQ(health["models"]["video"], true) << health.dump();
  EXPECT_EQ(health["models"]["lipsync"], true) << health.dump();

  auto image = fleet.post("/v1/files", read_all(astronaut()), "image/png");
  ASSERT_EQ(image.status, 201) << image.body;
  const std::string portrait = json::parse(image.body)["reference_image"];
  EXPECT_EQ(
      json::parse(
          fleet.get("/v1/files/" + json::parse(image.body)["id"].get<std::string>()).body)["content_type"],
      "image/png");

  // The original runtime's two calls: speech first, then the video of it, in the original documentation's
  // words ("mode": "liveportrait", served here by the embedded backend).
  auto speech =
      fleet.post("/tts/generate", json{{"text", "Hello, I am a talking head made by the fleet."}}.dump());
  ASSERT_EQ(speech.status, 200) << speech.body;
  const std::string audio_path = json::parse(speech.body)["audio_path"];
  const auto wav = parse_wav(*read_file(audio_path, 64 << 20));
  ASSERT_TRUE(wav);
  auto video = fleet.post(
      "/video/generate",
      json{{"audio_path", audio_path}, {"reference_image", portrait}, {"mode", "liveportrait"}}.dump());
  ASSERT_EQ(video.status, 200) << video.body;
  const auto answer = json::parse(video.body);
  EXPECT_EQ(answer["success"], true);
  EXPECT_EQ(answer["model"], "portrait");
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
  // Ten seconds of speech: the render must outlast a few heartbeats (which carry progress) on a fast machine.
  auto uploaded =
      fleet.post("/v1/files", encode_wav_pcm16(std::vector<int16_t>(160000, 0), 16000), "audio/wav");
  ASSERT_EQ(uploaded.status, 201) << uploaded.body;
  const std::string id = fleet.submit({{"kind", "video"},
                                       {"input",
                                        {{"audio_path", json::parse(uploaded.body)["audio_path"]},
                                         {"reference_image", portrait},
                                         {"mode", "lip_sync"},
                                         {"size", 256}}}});
  auto job = fleet.wait_job(id, 120);
  ASSERT_EQ(job["state"], "succeeded") << job.dump();
  EXPECT_EQ(job["model"], "portrait");
  EXPECT_EQ(job["result"]["frames"], 250);
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
    EXPECT_EQ(event["progress"]["total"], 250);
    EXPECT_LT(event["progress"]["done"].get<int>(), 250);
  }
  EXPECT_GE(reports, 1) << "no progress was reported while the video rendered";
}

// Guards the first start (#19): `gpufleet up` with no WORKER_MODELS serves every model the build runs, so
// a video build answers /video/generate without the user finding WORKER_MODELS=espeak,portrait.
TEST(FleetVideo, UpServesTheTalkingHeadWithoutBeingAsked) {
  TempDir dir;
  const uint16_t http_port = cli::free_port();
  auto up = cli::Process::spawn({bin_dir() + "/gpufleet", "up"},
                                {{"HOST", "127.0.0.1"},
                                 {"PORT", std::to_string(http_port)},
                                 {"REDIS_PORT", std::to_string(cli::free_port())},
                                 {"BROKER_PORT", std::to_string(cli::free_port())},
                                 {"BROKER_METRICS_PORT", "0"},
                                 {"STATE_DIR", (dir.path() / "state").string()},
                                 {"STORAGE_ROOT", (dir.path() / "storage").string()}},
                                (dir.path() / "up.log").string());
  json health;
  for (int i = 0; i < 600 && !(health.is_object() && health["models"]["video"] == true); ++i) {
    health = json::parse(cli::http_request("GET", "127.0.0.1", http_port, "/health").body, nullptr, false);
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  ASSERT_TRUE(health.is_object()) << *read_file(dir.path() / "up.log", 1 << 20);
  EXPECT_EQ(health["models"]["tts"], true) << health.dump();
  EXPECT_EQ(health["models"]["video"], true) << health.dump();
  EXPECT_EQ(health["models"]["lipsync"], true) << health.dump();
  up.signal(SIGTERM);
  auto status = up.wait(std::chrono::seconds(30));
  ASSERT_TRUE(status);
  EXPECT_TRUE(WIFEXITED(*status) && WEXITSTATUS(*status) == 0);
}

// Guards `gpufleet evaluate` (#19): against a real fleet it runs the whole standard workload (speech of three
// lengths, streamed every other round, and text to video), writes a report whose counts match the jobs the
// fleet ran, with first-audio figures for the streams, and a chart with a mark per job.
TEST(FleetVideo, EvaluateReportsEveryServedModel) {
  Fleet fleet(FleetOptions{1, "espeak,portrait", 2, {}});
  TempDir dir;
  const std::string command =
      "GPUFLEET_URL=http://127.0.0.1:" + std::to_string(fleet.stack().config().http_port) + " " + bin_dir() +
      "/gpufleet evaluate --rounds 2 --languages 2 --concurrency 3 --image " + astronaut() + " --out " +
      (dir.path() / "reports").string() + " 2>&1";
  std::string out;
  FILE* pipe = ::popen(command.c_str(), "r");
  std::array<char, 4096> buffer{};
  for (size_t n; (n = std::fread(buffer.data(), 1, buffer.size(), pipe)) > 0;) out.append(buffer.data(), n);
  const int status = ::pclose(pipe);
  ASSERT_TRUE(WIFEXITED(status)) << out;
  EXPECT_EQ(WEXITSTATUS(status), 0) << out;

  std::vector<std::filesystem::path> reports, charts;
  for (const auto& entry : std::filesystem::directory_iterator(dir.path() / "reports")) {
    const std::string name = entry.path().filename().string();
    if (name.rfind("summary_report_", 0) == 0 && entry.path().extension() == ".json")
      reports.push_back(entry.path());
    if (name.rfind("latency_", 0) == 0 && entry.path().extension() == ".svg") charts.push_back(entry.path());
  }
  ASSERT_EQ(reports.size(), 1u) << out;
  ASSERT_EQ(charts.size(), 1u) << out;
  const json report = json::parse(*read_file(reports[0], 1 << 24));
  // espeak: 2 languages x 3 lengths x 2 rounds; portrait: one text-to-video case x 2 rounds.
  EXPECT_EQ(report["jobs_total"], 14) << report.dump(1).substr(0, 2000);
  EXPECT_EQ(report["failures_total"], 0);
  const json& espeak = report["models"]["espeak"];
  EXPECT_EQ(espeak["succeeded"], 12);
  EXPECT_GT(espeak["latency_ms"]["p50"].get<double>(), 0);
  EXPECT_LE(espeak["latency_ms"]["p50"].get<double>(), espeak["latency_ms"]["p99"].get<double>());
  EXPECT_GT(espeak["rtf"]["p50"].get<double>(), 0);
  ASSERT_TRUE(espeak["first_audio_ms"].is_object()) << "the streamed rounds time their first audio";
  EXPECT_LE(espeak["first_audio_ms"]["p50"].get<double>(), espeak["latency_ms"]["max"].get<double>());
  const json& portrait = report["models"]["portrait"];
  EXPECT_EQ(portrait["kind"], "video");
  EXPECT_EQ(portrait["succeeded"], 2);
  EXPECT_TRUE(portrait["first_audio_ms"].is_null());
  // The jobs the report lists are the fleet's: each finished, as the gateway records them.
  auto recent = json::parse(fleet.get("/v1/jobs?limit=500").body);
  EXPECT_GE(recent["jobs"].size(), 14u);
  // The table was printed, and the chart marks every job.
  EXPECT_NE(out.find("portrait"), std::string::npos) << out;
  const std::string svg = *read_file(charts[0], 1 << 24);
  size_t marks = 0;
  for (size_t at = svg.find("class=\"job\""); at != std::string::npos; at = svg.find("class=\"job\"", at + 1))
    ++marks;
  EXPECT_EQ(marks, 14u);
}

// Guards the upload limit of its own (#19: a 1.6 MB portrait got 413 'over the limit of 1048576 bytes'):
// /v1/files takes files up to MAX_UPLOAD_BYTES, far over the JSON body limit, which other paths keep.
TEST(FleetVideo, APortraitOverOneMiBUploadsUpToMaxUploadBytes) {
  Fleet fleet(FleetOptions{1, "espeak,portrait", 1, {{"MAX_UPLOAD_BYTES", std::to_string(3 << 20)}}});
  auto noise_png = [](int side) {
    cv::Mat image(side, side, CV_8UC3);
    cv::randu(image, cv::Scalar::all(0), cv::Scalar::all(255));
    std::vector<uchar> bytes;
    cv::imencode(".png", image, bytes);
    return std::string(bytes.begin(), bytes.end());
  };
  const std::string photo = noise_png(800);  // incompressible: ~1.9 MB
  ASSERT_GT(photo.size(), 1u << 20);
  ASSERT_LT(photo.size(), 3u << 20);
  auto uploaded = fleet.post("/v1/files", photo, "image/png");
  EXPECT_EQ(uploaded.status, 201) << uploaded.body;
  EXPECT_EQ(json::parse(uploaded.body)["bytes"], photo.size()) << uploaded.body;

  auto too_big = fleet.post("/v1/files", noise_png(1100), "image/png");  // ~3.6 MB
  EXPECT_EQ(too_big.status, 413) << too_big.body;
  EXPECT_EQ(json::parse(too_big.body)["error"]["code"], "payload_too_large");
  const std::string long_text(1200 * 1024, 'a');
  auto job = fleet.post("/v1/jobs", json{{"input", {{"text", long_text}}}}.dump());
  EXPECT_EQ(job.status, 413) << job.body.substr(0, 200);
  EXPECT_EQ(fleet.get("/health").status, 200);
}

// Guards text-to-video as one job: the speech stage runs on espeak, its audio and phoneme timings feed the
// video stage, the job reads as a video job with both stages' states and results, its events name the stage,
// and the mouth in the MP4 follows the phonemes (lips shut on the m's of "mama").
TEST(FleetVideo, TextBecomesATalkingHeadAsOneJobOfTwoStages) {
  Fleet fleet(FleetOptions{1, "espeak,portrait", 1, {}});
  auto image = fleet.post("/v1/files", read_all(astronaut()), "image/png");
  ASSERT_EQ(image.status, 201) << image.body;
  const std::string portrait = json::parse(image.body)["reference_image"];

  EventRecorder events(fleet.redis_endpoint(), fleet.keys().job_events());
  const std::string id = fleet.submit({{"kind", "video"},
                                       {"input",
                                        {{"text", "Mama made my mom a map."},
                                         {"reference_image", portrait},
                                         {"size", 256},
                                         {"mode", "lip_sync"}}}});
  auto job = fleet.wait_job(id, 120);
  ASSERT_EQ(job["state"], "succeeded") << job.dump();
  EXPECT_EQ(job["kind"], "video");
  EXPECT_EQ(job["model"], "portrait");
  EXPECT_EQ(job["stage"], 1);
  ASSERT_EQ(job["stages"].size(), 2u) << job.dump();
  EXPECT_EQ(job["stages"][0]["model"], "espeak");
  EXPECT_EQ(job["stages"][0]["state"], "succeeded");
  EXPECT_EQ(job["stages"][1]["state"], "succeeded");
  const auto& speech_result = job["stages"][0]["result"];
  const std::string audio_path = speech_result["audio_path"];
  ASSERT_TRUE(speech_result["phonemes"].is_array() && !speech_result["phonemes"].empty())
      << speech_result.dump();
  EXPECT_EQ(job["result"]["mouth"], "phonemes");
  const auto wav = parse_wav(*read_file(audio_path, 64 << 20));
  ASSERT_TRUE(wav);
  const size_t frames = job["result"]["frames"];
  EXPECT_EQ(frames, static_cast<size_t>(std::lround(wav->duration_s() * 25)));

  auto result = fleet.get("/v1/jobs/" + id + "/result");
  ASSERT_EQ(result.status, 200);
  const std::string video_path = job["result"]["video_path"];
  const auto probe = probe_media(video_path);
  ASSERT_TRUE(probe.contains("format"));
  EXPECT_NEAR(std::stod(probe["format"]["duration"].get<std::string>()), wav->duration_s(), 0.05);

  // Events: the speech stage ran, the job was queued again as the video stage with the speech's result,
  // and the job ended with the video stage.
  ASSERT_TRUE(events.wait_final(id, std::chrono::seconds(10)));
  std::vector<std::string> seen;
  for (const auto& event : events.events_for(id)) {
    if (event.contains("progress")) continue;
    seen.push_back(event["state"].get<std::string>() + "@" + std::to_string(event.value("stage", -1)));
    if (event["state"] == "queued" && event.value("stage", -1) == 1) {
      EXPECT_EQ(event["result"]["audio_path"], audio_path);
      EXPECT_EQ(event["model"], "portrait");
    }
  }
  EXPECT_EQ(seen,
            (std::vector<std::string>{"queued@0", "running@0", "queued@1", "running@1", "succeeded@1"}));

  // The mouth region's opening (difference from the first, closed frame) against the phonemes' openness.
  const int width = job["result"]["width"], height = job["result"]["height"];
  const auto decoded = decode_gray_frames(video_path, width, height);
  ASSERT_EQ(decoded.size(), frames);
  const auto& face = job["result"]["face"];
  const int fx = face[0], fy = face[1], fw = face[2], fh = face[3];
  const cv::Rect mouth(fx + fw * 3 / 10, fy + fh * 65 / 100, fw * 4 / 10, fh * 40 / 100);
  std::vector<video::PhonemeSpan> spans;
  for (const auto& phoneme : speech_result["phonemes"]) {
    spans.push_back({phoneme["phoneme"], phoneme["start_ms"].get<double>() / 1000,
                     phoneme["end_ms"].get<double>() / 1000});
  }
  const auto planned = video::mouth_from_phonemes(spans, frames, 25);
  std::vector<double> opening(frames), expected(planned.begin(), planned.end());
  const cv::Mat first(height, width, CV_8U, const_cast<uint8_t*>(decoded[0].data()));
  for (size_t f = 0; f < frames; ++f) {
    const cv::Mat now(height, width, CV_8U, const_cast<uint8_t*>(decoded[f].data()));
    opening[f] = cv::norm(now(mouth), first(mouth), cv::NORM_L1) / mouth.area();
  }
  const double r = correlation(opening, expected);
  std::printf("text to video: %zu frames; mouth region opening vs phoneme openness r=%.2f\n", frames, r);
  EXPECT_GT(r, 0.6);

  // The original route takes text as well and answers when the video is made.
  auto original = fleet.post(
      "/video/generate", json{{"text", "Hello there."}, {"reference_image", portrait}, {"size", 128}}.dump());
  ASSERT_EQ(original.status, 200) << original.body;
  EXPECT_EQ(json::parse(original.body)["success"], true);
  EXPECT_EQ(probe_media(json::parse(original.body)["video_path"].get<std::string>())["format"]["format_name"],
            "mov,mp4,m4a,3gp,3g2,mj2");
}

// Guards a pipeline cancelled while its video stage renders: the whole job ends cancelled, the finished
// speech stage keeps its result, and no further work is queued for it.
TEST(FleetVideo, CancellingATextToVideoJobEndsItWhicheverStageRuns) {
  Fleet fleet(FleetOptions{1, "espeak,portrait", 1, {}});
  auto image = fleet.post("/v1/files", read_all(astronaut()), "image/png");
  ASSERT_EQ(image.status, 201) << image.body;
  EventRecorder events(fleet.redis_endpoint(), fleet.keys().job_events());
  std::string text;
  for (int i = 0; i < 12; ++i) text += "This sentence gives the portrait plenty of frames to render. ";
  const std::string id = fleet.submit(
      {{"kind", "video"},
       {"input",
        {{"text", text}, {"reference_image", json::parse(image.body)["reference_image"]}, {"size", 512}}}});
  // Cancel once the video stage has rendered some frames.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  bool rendering = false;
  while (!rendering && std::chrono::steady_clock::now() < deadline) {
    for (const auto& event : events.events_for(id))
      rendering = rendering || (event.value("stage", -1) == 1 && event.contains("progress"));
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  ASSERT_TRUE(rendering) << fleet.wait_job(id, 0).dump();
  auto cancel = fleet.request("DELETE", "/v1/jobs/" + id);
  EXPECT_EQ(cancel.status, 202) << cancel.body;
  auto job = fleet.wait_job(id, 30);
  EXPECT_EQ(job["state"], "cancelled") << job.dump();
  EXPECT_EQ(job["stages"][0]["state"], "succeeded");
  EXPECT_EQ(job["stages"][1]["state"], "cancelled");
  EXPECT_FALSE(job.contains("result"));
}

// Guards the neural backends in the fleet, on modules of the real interfaces built at test time: a registry
// entry with files.dir loads LivePortrait and Wav2Lip through the worker's LibTorch plugin; text to video on
// LivePortrait and speech to video on Wav2Lip each give an MP4 of the speech's length whose frames outside
// the rendered face box stay the portrait, and the result names the renderer, its device and its box.
TEST(FleetVideo, NeuralRenderersServeVideoJobs) {
  TempDir dir;
  make_face_modules(dir.path(), "--crop 64");
  const std::string registry = write_model_registry(dir.path(), R"({"models":[
        {"name":"espeak","backend":"espeak","warmup":false},
        {"name":"lp","backend":"liveportrait","device":"cpu","files":{"dir":"liveportrait"},
         "options":{"crop_size":64,"frame_batch":8}},
        {"name":"w2l","backend":"wav2lip","device":"cpu","files":{"dir":"wav2lip"}}]})");
  Fleet fleet(FleetOptions{1, "espeak", 1, {{"WORKER_CONFIG", registry}}});
  auto image = fleet.post("/v1/files", read_all(astronaut()), "image/png");
  ASSERT_EQ(image.status, 201) << image.body;
  const std::string portrait = json::parse(image.body)["reference_image"];

  const std::string text_job =
      fleet.submit({{"kind", "video"},
                    {"model", "lp"},
                    {"input", {{"text", "A neural face."}, {"reference_image", portrait}, {"size", 256}}}});
  auto uploaded =
      fleet.post("/v1/files", encode_wav_pcm16(speech_like_audio(2.0, 16000), 16000), "audio/wav");
  ASSERT_EQ(uploaded.status, 201) << uploaded.body;
  const std::string speech_job = fleet.submit({{"kind", "video"},
                                               {"model", "w2l"},
                                               {"input",
                                                {{"audio_path", json::parse(uploaded.body)["audio_path"]},
                                                 {"reference_image", portrait},
                                                 {"size", 256}}}});

  for (const auto& [id, family] : {std::pair{text_job, "liveportrait"}, std::pair{speech_job, "wav2lip"}}) {
    auto job = fleet.wait_job(id, 120);
    ASSERT_EQ(job["state"], "succeeded") << job.dump();
    const auto& result = job["result"];
    EXPECT_EQ(result["renderer"]["family"], family);
    EXPECT_EQ(result["renderer"]["device"], "cpu");
    const size_t frames = result["frames"];
    EXPECT_EQ(frames, static_cast<size_t>(std::lround(result["audio_duration_s"].get<double>() * 25)));
    const std::string video_path = result["video_path"];
    const auto probe = probe_media(video_path);
    ASSERT_TRUE(probe.contains("format"));
    EXPECT_NEAR(std::stod(probe["format"]["duration"].get<std::string>()),
                result["audio_duration_s"].get<double>(), 0.05);
    const auto decoded = decode_gray_frames(video_path, 256, 256);
    ASSERT_EQ(decoded.size(), frames);
    const auto& box_json = result["renderer"]["box"];
    const cv::Rect box(box_json[0], box_json[1], box_json[2], box_json[3]);
    cv::Mat outside(256, 256, CV_8U, cv::Scalar(255));
    outside(box).setTo(0);
    const cv::Mat first(256, 256, CV_8U, const_cast<uint8_t*>(decoded[0].data()));
    double largest = 0;
    for (const auto& pixels : decoded) {
      const cv::Mat now(256, 256, CV_8U, const_cast<uint8_t*>(pixels.data()));
      largest = std::max(largest, cv::norm(now, first, cv::NORM_L1, outside) / cv::countNonZero(outside));
    }
    EXPECT_LT(largest, 2.5) << family << ": the picture outside the face box moved";
  }

  // Lip sync of a video on Wav2Lip, each frame's own face its reference; LivePortrait animates one picture
  // and is refused before queueing.
  const auto clip = dir.path() / "clip.mp4";
  ASSERT_TRUE(make_test_video(astronaut(), clip, 2.0, "25", 256, 0.4, false));
  auto clip_upload = fleet.post("/v1/files", read_all(clip.string()), "video/mp4");
  ASSERT_EQ(clip_upload.status, 201) << clip_upload.body;
  const std::string video = json::parse(clip_upload.body)["video"];
  const std::string synced =
      fleet.submit({{"kind", "lipsync"},
                    {"model", "w2l"},
                    {"input", {{"video", video}, {"audio_path", json::parse(uploaded.body)["audio_path"]}}}});
  auto job = fleet.wait_job(synced, 120);
  ASSERT_EQ(job["state"], "succeeded") << job.dump();
  EXPECT_EQ(job["result"]["renderer"]["family"], "wav2lip");
  EXPECT_EQ(job["result"]["frames"], 50);
  EXPECT_GE(job["result"]["frames_with_face"].get<int>(), 35);
  const auto before = decode_gray_frames(clip, 256, 256);
  const auto after = decode_gray_frames(job["result"]["video_path"].get<std::string>(), 256, 256);
  ASSERT_EQ(after.size(), 50u);
  ASSERT_EQ(before.size(), 50u);
  // The dark, faceless frames pass through; a frame with a face has the renderer's face pasted in.
  const cv::Mat dark_in(256, 256, CV_8U, const_cast<uint8_t*>(before[2].data()));
  const cv::Mat dark_out(256, 256, CV_8U, const_cast<uint8_t*>(after[2].data()));
  EXPECT_LT(cv::norm(dark_in, dark_out, cv::NORM_L1) / (256.0 * 256.0), 1.0);
  const cv::Mat face_in(256, 256, CV_8U, const_cast<uint8_t*>(before[30].data()));
  const cv::Mat face_out(256, 256, CV_8U, const_cast<uint8_t*>(after[30].data()));
  EXPECT_GT(cv::norm(face_in, face_out, cv::NORM_L1) / (256.0 * 256.0), 3.0)
      << "the random Wav2Lip module's face was not pasted in";
  auto refused = fleet.post(
      "/v1/jobs",
      json{{"kind", "lipsync"}, {"model", "lp"}, {"input", {{"video", video}, {"text", "No."}}}}.dump());
  EXPECT_EQ(refused.status, 422) << refused.body;
}

TEST(FleetVideo, BadPortraitsAndPathsAreRefused) {
  Fleet fleet(FleetOptions{1, "espeak,portrait", 1, {}});
  auto not_an_image = fleet.post("/v1/files", "definitely not a png", "image/png");
  EXPECT_EQ(not_an_image.status, 422) << not_an_image.body;
  EXPECT_EQ(json::parse(not_an_image.body)["error"]["code"], "invalid_input");

  auto speech =
      fleet.post("/v1/files", encode_wav_pcm16(std::vector<int16_t>(8000, 500), 16000), "audio/wav");
  const std::string audio_path = json::parse(speech.body)["audio_path"];
  auto escape = fleet.post(
      "/v1/jobs", json{{"kind", "video"},
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
      {{"kind", "video"},
       {"input",
        {{"audio_path", audio_path}, {"reference_image", json::parse(faceless.body)["reference_image"]}}}});
  auto job = fleet.wait_job(id, 60);
  EXPECT_EQ(job["state"], "failed");
  EXPECT_EQ(job["error"]["code"], "no_face");
  EXPECT_NE(job["error"]["message"].get<std::string>().find("no face"), std::string::npos) << job.dump();

  auto text_video = fleet.post("/video/generate", json{{"audio_path", audio_path}}.dump());
  EXPECT_EQ(text_video.status, 400) << text_video.body;
  EXPECT_EQ(json::parse(text_video.body)["error"]["code"], "missing_field");
}

// Guards #19's lip sync of an existing video: upload checked by its container, the original documentation's
// POST /lipsync/generate, kind lipsync on /v1/jobs from text, and the refusals a runtime needs to tell apart.
TEST(FleetVideo, AnUploadedVideoIsLipSyncedToNewSpeech) {
  TempDir dir;
  Fleet fleet(FleetOptions{1, "espeak,portrait", 1, {{"MAX_VIDEO_S", "5"}}});
  auto health = json::parse(fleet.get("/health").body);
  EXPECT_EQ(health["models"]["lipsync"], true) << health.dump();
  const auto models = json::parse(fleet.get("/v1/models").body).dump();
  EXPECT_NE(models.find("lip_sync_video"), std::string::npos) << models;

  const auto clip = dir.path() / "clip.mp4";
  ASSERT_TRUE(make_test_video(astronaut(), clip, 3.0, "25", 256, 0.4, true));
  auto uploaded = fleet.post("/v1/files", read_all(clip.string()), "video/mp4");
  ASSERT_EQ(uploaded.status, 201) << uploaded.body;
  const auto upload = json::parse(uploaded.body);
  EXPECT_EQ(upload["content_type"], "video/mp4");
  EXPECT_EQ(upload["width"], 256);
  EXPECT_EQ(upload["has_audio"], true);
  EXPECT_NEAR(upload["duration_s"].get<double>(), 3.0, 0.1);
  const std::string video = upload["video"];
  EXPECT_EQ(json::parse(fleet.get("/v1/files/" + upload["id"].get<std::string>()).body)["video"], video);

  // Refused at the upload, each with its code: another container than named, a cut file, sound only, too
  // long for MAX_VIDEO_S.
  auto misnamed = fleet.post("/v1/files", read_all(clip.string()), "video/webm");
  EXPECT_EQ(misnamed.status, 422) << misnamed.body;
  EXPECT_EQ(json::parse(misnamed.body)["error"]["code"], "unreadable_media");
  const std::string whole = read_all(clip.string());
  auto cut = fleet.post("/v1/files", whole.substr(0, whole.size() / 2), "video/mp4");
  EXPECT_EQ(json::parse(cut.body)["error"]["code"], "unreadable_media") << cut.body;
  const auto sound = dir.path() / "sound.mp4";
  ASSERT_EQ(std::system(("ffmpeg -v error -y -f lavfi -i sine=duration=1 -c:a aac '" + sound.string() +
                         "' >/dev/null 2>&1")
                            .c_str()),
            0);
  auto sound_only = fleet.post("/v1/files", read_all(sound.string()), "video/mp4");
  EXPECT_EQ(sound_only.status, 422) << sound_only.body;
  EXPECT_NE(sound_only.body.find("no video track"), std::string::npos) << sound_only.body;
  const auto long_clip = dir.path() / "long.mp4";
  ASSERT_TRUE(make_test_video(astronaut(), long_clip, 6.0, "25", 128, 0, false));
  auto too_long = fleet.post("/v1/files", read_all(long_clip.string()), "video/mp4");
  EXPECT_EQ(json::parse(too_long.body)["error"]["code"], "media_too_long") << too_long.body;

  // The original documentation's call: the video and speech in, the lip-synced MP4's path out.
  auto speech = fleet.post("/v1/files", encode_wav_pcm16(speech_like_audio(2.0, 16000), 16000), "audio/wav");
  ASSERT_EQ(speech.status, 201) << speech.body;
  auto synced =
      fleet.post("/lipsync/generate",
                 json{{"video", video}, {"audio_path", json::parse(speech.body)["audio_path"]}}.dump());
  ASSERT_EQ(synced.status, 200) << synced.body;
  const auto answer = json::parse(synced.body);
  EXPECT_EQ(answer["model"], "portrait");
  const auto probe = probe_media(answer["video_path"].get<std::string>());
  ASSERT_TRUE(probe.contains("streams")) << synced.body;
  std::map<std::string, json> streams;
  for (const auto& stream : probe["streams"]) streams[stream.value("codec_type", "")] = stream;
  ASSERT_TRUE(streams.count("video") && streams.count("audio")) << probe.dump();
  EXPECT_EQ(std::stoul(streams["video"]["nb_read_frames"].get<std::string>()), 75u);
  EXPECT_EQ(streams["video"]["r_frame_rate"], "25/1");
  EXPECT_NEAR(std::stod(streams["audio"]["duration"].get<std::string>()), 3.0, 0.06);

  // The async API from text: speech made by the TTS stage, then the lip sync, one job.
  const std::string id = fleet.submit(
      {{"kind", "lipsync"}, {"input", {{"video", video}, {"text", "Now I say something new."}}}});
  auto job = fleet.wait_job(id, 120);
  ASSERT_EQ(job["state"], "succeeded") << job.dump();
  EXPECT_EQ(job["result"]["frames"], 75);
  EXPECT_EQ(job["result"]["source"], "video");
  EXPECT_EQ(job["result"]["mouth"], "phonemes");
  auto result = fleet.get("/v1/jobs/" + id + "/result");
  ASSERT_EQ(result.status, 200);
  EXPECT_EQ(result.body.substr(4, 4), "ftyp");

  // Requests that cannot be lip-synced are answered before anything is queued.
  auto no_video = fleet.post("/v1/jobs", json{{"kind", "lipsync"}, {"input", {{"text", "hi"}}}}.dump());
  EXPECT_EQ(no_video.status, 400) << no_video.body;
  EXPECT_EQ(json::parse(no_video.body)["error"]["code"], "missing_field");
  auto image = fleet.post("/v1/files", read_all(astronaut()), "image/png");
  auto both =
      fleet.post("/lipsync/generate", json{{"video", video},
                                           {"reference_image", json::parse(image.body)["reference_image"]},
                                           {"audio_path", json::parse(speech.body)["audio_path"]}}
                                          .dump());
  EXPECT_EQ(both.status, 422) << both.body;
  auto outside = fleet.post("/lipsync/generate", json{{"video", "../../etc/passwd"}, {"text", "hi"}}.dump());
  EXPECT_EQ(outside.status, 422) << outside.body;
  EXPECT_EQ(outside.body.find("/etc"), std::string::npos) << "the error echoes a server path";
}

}  // namespace
}  // namespace gpufleet::testing
