"""Property-based fuzz of the explorer's API against its own OpenAPI schema (schemathesis): valid and
invalid requests to every operation, and not one answer may be a server error (5xx).

The server here has small trial limits so that the trials the fuzzer starts (valid ones do run) finish
in well under a second; every other limit is the shipped one.
"""

from __future__ import annotations

import pytest

pytest.importorskip("fastapi")
schemathesis = pytest.importorskip("schemathesis")
from hypothesis import HealthCheck, settings  # noqa: E402
from schemathesis.checks import not_a_server_error  # noqa: E402

from ketasim.serve import Limits, create_app  # noqa: E402

app = create_app(Limits(trial_patients=8, trial_days=2, trial_patient_days=16))
schema = schemathesis.openapi.from_asgi("/openapi.json", app)


@schema.parametrize()
@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
def test_no_server_errors(case: schemathesis.Case) -> None:
    response = case.call(app=app) if hasattr(case, "call_asgi") else case.call()
    case.validate_response(response, checks=[not_a_server_error])
    assert response.status_code < 500, response.text
    assert "Traceback" not in response.text
