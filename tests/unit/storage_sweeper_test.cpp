// Guards the storage sweeper against the two ways it can go wrong: keeping files forever (shared storage
// fills) and deleting what it must not (a fresh result, a renewed upload, anything behind a symlink).
#include "gateway/storage_sweeper.hpp"

#include <gtest/gtest.h>

#include <fstream>

#include "tests/support/temp_dir.hpp"

namespace gpufleet::gateway {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

void write(const fs::path& path, size_t bytes, fs::file_time_type modified) {
  fs::create_directories(path.parent_path());
  std::ofstream(path) << std::string(bytes, 'x');
  fs::last_write_time(path, modified);
}

TEST(StorageSweeper, DeletesOnlyFilesOlderThanTheirTtlAndCountsThem) {
  testing::TempDir dir;
  const auto now = fs::file_time_type::clock::now();
  write(dir.path() / "tts" / "old.wav", 100, now - 2h);
  write(dir.path() / "tts" / "nested" / "old.wav", 50, now - 3h);
  write(dir.path() / "tts" / "fresh.wav", 10, now - 10min);
  const auto report = sweep_older_than(dir.path() / "tts", 1h, now);
  EXPECT_EQ(report.files_removed, 2u);
  EXPECT_EQ(report.bytes_removed, 150u);
  EXPECT_EQ(report.files_kept, 1u);
  EXPECT_EQ(report.errors, 0u);
  EXPECT_FALSE(fs::exists(dir.path() / "tts" / "old.wav"));
  EXPECT_FALSE(fs::exists(dir.path() / "tts" / "nested" / "old.wav"));
  EXPECT_TRUE(fs::exists(dir.path() / "tts" / "fresh.wav"));
  EXPECT_TRUE(fs::is_directory(dir.path() / "tts" / "nested"));  // folders stay (a key's upload folder)
  EXPECT_EQ(sweep_older_than(dir.path() / "missing", 1h, now).files_removed, 0u);
}

TEST(StorageSweeper, NeverFollowsOrDeletesSymlinks) {
  testing::TempDir dir;
  const auto now = fs::file_time_type::clock::now();
  write(dir.path() / "elsewhere" / "precious.wav", 10, now - 48h);
  write(dir.path() / "elsewhere" / "deep" / "precious.wav", 10, now - 48h);
  fs::create_directories(dir.path() / "uploads");
  fs::create_symlink(dir.path() / "elsewhere" / "precious.wav", dir.path() / "uploads" / "link.wav");
  fs::create_directory_symlink(dir.path() / "elsewhere" / "deep", dir.path() / "uploads" / "linked-folder");
  const auto report = sweep_older_than(dir.path() / "uploads", 1h, now);
  EXPECT_EQ(report.files_removed, 0u);
  EXPECT_TRUE(fs::exists(dir.path() / "elsewhere" / "precious.wav"));
  EXPECT_TRUE(fs::exists(dir.path() / "elsewhere" / "deep" / "precious.wav"));
  EXPECT_TRUE(fs::is_symlink(dir.path() / "uploads" / "link.wav"));
}

TEST(StorageSweeper, ARenewedFileStartsItsAgeAgainAndFolderBytesCountsWhatIsHeld) {
  testing::TempDir dir;
  const auto now = fs::file_time_type::clock::now();
  const auto voice = dir.path() / "uploads" / "key-a" / "voice.wav";
  write(voice, 300, now - 48h);
  write(dir.path() / "uploads" / "key-a" / "face.png", 200, now);
  EXPECT_EQ(folder_bytes(dir.path() / "uploads" / "key-a"), 500u);
  EXPECT_EQ(folder_bytes(dir.path() / "nothing"), 0u);
  ASSERT_TRUE(renew(voice));
  EXPECT_EQ(sweep_older_than(dir.path() / "uploads", 24h).files_removed, 0u);
  EXPECT_TRUE(fs::exists(voice));
  EXPECT_FALSE(renew(dir.path() / "uploads" / "gone.wav"));
}

}  // namespace
}  // namespace gpufleet::gateway
