#pragma once
// File helpers for shared storage: results appear whole or not at all, and paths from outside never
// escape the folders they are confined to.

#include <filesystem>
#include <optional>
#include <string>
#include <string_view>

namespace gpufleet {

// Writes `data` to a temporary file beside `path`, fsyncs it, renames it over `path` and fsyncs the folder,
// so that a reader sees either no file or the whole file. Throws FleetError(kStorageError).
void write_file_atomically(const std::filesystem::path& path, std::string_view data);

// Moves a finished file (written by someone else, e.g. an encoder) into place on the same filesystem: fsyncs
// it, renames it to `to` and fsyncs the folder, with the same all-or-nothing promise. Throws
// FleetError(kStorageError); `from` is removed on failure.
void move_file_durably(const std::filesystem::path& from, const std::filesystem::path& to);

// Reads a whole file; nullopt when it cannot be opened or is larger than `max_bytes`.
std::optional<std::string> read_file(const std::filesystem::path& path, size_t max_bytes);

// The canonical form of `candidate` if it names an existing file inside `root` after resolving every
// symlink and "..": otherwise nullopt.
std::optional<std::filesystem::path> resolve_inside(const std::filesystem::path& root,
                                                    const std::filesystem::path& candidate);

// A client's name for a file under `root`, as a clean relative path: "uploads/ab.wav", or an absolute path
// that lies under `root` (the original service took server paths). nullopt for anything else: empty, over
// 512 bytes, NUL or backslash, a ".." component, an absolute path elsewhere. Lexical only; resolve_inside()
// then checks the file on disk (symlinks included).
std::optional<std::filesystem::path> relative_reference(std::string_view text,
                                                        const std::filesystem::path& root);

// `message` with every absolute path in it cut to ".../" and its last component: model errors reach clients,
// and the folders of shared storage, the model files and the host are the operator's business. A path is a
// '/' at the start or after a space, quote, bracket, '=' or ':' followed by a further '/', up to the next
// space, quote or bracket. Relative names ("uploads/ab.wav") are the client's own and stay.
std::string redact_paths(std::string_view message);

}  // namespace gpufleet
