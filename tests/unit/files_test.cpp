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

namespace gpufleet {
namespace {

// Guards the rule for client-named reference files: clean relative names under the input folder, absolute
// paths only when they lie inside it, nothing that climbs out or smuggles odd bytes.
TEST(RelativeReference, OnlyCleanNamesUnderTheRootPass) {
  const std::filesystem::path root = "/data/inputs";
  auto check = [&](std::string_view text) {
    auto relative = relative_reference(text, root);
    return relative ? relative->string() : std::string("<refused>");
  };
  EXPECT_EQ(check("uploads/ab.wav"), "uploads/ab.wav");
  EXPECT_EQ(check("./refs//alice.wav"), "refs/alice.wav");
  EXPECT_EQ(check("/data/inputs/uploads/ab.wav"), "uploads/ab.wav");
  EXPECT_EQ(check("/data/inputs2/ab.wav"), "<refused>");
  EXPECT_EQ(check("/etc/passwd"), "<refused>");
  EXPECT_EQ(check("../outputs/x.wav"), "<refused>");
  EXPECT_EQ(check("uploads/../../etc/passwd"), "<refused>");
  EXPECT_EQ(check("/data/inputs/../secrets.wav"), "<refused>");
  EXPECT_EQ(check("a\\b.wav"), "<refused>");
  EXPECT_EQ(check(std::string_view("a\0b.wav", 7)), "<refused>");
  EXPECT_EQ(check(""), "<refused>");
  EXPECT_EQ(check("/data/inputs"), "<refused>");
  EXPECT_EQ(check(std::string(600, 'a')), "<refused>");
  EXPECT_EQ(relative_reference("/data/inputs/x.wav", "/data/inputs/")->string(), "x.wav");
}

}  // namespace
}  // namespace gpufleet
