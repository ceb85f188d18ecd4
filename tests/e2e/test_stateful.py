"""Schemathesis's stateful tests against a real `catalog serve` (SQLite, and PostgreSQL as
the application role): sequences of calls that follow the schema's links, so that a created
record's id is used by get, patch, put and delete, with a bounded example budget. Every
answer must be in the schema (status and content type), and none may be a 5xx."""

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import asyncio
import hypothesis
import pytest
import schemathesis
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import content_type_conformance, status_code_conformance

from tests.conftest import new_pg_database, owner_url_of
from tests.ops.harness import Service, new_tenant, service_env

BUDGET = hypothesis.settings(max_examples=20, stateful_step_count=5, deadline=None,
                             derandomize=True, database=None,
                             suppress_health_check=list(hypothesis.HealthCheck))
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance]


@pytest.fixture(params=["sqlite", "postgresql"])
def service(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Service]:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'catalog.db'}"
        env = service_env(url, url)
    else:
        server = request.getfixturevalue("postgres_server")
        url = asyncio.run(new_pg_database(server))
        env = service_env(url, owner_url_of(server, url))
    with Service(env, tmp_path) as running:
        asyncio.run(running.wait_for("/readyz"))
        yield running


def test_stateful_sequences_conform_to_the_schema(service: Service) -> None:
    schema = schemathesis.openapi.from_url(f"{service.base}/openapi.json")
    schema = schema.include(path_regex=r"^/v1/(books|cities|users)")
    for kind in ("books", "cities", "users"):  # the links the machine walks are in the schema
        links = schema.raw_schema["paths"][f"/v1/{kind}"]["post"]["responses"]["201"]["links"]
        assert {"GetCreated", "PatchCreated", "DeleteCreated"} <= set(links), kind

    failures: list[str] = []  # collected, not raised: a replay would see another database

    class Machine(schema.as_state_machine()):  # type: ignore[misc]
        auth: dict[str, str] = {}

        def setup(self) -> None:  # a tenant of its own per sequence: each starts from nothing
            self.auth = asyncio.run(new_tenant(service.base, "stateful")).auth

        def get_call_kwargs(self, case: Any) -> dict[str, Any]:
            return {"headers": self.auth, "timeout": 30}

        def validate_response(self, response: Any, case: Any, **kwargs: Any) -> None:
            try:
                case.validate_response(response, checks=CHECKS)
            except Exception as error:  # noqa: BLE001 - every failed check is reported below
                failures.append(f"{case.method} {case.formatted_path} -> "
                                f"{response.status_code} {response.text[:200]}: "
                                f"{str(error)[:400]}")

    Machine.run(settings=BUDGET)
    assert service.running, service.log()
    assert failures == [], "\n".join(failures[:10])
