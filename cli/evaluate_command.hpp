#pragma once
// `gpufleet evaluate`: sends the standard workload (cli/evaluation.hpp) to a running fleet at a chosen
// concurrency, draws progress on stderr, and writes summary_report_<UTC time>.json and
// latency_<UTC time>.svg; prints the table. Exit status 0 when every job succeeded, 1 otherwise, 2 usage.

#include <string>
#include <string_view>
#include <vector>

#include "common/http_client.hpp"

namespace gpufleet::cli {

// args[0] is "evaluate". `ca_file`: CA certificates for an https gateway ("" for the system's); `usage`:
// what a command line it cannot run prints to stderr.
int run_evaluate(const HttpEndpoint& gateway, const std::string& ca_file,
                 const std::vector<std::string>& args, std::string_view usage);

}  // namespace gpufleet::cli
