"""A kept matching model is retrained when the matching rules it was trained under changed (an upgrade
of Tessera or Splink), including a version kept before fingerprints were recorded."""

from __future__ import annotations

import datetime as dt

import pyarrow as pa
import pytest

from orchestration.identity import matching
from orchestration.identity.matching import (
    FEATURE_COLUMNS,
    KEPT_COLUMNS,
    KeptModel,
    RetrainPolicy,
    Rule,
    comparison_columns,
    kept_from_table,
    retrain_reason,
    rules_fingerprint,
    source_names,
)

NOW = dt.datetime(2026, 12, 1)


def _features() -> pa.Table:
    rows = [
        {c: None for c in FEATURE_COLUMNS}
        | {"unique_id": f"crm-{i}", "source_name": "crm", "first_name_key": f"f{i}", "email": f"e{i}@x.org"}
        for i in range(10)
    ]
    return pa.Table.from_pylist(rows).cast(
        pa.schema([(c, pa.date32() if c == "date_of_birth" else pa.string()) for c in FEATURE_COLUMNS])
    )


def _kept(features: pa.Table, fingerprint: str | None) -> KeptModel:
    return KeptModel(
        version=2,
        trained_at=NOW - dt.timedelta(days=1),
        records=features.num_rows,
        comparison_columns=comparison_columns(features),
        sources=source_names(features),
        builds_used=1,
        seconds=1.0,
        untrained_levels=[],
        model={},
        fingerprint=fingerprint,
    )


def test_the_fingerprint_is_stable_and_follows_the_rules(monkeypatch: pytest.MonkeyPatch) -> None:
    first = rules_fingerprint()
    assert first.startswith("sha256:") and rules_fingerprint() == first  # no random part (linker_uid)
    changed = (*matching.BLOCKING_RULES, Rule("postcode", "l.postcode = r.postcode", ("postcode",)))
    monkeypatch.setattr(matching, "BLOCKING_RULES", changed)
    assert rules_fingerprint() != first
    monkeypatch.undo()
    monkeypatch.setattr(matching, "U_MAX_PAIRS", 1e6)
    assert rules_fingerprint() != first


def test_a_model_kept_under_other_rules_is_retrained() -> None:
    features = _features()
    policy = RetrainPolicy()
    current = rules_fingerprint()
    assert retrain_reason(_kept(features, current), features, policy, NOW) is None
    assert retrain_reason(_kept(features, "sha256:0123"), features, policy, NOW) == "matching rules changed"
    assert retrain_reason(_kept(features, None), features, policy, NOW) == (
        "matching rules changed (the kept version predates rule fingerprints)"
    )
    # A forced retrain or a full refresh still names itself first.
    assert retrain_reason(_kept(features, None), features, RetrainPolicy(requested=True), NOW) == "forced"


def test_the_kept_row_carries_the_fingerprint_or_null() -> None:
    row = {column: None for column in KEPT_COLUMNS} | {
        "retrain_requested": False,
        "full_refresh": False,
        "record_drift": 0.2,
        "max_age_days": 30.0,
        "model_version": 4,
        "trained_at": NOW,
        "training_records": 10,
        "model_json": "{}",
    }
    kept, _ = kept_from_table(pa.Table.from_pylist([row | {"rules_fingerprint": "sha256:ab"}]))
    assert kept is not None and kept.fingerprint == "sha256:ab"
    kept, _ = kept_from_table(pa.Table.from_pylist([row]))
    assert kept is not None and kept.fingerprint is None
