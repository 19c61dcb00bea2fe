"""What both services' schemathesis tests share (tests/registry/test_api_schema.py, tests/verifier/test_api_schema.py):
the budget, the checks, and one operation fuzzed in one generation mode."""

from __future__ import annotations

import os
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_schema_conformance,
    status_code_conformance,
)

__all__ = ["CHECKS", "EXAMPLES", "fuzz", "negative_data_rejection"]

EXAMPLES = int(os.environ.get("TRACECERT_FUZZ_EXAMPLES", "25"))
"""Derandomized examples per operation and mode (``TRACECERT_FUZZ_EXAMPLES``; 25 in the suite)."""
CHECKS: list[Any] = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    negative_data_rejection,
]


def fuzz(operation: Any, mode: Any, checks: list[Any], headers: dict[str, str] | None = None) -> None:
    """Call ``operation`` with :data:`EXAMPLES` generated cases of ``mode`` and validate each answer with ``checks``."""

    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    def run(case: Any) -> None:
        case.validate_response(case.call(headers=headers), checks=checks)

    try:
        run()
    except Unsatisfiable:
        # Nothing in this operation can be made invalid (e.g. GET /health has no parameters).
        assert mode == GenerationMode.NEGATIVE, operation.label
