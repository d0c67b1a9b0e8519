#include "common/usage.hpp"

#include <cctype>
#include <cstdio>
#include <cstdlib>

namespace gpufleet {

bool is_help_option(std::string_view arg) {
  return arg == "-h" || arg == "--help";
}

bool asks_for_help(int argc, char** argv, int first) {
  for (int i = first; i < argc; ++i) {
    if (is_help_option(argv[i])) return true;
  }
  return false;
}

int print_usage(std::string_view usage) {
  std::fwrite(usage.data(), 1, usage.size(), stdout);
  std::fflush(stdout);
  return 0;
}

int usage_error(std::string_view program, std::string_view why, std::string_view usage) {
  std::fprintf(stderr, "%.*s: %.*s\n", static_cast<int>(program.size()), program.data(),
               static_cast<int>(why.size()), why.data());
  std::fwrite(usage.data(), 1, usage.size(), stderr);
  return kExitUsage;
}

std::optional<double> option_number(std::string_view text, double min, double max) {
  const std::string copy(text);  // strtod needs a terminated string
  char* end = nullptr;
  const double value = std::strtod(copy.c_str(), &end);
  // strtod would skip leading blanks; an option's value has none.
  if (copy.empty() || std::isspace(static_cast<unsigned char>(copy[0])) ||
      end != copy.c_str() + copy.size() || !(value >= min && value <= max)) {
    return std::nullopt;
  }
  return value;
}

std::variant<ParsedOptions, std::string> parse_options(int argc, char** argv,
                                                       const std::set<std::string>& valued,
                                                       const std::set<std::string>& flags) {
  ParsedOptions parsed;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    const std::string name = arg.rfind("--", 0) == 0 ? arg.substr(2) : "";
    if (flags.count(name) != 0) {
      parsed.flags.insert(name);
    } else if (valued.count(name) != 0) {
      if (i + 1 >= argc) return arg + " needs a value";
      parsed.values[name] = argv[++i];
    } else {
      return (arg.rfind('-', 0) == 0 ? "unknown option " : "unexpected argument ") + arg;
    }
  }
  return parsed;
}

}  // namespace gpufleet
