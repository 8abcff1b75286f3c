"""Fixtures for the ragdistill-openai tests: a fake server and a private cache home."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fake_server import FakeOpenAIServer


@pytest.fixture(autouse=True)
def _isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Every test gets its own cache folder and no real API key from the environment.
    monkeypatch.setenv("RAGDISTILL_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("RAGDISTILL_TEACHER_CACHE", raising=False)  # it would win over HOME
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)


@pytest.fixture
def server() -> Iterator[FakeOpenAIServer]:
    with FakeOpenAIServer() as fake:
        yield fake


@pytest.fixture
def connection(server: FakeOpenAIServer) -> dict[str, object]:
    """Options that point a component at the fake server, with fast retries."""
    return {"base_url": server.url, "retry_backoff": 0.01, "timeout": 10.0}
