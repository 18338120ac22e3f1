"""schemathesis against the app in-process (ASGI transport): every operation of the OpenAPI
schema, with a bounded number of generated requests each, valid and invalid, holds to its
schema: no 5xx, only documented status codes, headers and bodies as documented,
schema-valid requests accepted (or refused only for credentials, unknown ids or limits),
invalid ones refused.

Two passes over the same real workspace (public-art paintings, pixel embedding): without
credentials (every ``/users/...`` route and the stock route must then refuse with 401),
and as the admin (every route is open, so writes really reach the database).
Runs are seeded (``derandomize``, and schemathesis's own seed) and bounded (``max_examples`` per operation); the number
of requests made is printed with the fuzz summary under ``api/anonymous`` and ``api/admin``.
"""

from __future__ import annotations

import shutil
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

schemathesis = pytest.importorskip("schemathesis")
pytest.importorskip("fastapi")

import sys  # noqa: E402

from fuzzing import CASES  # noqa: E402
from hypothesis import HealthCheck, settings  # noqa: E402
from hypothesis.errors import Unsatisfiable  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the tests' shared helpers

from artrec.server.app import create_app  # noqa: E402
from artrec.server.settings import Settings  # noqa: E402
from server_workspace import build_workspace  # noqa: E402

ADMIN_TOKEN = "schemathesis-admin-token-0123456789"
#: Generated requests per operation and pass (positive and negative together).
EXAMPLES = 60

SETTINGS = settings(
    max_examples=EXAMPLES,
    derandomize=True,
    database=None,
    deadline=timedelta(seconds=20),
    suppress_health_check=list(HealthCheck),
    print_blob=False,
)


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_workspace(tmp_path_factory.mktemp("schemathesis") / "ws")


def _schema(workspace: Path, tmp: Path) -> Any:
    root = tmp / "ws"
    shutil.copytree(workspace, root)
    app = create_app(
        Settings(
            workspace=root,
            admin_token=ADMIN_TOKEN,
            secret_key="schemathesis-secret-0123456789",
            max_writes_per_minute=0,
        )
    )
    return schemathesis.openapi.from_asgi("/openapi.json", app, config=_config())


def _config() -> Any:
    """schemathesis's configuration: a fixed seed (its default is random per process, so a run
    could not be repeated), and 413 counted as a refusal: a body over ``max_body_bytes`` is
    refused with 413 (documented on every route with a body), whether the rest of it is valid
    or not."""
    from schemathesis.config import SchemathesisConfig
    from schemathesis.config._checks import (
        NEGATIVE_DATA_REJECTION_EXPECTED_STATUSES,
        POSITIVE_DATA_ACCEPTANCE_EXPECTED_STATUSES,
    )

    return SchemathesisConfig.from_dict(
        {
            "seed": 0,
            "checks": {
                "negative_data_rejection": {
                    "expected-statuses": [*NEGATIVE_DATA_REJECTION_EXPECTED_STATUSES, "413"]
                },
                "positive_data_acceptance": {
                    "expected-statuses": [*POSITIVE_DATA_ACCEPTANCE_EXPECTED_STATUSES, "413"]
                },
            },
        }
    )


def _check_every_operation(schema: Any, name: str, headers: dict[str, str]) -> None:
    """Positive and negative cases for each operation, ``EXAMPLES // 2`` of each."""
    from schemathesis import GenerationMode

    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 12
    for operation in operations:
        guarded = operation.path.startswith("/users/") or operation.method == "patch"
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            try:
                _run(operation.as_strategy(generation_mode=mode), name, headers, guarded)
            except Unsatisfiable:
                # nothing of this operation can be made invalid (no parameters, no body)
                assert mode == GenerationMode.NEGATIVE, operation.label


def _run(strategy: Any, name: str, headers: dict[str, str], guarded: bool) -> None:
    from hypothesis import given

    @settings(SETTINGS, max_examples=EXAMPLES // 2)
    @given(case=strategy)
    def run(case: Any) -> None:
        CASES[name] += 1
        response = case.call_and_validate(headers=headers)
        if guarded and not headers:  # no credentials: never served
            assert response.status_code in (400, 401, 404, 405, 413, 422), response.status_code

    run()


def test_api_anonymous(workspace: Path, tmp_path: Path) -> None:
    _check_every_operation(_schema(workspace, tmp_path), "api/anonymous", {})


def test_api_admin(workspace: Path, tmp_path: Path) -> None:
    admin = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    _check_every_operation(_schema(workspace, tmp_path), "api/admin", admin)
