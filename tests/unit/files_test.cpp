// Guards shared-storage safety: atomic writes, and paths that must not escape their root.
#include "common/files.hpp"

#include <gtest/gtest.h>

#include <filesystem>

#include "common/image_probe.hpp"
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

// Guards `gpufleet submit --out hello.wav`: a bare file name has an empty parent folder, which is the current
// one, not a folder that cannot be created.
TEST_F(FilesTest, AtomicWriteTakesABareFileNameInTheCurrentFolder) {
  const auto previous = fs::current_path();
  fs::current_path(root_);
  write_file_atomically("hello.wav", "bare");
  move_file_durably("hello.wav", "moved.wav");
  fs::current_path(previous);
  EXPECT_EQ(read_file(root_ / "moved.wav", 1024), "bare");
  EXPECT_FALSE(fs::exists(root_ / "hello.wav"));
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

// Guards the image header probe: sizes come from the header alone; truncated, zero-sized and foreign
// data is refused (the fuzz-style cases that would otherwise reach a decoder).
TEST(ImageProbe, ReadsPngAndJpegSizesAndRefusesTheRest) {
  std::string png("\x89PNG\r\n\x1a\n\0\0\0\x0dIHDR\0\0\x01\0\0\0\0\x40\x08\x02\0\0\0", 29);
  png += std::string(4, '\0');  // the chunk's CRC (not checked: the decoder does)
  auto header = probe_image(png);
  ASSERT_TRUE(header);
  EXPECT_EQ(header->format, ImageFormat::kPng);
  EXPECT_EQ(header->width, 256u);
  EXPECT_EQ(header->height, 64u);
  EXPECT_FALSE(probe_image(png.substr(0, 20)));
  std::string zero = png;
  zero[18] = 0;  // width 0
  EXPECT_FALSE(probe_image(zero));
  std::string jpeg("\xff\xd8\xff\xc2\0\x0b\x08\0\x10\0\x20\x01\x01\x11\0", 15);  // progressive, 32x16
  header = probe_image(jpeg);
  ASSERT_TRUE(header);
  EXPECT_EQ(header->format, ImageFormat::kJpeg);
  EXPECT_EQ(header->width, 32u);
  EXPECT_EQ(header->height, 16u);
  EXPECT_FALSE(probe_image(jpeg.substr(0, 10)));
  EXPECT_FALSE(probe_image(std::string("\xff\xd8\xff\xd9", 4)));          // ends before any frame
  EXPECT_FALSE(probe_image(std::string("\xff\xd8\xff\xe0\xff\xff", 6)));  // a segment past the end
  EXPECT_FALSE(probe_image("GIF89a"));
  EXPECT_FALSE(probe_image(""));
}

}  // namespace
}  // namespace gpufleet

namespace gpufleet {
namespace {

// Guards model errors against telling clients where things live on the server: absolute paths keep only
// their file name, relative names (the client's own) and other slashes stay.
TEST(RedactPaths, AbsolutePathsKeepOnlyTheirFileName) {
  EXPECT_EQ(redact_paths("cannot open /srv/storage/inputs/uploads/key-ab/voice.wav: no such file"),
            "cannot open .../voice.wav: no such file");
  EXPECT_EQ(redact_paths("weights '/opt/models/xtts/model.pth' are damaged."),
            "weights '.../model.pth' are damaged.");
  EXPECT_EQ(redact_paths("file=/a/b/c.pt, (see /var/log/x.log)"), "file=.../c.pt, (see .../x.log)");
  EXPECT_EQ(redact_paths("path:/etc/passwd"), "path:.../passwd");
  EXPECT_EQ(redact_paths("/root"), "/root");
  EXPECT_EQ(redact_paths("speaker_wav uploads/ab.wav is 1/2 of a second, 24 kHz/16 bit"),
            "speaker_wav uploads/ab.wav is 1/2 of a second, 24 kHz/16 bit");
  EXPECT_EQ(redact_paths(""), "");
}

}  // namespace
}  // namespace gpufleet
