// Guards the client commands' output for people and their address parsing: a summary line says what
// happened to a job (its file, or its error), a running video shows a progress bar with its stage, tables
// list workers and models, and GPUFLEET_URL is an http address or refused.
#include <gtest/gtest.h>

#include "cli/client_commands.hpp"
#include "cli/command_help.hpp"
#include "common/usage.hpp"

namespace gpufleet::cli {
namespace {

using nlohmann::json;

TEST(CliClient, GatewayUrlsAreHttpHostAndPort) {
  auto address = parse_gateway_url("http://gpu-a.internal:8001");
  ASSERT_TRUE(address);
  EXPECT_EQ(address->host, "gpu-a.internal");
  EXPECT_EQ(address->port, 8001);
  EXPECT_EQ(parse_gateway_url("http://localhost/")->port, 80);
  auto tls = parse_gateway_url("https://gateway.example.com");
  ASSERT_TRUE(tls);
  EXPECT_TRUE(tls->tls);
  EXPECT_EQ(tls->port, 443);
  EXPECT_FALSE(parse_gateway_url("ftp://localhost:8001"));
  EXPECT_FALSE(parse_gateway_url("localhost:8001"));
  EXPECT_FALSE(parse_gateway_url("http://:8001"));
  EXPECT_FALSE(parse_gateway_url("http://host:99999"));
  EXPECT_FALSE(parse_gateway_url("http://host:80/prefix"));
}

TEST(CliClient, SummariesSayWhatHappenedToAJob) {
  const json done{{"id", "abc"},
                  {"state", "succeeded"},
                  {"kind", "tts"},
                  {"model", "espeak"},
                  {"timings", {{"total_ms", 2150}}},
                  {"result", {{"audio_path", "/s/tts/abc-1.wav"}, {"duration_s", 1.5}}}};
  EXPECT_EQ(job_summary(done), "abc  succeeded  tts/espeak  2.15 s  /s/tts/abc-1.wav  (1.50 s of media)");
  const json failed{{"id", "abc"},
                    {"state", "failed"},
                    {"kind", "video"},
                    {"model", "portrait"},
                    {"error", {{"code", "invalid_input"}, {"message", "no face found"}}}};
  EXPECT_EQ(job_summary(failed), "abc  failed     video/portrait  invalid_input: no face found");
  const json rendering{{"id", "abc"},
                       {"state", "running"},
                       {"kind", "video"},
                       {"model", "portrait"},
                       {"progress", {{"done", 50}, {"total", 200}}},
                       {"stage", 1},
                       {"stages", {{{"kind", "tts"}}, {{"kind", "video"}}}}};
  EXPECT_EQ(progress_line(rendering, 8), "[##------] 25%   50/200  stage 2/2 video");
  EXPECT_EQ(progress_line(json{{"state", "queued"}}), "queued");
  EXPECT_NE(job_summary(rendering).find("[####"), std::string::npos);
  EXPECT_TRUE(is_final_state("expired"));
  EXPECT_FALSE(is_final_state("running"));
}

TEST(CliClient, TablesListWorkersAndModels) {
  const json workers{{"workers",
                      {{{"id", "w1"},
                        {"device", "cuda:0"},
                        {"slots", 2},
                        {"active", 1},
                        {"heartbeat_age_ms", 40},
                        {"models", {"espeak", "xtts"}},
                        {"running", {"job1"}}}}},
                     {"queues", {{"xtts", {{"depth", 3}, {"oldest_age_s", 12.5}}}}}};
  const std::string table = workers_table(workers);
  EXPECT_NE(table.find("w1"), std::string::npos);
  EXPECT_NE(table.find("cuda:0"), std::string::npos);
  EXPECT_NE(table.find("1/2"), std::string::npos);
  EXPECT_NE(table.find("espeak,xtts  running 1: job1"), std::string::npos) << table;
  EXPECT_NE(table.find("queues: xtts=3 (oldest 12.5 s)"), std::string::npos) << table;
  const json models{{"models",
                     {{{"name", "espeak"},
                       {"kind", "tts"},
                       {"workers", 1},
                       {"devices", {"cpu"}},
                       {"languages", {"en", "de"}},
                       {"default", true}}}}};
  const std::string list = models_table(models);
  EXPECT_NE(list.find("espeak *"), std::string::npos) << list;
  EXPECT_NE(list.find("en,de"), std::string::npos) << list;
}

// Guards the help of `gpufleet` (#33): each subcommand's usage names it first, `gpufleet --help` lists every
// one, and a name that is no command has none.
TEST(CommandHelp, EveryCommandHasAUsageThatTheOverviewLists) {
  const std::string overview = overall_usage();
  EXPECT_GE(command_help().size(), 11u);
  for (const auto& command : command_help()) {
    const std::string name(command.name);
    EXPECT_EQ(std::string(command.usage).rfind("usage: gpufleet " + name, 0), 0u) << name;
    EXPECT_EQ(command.usage.back(), '\n') << name;
    EXPECT_NE(overview.find("\n  " + name), std::string::npos) << name;
    EXPECT_EQ(usage_of(name), command.usage);
  }
  EXPECT_FALSE(usage_of("--help"));
  EXPECT_FALSE(usage_of("submitt"));
}

// Guards the option parser of the benchmarks and tools: a last option without its value, an unknown option
// and a stray word are errors (one benchmark read "--help" as a run with defaults, another dropped a
// trailing option silently).
TEST(CommandLine, OptionNumbersAreWholeAndWithinRange) {
  EXPECT_EQ(option_number("12", 0, 100), 12.0);
  EXPECT_EQ(option_number("0.5", 0, 1), 0.5);
  EXPECT_EQ(option_number("100", 0, 100), 100.0);
  for (const char* bad : {"", "x", "12x", " 12", "101", "-1", "nan", "inf", "1e999"}) {
    EXPECT_FALSE(option_number(bad, 0, 100)) << bad;
  }
}

TEST(CommandLine, OptionsWithValuesAndFlagsAndEveryMistake) {
  auto parse = [](std::vector<std::string> words) {
    words.insert(words.begin(), "program");
    std::vector<char*> argv;
    for (auto& word : words) argv.push_back(word.data());
    return parse_options(static_cast<int>(argv.size()), argv.data(), {"jobs", "bin"}, {"keep"});
  };
  auto good = parse({"--jobs", "5", "--keep", "--bin", "/x"});
  ASSERT_TRUE(std::holds_alternative<ParsedOptions>(good));
  EXPECT_EQ(std::get<ParsedOptions>(good).values.at("jobs"), "5");
  EXPECT_EQ(std::get<ParsedOptions>(good).values.at("bin"), "/x");
  EXPECT_EQ(std::get<ParsedOptions>(good).flags.count("keep"), 1u);
  EXPECT_EQ(std::get<std::string>(parse({"--jobs"})), "--jobs needs a value");
  EXPECT_EQ(std::get<std::string>(parse({"--help"})), "unknown option --help");
  EXPECT_EQ(std::get<std::string>(parse({"--jobs", "1", "stray"})), "unexpected argument stray");
  EXPECT_EQ(std::get<std::string>(parse({"-jobs", "1"})), "unknown option -jobs");
  EXPECT_TRUE(is_help_option("-h"));
  EXPECT_TRUE(is_help_option("--help"));
  EXPECT_FALSE(is_help_option("-help"));
}

}  // namespace
}  // namespace gpufleet::cli
