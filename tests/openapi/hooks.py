"""Schemathesis hooks for tests/openapi/run.sh (loaded through SCHEMATHESIS_HOOKS).

Schemathesis draws header values from a small space, so one Idempotency-Key ("0") ends up on many different
requests; the gateway rightly answers 422 idempotency_conflict to each after the first (as the IETF
Idempotency-Key draft asks), which schemathesis reads as a valid request refused. A valid key is therefore
made specific to the request it came with (the same request keeps the same key, so replays are still
exercised); keys that break the description's rules are sent as drawn, for the negative tests.
The conflict itself is tested in tests/unit/gateway_api_test.cpp and the Python client's tests.
"""
import hashlib
import json
import re

import schemathesis

_VALID_KEY = re.compile(r"^[!-~]{1,200}$")


@schemathesis.hook
def before_call(ctx, case, kwargs):
    headers = case.headers or {}
    key = headers.get("Idempotency-Key")
    if not isinstance(key, str) or not _VALID_KEY.match(key):
        return
    try:
        body = json.dumps(case.body, sort_keys=True, default=repr)
    except (TypeError, ValueError):
        body = repr(case.body)
    digest = hashlib.sha256(f"{case.method} {case.path} {body}".encode("utf-8", "surrogatepass")).hexdigest()[:16]
    headers["Idempotency-Key"] = f"{key}.{digest}"
    case.headers = headers


# POST /v1/jobs/{id}/whep takes an SDP offer (application/sdp, plain text): sent as the text schemathesis draws,
# which the gateway refuses with 400 invalid_sdp unless it is an offer it can answer.
schemathesis.serializer.alias("application/sdp", "text/plain")
# PATCH /v1/whep/{id} takes a trickle ICE fragment (application/trickle-ice-sdpfrag, plain text): the same.
schemathesis.serializer.alias("application/trickle-ice-sdpfrag", "text/plain")
