"""schemathesis against the OpenAPI schema, in process (ASGI), signed in as an admin: for every
operation a bounded number of generated requests (``DEALFLOW_SCHEMATHESIS_EXAMPLES``, default 15)
must give no server error and no response that breaks the schema (body, status code, content type).

Signing out everywhere and revoking tokens are left out: a generated call would end the test's own
token; tests/test_api_teams.py covers them."""
from __future__ import annotations

import os
from typing import Any

import pytest

schemathesis = pytest.importorskip("schemathesis")

from hypothesis import HealthCheck, settings  # noqa: E402
from schemathesis.checks import not_a_server_error  # noqa: E402
from schemathesis.specs.openapi.checks import (  # noqa: E402
    content_type_conformance, response_schema_conformance, status_code_conformance,
)

from dealflow.store import models as m  # noqa: E402
from dealflow.web.auth import issue_token  # noqa: E402
from dealflow.web.testing import add_login, make_app  # noqa: E402
from tests.factories import add_deal  # noqa: E402

EXAMPLES = int(os.environ.get("DEALFLOW_SCHEMATHESIS_EXAMPLES", "15"))


@pytest.fixture
def admin_app(store: Any) -> tuple[Any, str]:
    add_deal(store, "D-1", [("Qualify", "2024-01-01"), ("Won", "2024-02-01")], owner="ann", amount=100, product="Widget",
             activities=[("call", "2024-01-05")])
    add_deal(store, "D-2", [("Qualify", "2024-01-01"), ("Lost", "2024-01-20")], owner="bob", amount=300)
    add_deal(store, "D-3", [("Qualify", "2024-01-03")], owner="ann", amount=200)
    add_login(store)
    with store.atomic() as s:
        token, _ = issue_token(s, s.query(m.User).one(), scope="write")
    return make_app(store), token


def test_api_conforms_to_its_schema(admin_app: tuple[Any, str]) -> None:
    """Every operation in turn (the pytest plugin of schemathesis does not run on this pytest)."""
    from hypothesis import given

    app, token = admin_app
    schema = (schemathesis.openapi.from_asgi("/api/openapi.json", app)
              .exclude(path_regex=r"^/api/(me/sign-out-everywhere|tokens/\{token_id\})$"))
    checks = [not_a_server_error, response_schema_conformance, status_code_conformance, content_type_conformance]
    failures, ran = [], 0
    for result in schema.get_all_operations():
        operation = result.ok()

        @given(case=operation.as_strategy())
        @settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
                  suppress_health_check=list(HealthCheck))
        def run(case: Any) -> None:
            case.call_and_validate(headers={"Authorization": f"Bearer {token}"}, checks=checks)

        import time

        started = time.perf_counter()
        try:
            run()
        except Exception as exc:  # noqa: BLE001 - collect every operation's failure, then report them all
            failures.append(f"{operation.label}: {exc!r}"[:1500])
        ran += 1
        print(f"{time.perf_counter() - started:6.2f}s {operation.label}")
    assert ran >= 40
    assert not failures, "\n\n".join(failures)
