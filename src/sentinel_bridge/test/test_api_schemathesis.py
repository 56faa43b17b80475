"""Property-based tests of the whole API against its own OpenAPI document (schemathesis).

For every operation, generated requests are sent as an admin (who may call
everything); every answer must be documented (status code, content type,
body schema) and no request may cause a server error. Examples are bounded
and derandomized to keep the run short and repeatable. The live stream is
left out: it never ends by itself.
"""

from __future__ import annotations

import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.specs.openapi.checks import positive_data_acceptance

from sentinel_bridge.auth import Role

# Generated examples per operation.
MAX_EXAMPLES = 3
# Operations not fuzzed, and why.
EXCLUDED = {'/stream'}   # an endless response
# Operations with rules across parameters that OpenAPI cannot state (telemetry:
# end after start, at most 7 days apart): schema-valid requests may be refused
# with 422 there, so only that one check is relaxed for them.
CROSS_PARAMETER_RULES = {'/vehicles/{vehicle_id}/telemetry'}


def test_api_conforms_to_its_openapi_document(api):
    loaded = schemathesis.openapi.from_asgi('/openapi.json', api.client.app)
    headers = api.headers(Role.ADMIN)
    checked = []
    for result in loaded.get_all_operations():
        operation = result.ok()
        if operation.path in EXCLUDED:
            continue

        excluded = [positive_data_acceptance] if operation.path in CROSS_PARAMETER_RULES else []

        @settings(max_examples=MAX_EXAMPLES, deadline=None, derandomize=True, database=None,
                  suppress_health_check=list(HealthCheck))
        @given(case=operation.as_strategy())
        def conforms(case: schemathesis.Case) -> None:
            case.call_and_validate(headers=headers, excluded_checks=excluded)

        conforms()
        checked.append(f'{operation.method.upper()} {operation.path}')
    assert len(checked) >= 30, checked
