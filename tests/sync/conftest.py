"""Fixtures for the sync engine tests: temp warehouse and state paths, a fake clock, a webhook receiver."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.sync.fakes import WebhookFake
from tests.sync.helpers import WEBHOOK_SECRET, FakeClock


@dataclass
class Paths:
    warehouse: Path
    state: Path


@pytest.fixture
def paths(tmp_path: Path) -> Paths:
    return Paths(warehouse=tmp_path / "warehouse.duckdb", state=tmp_path / "sync_state.duckdb")


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def webhook() -> Iterator[WebhookFake]:
    fake = WebhookFake(WEBHOOK_SECRET)
    fake.start()
    try:
        yield fake
    finally:
        fake.stop()
