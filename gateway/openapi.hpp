#pragma once
// The gateway's OpenAPI 3.1 description (GET /openapi.json): gateway/openapi.json, compiled in. CI validates
// it and runs schemathesis against a live gateway with it (tests/openapi), so it stays true to the routes.

#include <string_view>

namespace gpufleet::gateway {

std::string_view openapi_json();

}  // namespace gpufleet::gateway
