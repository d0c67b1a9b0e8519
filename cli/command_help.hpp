#pragma once
// The usage of every `gpufleet` subcommand, in one table, so that `gpufleet --help`, `gpufleet CMD --help`
// and a command's usage error all print the same words, and a test can walk every subcommand.

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace gpufleet::cli {

struct CommandHelp {
  std::string_view name;   // "submit"
  std::string_view usage;  // "usage: gpufleet submit ...\n" and what it does
};

// Every subcommand, in the order `gpufleet --help` lists them.
const std::vector<CommandHelp>& command_help();

// The usage of one subcommand; nullopt for a name that is none.
std::optional<std::string_view> usage_of(std::string_view command);

// `gpufleet --help`: the synopsis, every subcommand's first lines, the environment and the exit statuses.
std::string overall_usage();

}  // namespace gpufleet::cli
