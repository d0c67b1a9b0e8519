#pragma once
// The operators' web dashboard (GET /dashboard): one self-contained page, gateway/dashboard.html, compiled
// in. It reads /health, /v1/workers and /v1/jobs and follows /v1/events, so it sees what any client may see
// and nothing more (with API keys configured, it asks for one).

#include <string_view>

namespace gpufleet::gateway {

std::string_view dashboard_html();

}  // namespace gpufleet::gateway
