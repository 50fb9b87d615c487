"""dbt unit tests run when the code they test changed, not on every build.

A dbt unit test checks one model's SQL against inputs written in YAML: it reads no warehouse data, so on
unchanged code it gives the same answer every time. dbt's own advice is to run them in development and
CI rather than in production builds. Tessera's users edit models without a CI of their own, though, so a
build runs them whenever the code could have changed since they last passed, and leaves them out
otherwise:

- the code is fingerprinted (`code_fingerprint`): every file under models/, macros/, seeds/ and tests/dbt/,
  dbt_project.yml, the vars the build passes (the analyst configuration: audiences, traits), the target
  and the versions of dbt-core and its adapter;
- a published build whose every unit test ran and passed records the fingerprint in its audit
  (`unit_tests_code`), and so does a build that left them out because the fingerprint matched;
- the next build leaves them out (dbt's DBT_EXCLUDE_RESOURCE_TYPES) only when its fingerprint is the one
  the published audit records. TESSERA_UNIT_TESTS=always runs them on every build.

Data tests, the gate before publishing, always run."""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
from collections.abc import Collection, Iterator, Mapping
from importlib import metadata
from pathlib import Path
from typing import Any

from orchestration.audiences.definitions import dbt_vars_args, project_fingerprint
from orchestration.settings import Settings
from orchestration.warehouse.audit import Audit

log = logging.getLogger(__name__)

EXCLUDE_ENV = "DBT_EXCLUDE_RESOURCE_TYPES"
POLICY_ENV = "TESSERA_UNIT_TESTS"


def code_fingerprint(settings: Settings, dbt_vars: Mapping[str, Any] | None = None) -> str:
    """A digest of everything a dbt unit test's outcome depends on (see the module's docstring): the
    files dbt compiles the project from (the audience check's project_fingerprint), the singular tests, the
    vars and the versions."""
    project = settings.project_dir
    digest = hashlib.sha256(project_fingerprint(project, settings.target).encode())
    for path in sorted(p for p in (project / "tests" / "dbt").rglob("*") if p.is_file()):
        digest.update(str(path.relative_to(project)).encode() + b"\0" + path.read_bytes() + b"\0")
    extra = ["--vars", json.dumps(dict(dbt_vars), default=str)] if dbt_vars else []
    digest.update(json.dumps(dbt_vars_args(extra, project), sort_keys=True).encode())
    for package in ("dbt-core", f"dbt-{settings.target}"):
        with contextlib.suppress(metadata.PackageNotFoundError):
            digest.update(f"{package}=={metadata.version(package)}".encode())
    return digest.hexdigest()


@contextlib.contextmanager
def unit_tests_when_code_changed(settings: Settings, fingerprint: str) -> Iterator[bool]:
    """While open, dbt leaves out the unit tests if the published build's audit says they passed on code
    with this fingerprint; yields whether it does. An exclusion already set (a caller's or the user's
    DBT_EXCLUDE_RESOURCE_TYPES) stays as it is."""
    policy = os.environ.get(POLICY_ENV, "").strip().lower() or "changed"
    if policy not in ("changed", "always"):
        raise ValueError(f"{POLICY_ENV} must be 'changed' (the default) or 'always', not {policy!r}")
    last = Audit.read(settings.last_audit_path)
    verified = last is not None and last.unit_tests_code == fingerprint
    if policy == "always" or not verified or EXCLUDE_ENV in os.environ:
        yield False
        return
    log.info(
        "dbt unit tests: left out, the code is unchanged since they passed (%s=always runs them)", POLICY_ENV
    )
    os.environ[EXCLUDE_ENV] = "unit_test"
    try:
        yield True
    finally:
        os.environ.pop(EXCLUDE_ENV, None)


def verified_code(
    fingerprint: str, skipped: bool, unit_tests: Collection[str], results: list[dict[str, Any]]
) -> str | None:
    """The fingerprint to record in this build's audit: when the build left the unit tests out because
    they had passed on this code, or when every one of the project's unit tests (`unit_tests`, their
    unique ids) ran in it and passed; None otherwise (a narrowed build, or unit tests left out by a
    caller), so the next build runs them."""
    if skipped:
        return fingerprint
    passed = {r.get("unique_id") for r in results if r.get("status") == "pass"}
    return fingerprint if set(unit_tests) <= passed else None


def manifest_unit_tests(manifest_path: Path) -> list[str]:
    """The unique ids of the unit tests in a dbt manifest."""
    return list(json.loads(manifest_path.read_text()).get("unit_tests") or {})
