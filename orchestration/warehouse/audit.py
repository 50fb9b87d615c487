"""The audit: dbt's run results judged, and kept beside the published data."""

from __future__ import annotations

import json
import os
import time
from dataclasses import asdict, dataclass, fields
from pathlib import Path

from orchestration.settings import Settings


class PublishBlocked(RuntimeError):
    """The build's audit did not pass, so the published data was left as it was."""


@dataclass
class Audit:
    """The verdict on one build: publishable only when no gating node failed."""

    passed: bool
    failures: list[dict[str, str]]
    tests_passed: int
    tests_warned: int
    models_built: int
    finished_at: float
    # The code fingerprint the project's dbt unit tests passed on (orchestration/build/unit_tests.py).
    unit_tests_code: str | None = None

    def write(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(asdict(self), indent=2))

    @classmethod
    def read(cls, path: Path) -> Audit | None:
        if not path.exists():
            return None
        # An audit written by an earlier version lacks the newer fields.
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in json.loads(path.read_text()).items() if k in known})

    @classmethod
    def from_run_results(cls, run_results: dict, unit_tests_code: str | None = None) -> Audit:
        """Judge dbt's run_results.json: a test or model with error/fail status gates publishing;
        tests with severity warn do not."""
        failures: list[dict[str, str]] = []
        tests_passed = tests_warned = models_built = 0
        for result in run_results.get("results", []):
            unique_id = result.get("unique_id", "")
            status = result.get("status")
            kind = unique_id.split(".", 1)[0]
            if status in ("error", "fail", "runtime error"):
                failures.append(
                    {"node": unique_id, "status": str(status), "message": str(result.get("message") or "")}
                )
            elif status == "skipped" and kind in ("model", "seed"):
                failures.append({"node": unique_id, "status": "skipped", "message": "upstream failed"})
            elif kind in ("test", "unit_test"):
                if status == "pass":
                    tests_passed += 1
                elif status == "warn":
                    tests_warned += 1
            elif kind in ("model", "seed") and status == "success":
                models_built += 1
        return cls(
            passed=not failures,
            failures=failures,
            tests_passed=tests_passed,
            tests_warned=tests_warned,
            models_built=models_built,
            finished_at=time.time(),
            unit_tests_code=unit_tests_code if not failures else None,
        )


def passed_audit(path: Path) -> Audit:
    """The build's audit, when it passed; else PublishBlocked, saying why (no audit, or the gating nodes
    that failed). Every warehouse's publish starts here, and changes nothing when it raises."""
    audit = Audit.read(path)
    if audit is None:
        raise PublishBlocked("Not publishing: the build has not been audited (run dbt build first).")
    if not audit.passed:
        raise PublishBlocked(
            f"Not publishing: {len(audit.failures)} gating node(s) failed: "
            + "; ".join(f["node"] for f in audit.failures[:10])
        )
    return audit


def keep_audit(settings: Settings) -> None:
    """The published build's audit stays beside the published data, for `tessera summary`; so does its
    record of what had landed when it read its sources (orchestration/build/landing.py), if it made one."""
    os.replace(settings.audit_path, settings.last_audit_path)
    if settings.landed_path.exists():
        os.replace(settings.landed_path, settings.last_landed_path)
