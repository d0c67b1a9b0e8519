#pragma once
// How every gpufleet program answers its command line, so that a person can ask any of them what it takes:
// -h or --help prints the usage to stdout and exits 0; an option the program does not know (or a missing
// value) prints why and the usage to stderr and exits kExitUsage. tests/cli/help.sh walks every program.

#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <variant>

namespace gpufleet {

// The exit status of a command line the program cannot run (the convention of getopt-based tools).
inline constexpr int kExitUsage = 2;

// "-h" or "--help".
bool is_help_option(std::string_view arg);

// Whether any of argv[first..argc) is a help option.
bool asks_for_help(int argc, char** argv, int first = 1);

// Prints `usage` to stdout; returns 0, the status of a program that was asked for its usage.
int print_usage(std::string_view usage);

// Prints "<program>: <why>" and `usage` to stderr; returns kExitUsage.
int usage_error(std::string_view program, std::string_view why, std::string_view usage);

// An option's number: the whole of `text` a number within [min, max] (no trailing bytes, no NaN); nullopt
// otherwise, for the program to refuse with usage_error naming the option.
std::optional<double> option_number(std::string_view text, double min, double max);

// A command line of "--name VALUE" options and bare "--flag"s: values by name without the dashes ("jobs"),
// flags likewise. Anything else (an unknown option, a positional word, a last option without its value) is
// the error message the program prints with usage_error.
struct ParsedOptions {
  std::map<std::string, std::string> values;
  std::set<std::string> flags;
};
std::variant<ParsedOptions, std::string> parse_options(int argc, char** argv,
                                                       const std::set<std::string>& valued,
                                                       const std::set<std::string>& flags = {});

}  // namespace gpufleet
