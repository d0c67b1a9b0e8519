// Guards shared-storage safety: atomic writes, and paths that must not escape their root.
#include <gtest/gtest.h>

#include <filesystem>

#include "common/files.hpp"
#include "tests/support/temp_dir.hpp"

namespace gpufleet {
namespace {

namespace fs = std::filesystem;

class FilesTest : public ::testing::Test {
 protected:
  testing::TempDir dir_;
  const fs::path& root_ = dir_.path();
};

TEST_F(FilesTest, AtomicWriteLeavesOnlyTheFinalFile) {
  const auto path = root_ / "a" / "b.wav";
  write_file_atomically(path, "first");
  write_file_atomically(path, "second version");
  EXPECT_EQ(read_file(path, 1024), "second version");
  size_t entries = 0;
  for ([[maybe_unused]] const auto& entry : fs::directory_iterator(root_ / "a")) ++entries;
  EXPECT_EQ(entries, 1u);  // no temporary left behind
}

TEST_F(FilesTest, ReadFileHonoursTheSizeLimit) {
  write_file_atomically(root_ / "f", std::string(100, 'x'));
  EXPECT_FALSE(read_file(root_ / "f", 99));
  EXPECT_TRUE(read_file(root_ / "f", 100));
}

TEST_F(FilesTest, ResolveInsideRefusesDotDotAndSymlinkEscapes) {
  fs::create_directories(root_ / "inside");
  write_file_atomically(root_ / "inside" / "ok.wav", "x");
  write_file_atomically(root_ / "outside.txt", "secret");
  fs::create_symlink(root_ / "outside.txt", root_ / "inside" / "link.wav");
  const auto allowed = root_ / "inside";
  EXPECT_TRUE(resolve_inside(allowed, allowed / "ok.wav"));
  EXPECT_TRUE(resolve_inside(allowed, "ok.wav"));
  EXPECT_FALSE(resolve_inside(allowed, allowed / ".." / "outside.txt"));
  EXPECT_FALSE(resolve_inside(allowed, "../outside.txt"));
  EXPECT_FALSE(resolve_inside(allowed, allowed / "link.wav"));
  EXPECT_FALSE(resolve_inside(allowed, "/etc/passwd"));
  EXPECT_FALSE(resolve_inside(allowed, allowed / "missing.wav"));
  EXPECT_FALSE(resolve_inside(allowed, allowed));  // a folder is not a file
  // A sibling whose name starts like the root is still outside it.
  fs::create_directories(root_ / "inside-not");
  write_file_atomically(root_ / "inside-not" / "x.wav", "x");
  EXPECT_FALSE(resolve_inside(allowed, root_ / "inside-not" / "x.wav"));
}

}  // namespace
}  // namespace gpufleet
