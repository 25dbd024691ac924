"""Fuzz the served OpenAPI with schemathesis: no request may produce a 5xx.

Each operation of ``/openapi.json`` gets a bounded number of generated cases (valid and
invalid), sent with the bearer token to the exporter process on 127.0.0.1."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import requests
import schemathesis
from conftest import AUTH, ExporterProcess
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error

pytestmark = pytest.mark.prometheus

EXAMPLES_PER_OPERATION = 40


def test_no_operation_answers_5xx(exporter_factory: Callable[..., ExporterProcess]) -> None:
    served = exporter_factory(delay=0.0)
    schema = schemathesis.openapi.from_url(f"{served.url}/openapi.json")
    operations = [result.ok() for result in schema.get_all_operations()]
    assert {op.path for op in operations} >= {
        "/api/v1/sweeps",
        "/api/v1/sweeps/{sweep_id}",
        "/api/v1/sweeps/{sweep_id}/cancel",
        "/metrics",
        "/",
    }
    seen: list[tuple[str, str, int]] = []
    with requests.Session() as session:
        session.trust_env = False  # loopback only, never via a proxy
        for operation in operations:

            @given(case=operation.as_strategy())
            @settings(
                max_examples=EXAMPLES_PER_OPERATION,
                deadline=None,
                database=None,
                suppress_health_check=list(HealthCheck),
            )
            def check(case: Any) -> None:
                response = case.call(base_url=served.url, session=session, headers=AUTH, timeout=10)
                seen.append((case.method, case.path, response.status_code))
                case.validate_response(response, checks=[not_a_server_error])

            check()
    assert all(code < 500 for _, _, code in seen)
    codes = {code for _, _, code in seen}
    assert 422 in codes, codes  # bodies were validated, not just refused
    assert len(seen) >= len(operations)
