// Guards the gateway's shared storage on real files in a temporary folder: an upload lands in its key's own
// folder (the same bytes from two keys are two files, and one key cannot look up the other's), a repeat is
// answered without writing, a key past its quota is refused 413 before anything is written, and a result is
// served only from its kind's folder (a worker's path outside it is "no file", a swept one 410).
#include "gateway/file_store.hpp"

#include <gtest/gtest.h>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <fstream>

#include "common/wav.hpp"
#include "tests/support/temp_dir.hpp"

namespace gpufleet::gateway {
namespace {

namespace fs = std::filesystem;

class FileStoreTest : public ::testing::Test {
 protected:
  FileStoreConfig config(uint64_t quota = 1 << 20) {
    return FileStoreConfig{dir_.path() / "storage",   dir_.path() / "inputs", quota, 3600, 3600,
                           std::chrono::seconds(3600)};
  }
  // Stores `body` as `caller` and runs the loop until the answer came back.
  std::variant<bool, ApiError> store(FileStore& files, const std::string& body, const Caller& caller,
                                     Upload* stored = nullptr) {
    auto parsed = parse_upload("audio/wav", body);
    EXPECT_TRUE(std::holds_alternative<Upload>(parsed));
    std::optional<std::variant<bool, ApiError>> answer;
    files.store_upload(std::get<Upload>(parsed), body, caller,
                       [&](std::variant<bool, ApiError> outcome, const Upload& upload) {
                         answer = std::move(outcome);
                         if (stored) *stored = upload;
                       });
    // The answer is posted from the storage thread: keep the loop waiting for it (5 s at most).
    io_.restart();  // an earlier call's loop ran out of work, which stops it
    auto guard = boost::asio::make_work_guard(io_);
    for (int i = 0; i < 500 && !answer; ++i) io_.run_one_for(std::chrono::milliseconds(10));
    EXPECT_TRUE(answer.has_value());
    return answer.value_or(api_error(ErrorCode::kInternal, "no answer"));
  }
  static std::string wav(int16_t level) { return encode_wav_pcm16(std::vector<int16_t>(1600, level), 16000); }

  testing::TempDir dir_;
  boost::asio::io_context io_;
  MetricsRegistry metrics_;
  Caller alice_{"alice", false};
  Caller bob_{"bob", false};
};

TEST_F(FileStoreTest, UploadsGoToTheirKeysFolderAndRepeatsAreNotWritten) {
  FileStore files(io_, config(), metrics_);
  Upload stored;
  const auto first = store(files, wav(100), alice_, &stored);
  ASSERT_TRUE(std::holds_alternative<bool>(first));
  EXPECT_FALSE(std::get<bool>(first));  // new
  EXPECT_EQ(stored.relative.parent_path(), upload_folder(alice_));
  EXPECT_TRUE(fs::exists(dir_.path() / "inputs" / stored.relative));
  const auto again = store(files, wav(100), alice_);
  ASSERT_TRUE(std::holds_alternative<bool>(again));
  EXPECT_TRUE(std::get<bool>(again));  // existed
  // Bob's copy of the same bytes is his own file.
  Upload bobs;
  EXPECT_FALSE(std::get<bool>(store(files, wav(100), bob_, &bobs)));
  EXPECT_NE(bobs.relative, stored.relative);
  EXPECT_EQ(bobs.id, stored.id);
}

TEST_F(FileStoreTest, AKeySeesOnlyItsOwnUploads) {
  FileStore files(io_, config(), metrics_);
  Upload stored;
  store(files, wav(7), alice_, &stored);
  const auto described = files.describe_upload(stored.id, alice_);
  ASSERT_TRUE(described);
  EXPECT_EQ((*described)["content_type"], "audio/wav");
  EXPECT_EQ((*described)["speaker_wav"], stored.relative.string());
  EXPECT_FALSE(files.describe_upload(stored.id, bob_));
  for (const std::string& id :
       std::vector<std::string>{"", "../../etc/passwd", std::string(64, 'g'), stored.id.substr(1)}) {
    EXPECT_FALSE(files.describe_upload(id, alice_)) << id;
  }
}

TEST_F(FileStoreTest, AnUploadPastTheQuotaIsRefusedBeforeItIsWritten) {
  const std::string body = wav(1);
  FileStore files(io_, config(body.size() + body.size() / 2), metrics_);
  EXPECT_TRUE(std::holds_alternative<bool>(store(files, body, alice_)));
  Upload refused;
  const auto over = store(files, wav(2), alice_, &refused);
  ASSERT_TRUE(std::holds_alternative<ApiError>(over));
  EXPECT_EQ(std::get<ApiError>(over).status, 413);
  EXPECT_FALSE(fs::exists(dir_.path() / "inputs" / refused.relative));
  // Another key has a quota of its own.
  EXPECT_TRUE(std::holds_alternative<bool>(store(files, wav(2), bob_)));
}

TEST_F(FileStoreTest, ResultsAreServedFromTheirKindsFolderOnly) {
  FileStore files(io_, config(), metrics_);
  const fs::path tts = dir_.path() / "storage" / "tts";
  fs::create_directories(tts);
  std::ofstream(tts / "job-1.wav") << "RIFF";
  fs::create_directories(dir_.path() / "inputs");
  std::ofstream(dir_.path() / "inputs" / "secret.wav") << "RIFF";
  // Workers report absolute paths; relative ones are taken inside the kind's folder.
  for (const std::string& path : std::vector<std::string>{(tts / "job-1.wav").string(), "job-1.wav"}) {
    const auto served = files.result_file("job", {{"audio_path", path}}, "tts");
    ASSERT_TRUE(std::holds_alternative<ResultFile>(served)) << path;
    EXPECT_EQ(std::get<ResultFile>(served).content_type, "audio/wav");
  }
  EXPECT_TRUE(files.tts_result_exists("job-1.wav"));
  // Swept (or never there): 410. A file that exists outside the folder is treated as not there at all.
  EXPECT_EQ(std::get<ApiError>(files.result_file("job", {{"audio_path", "job-2.wav"}}, "tts")).status, 410);
  const std::string outside = (dir_.path() / "inputs" / "secret.wav").string();
  EXPECT_EQ(std::get<ApiError>(files.result_file("job", {{"audio_path", outside}}, "tts")).status, 410);
  EXPECT_EQ(
      std::get<ApiError>(files.result_file("job", {{"audio_path", "../../inputs/secret.wav"}}, "tts")).status,
      410);
  EXPECT_FALSE(files.tts_result_exists("../../inputs/secret.wav"));
  // A result that names no file of its kind: 404.
  EXPECT_EQ(std::get<ApiError>(files.result_file("job", {{"duration_s", 1}}, "tts")).status, 404);
  EXPECT_EQ(std::get<ApiError>(files.result_file("job", {{"audio_path", "job-1.wav"}}, "video")).status, 404);
}

}  // namespace
}  // namespace gpufleet::gateway
