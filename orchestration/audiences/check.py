"""Check every audience before a build: the YAML rules, and each audience model's compiled SQL.

The static part (rules, references, cycles, raw `sql:` conditions) needs no dbt and takes
milliseconds. The compiled part runs `dbt compile` on models/audiences/ against a private, empty
DuckDB file (or the Postgres catalog), so it never touches the build or the published data, and
parses each model's compiled SQL with sqlglot: anything but one read-only SELECT that stays in the
sandbox (allow-listed functions, and only the relations of the nodes it refs) is refused.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import tempfile
from dataclasses import dataclass, replace
from pathlib import Path

from orchestration.audiences.definitions import audiences_dir, dbt_vars_args, project_fingerprint
from orchestration.audiences.jinjacheck import check_analyst_files
from orchestration.audiences.rules import PROJECT_MODELS, AudienceConfigError, AudienceProject, load_project
from orchestration.audiences.sqlcheck import AudienceSqlRefused, check_sandboxed, relation_parts
from orchestration.settings import PROJECT_DIR, Settings, dbt_executable

log = logging.getLogger(__name__)

__all__ = ["AudienceCheck", "AudienceConfigError", "AudienceSqlRefused", "check_audiences", "check_rules"]


@dataclass(frozen=True)
class CompiledModel:
    """An audience model's compiled SQL, and the relations it may read: those of the nodes it refs
    (through ephemeral models to their parents) and its own (an incremental model reads itself)."""

    sql: str
    reads: frozenset[str]


@dataclass
class AudienceCheck:
    project: AudienceProject
    models_checked: list[str]


def check_rules(project_dir: Path = PROJECT_DIR, dialect: str = "duckdb") -> AudienceProject:
    """The static checks: validate the audiences folder and the model files. Raises AudienceConfigError."""
    return load_project(audiences_dir(project_dir), project_dir / "models" / "audiences", dialect)


def compiled_models(
    settings: Settings, project_dir: Path = PROJECT_DIR, *, private: bool = True
) -> dict[str, CompiledModel]:
    """model name -> compiled SQL and readable relations, for every model in models/audiences/.

    private: compile against a private DuckDB file, never the build or published one, so a check
    never meets a lock held by a running build. The build step itself passes private=False: it
    holds the writer lock, and the same profile lets dbt reuse the project's partial parse."""
    # Imported here: pipeline imports the warehouse module, which the CLI should not pay for on --help.
    from orchestration.build.pipeline import seed_partial_parse, settings_environment

    check_dir = settings.build_db.parent / "audience-check"
    check_dir.mkdir(parents=True, exist_ok=True)
    check_settings = replace(settings, build_db=check_dir / "tessera.duckdb") if private else settings
    target = check_dir / ("target" if private else "target-build")
    if not private:
        seed_partial_parse(target)
    with (
        settings_environment(check_settings),
        tempfile.TemporaryDirectory(prefix="tessera-dbt-logs-") as logs,
    ):
        command = [
            dbt_executable(),
            *dbt_vars_args(["compile", "--select", "path:models/audiences"], project_dir),
            "--project-dir",
            str(project_dir),
            "--profiles-dir",
            str(project_dir),
            "--target",
            settings.target,
            "--target-path",
            str(target),
            "--log-path",
            logs,
            "--quiet",
        ]
        completed = subprocess.run(
            command, check=False, env=os.environ.copy(), capture_output=True, text=True
        )
    if completed.returncode != 0:
        detail = (completed.stdout + completed.stderr).strip()[-2000:]
        raise AudienceConfigError(f"dbt could not compile models/audiences/: {detail}")
    manifest = json.loads((target / "manifest.json").read_text())
    compiled: dict[str, CompiledModel] = {}
    for node in manifest["nodes"].values():
        if node["resource_type"] == "model" and node["original_file_path"].startswith("models/audiences/"):
            reads = readable_relations(manifest, node["unique_id"])
            compiled[node["name"]] = CompiledModel(node.get("compiled_code") or "", frozenset(reads))
    return compiled


def readable_relations(manifest: dict, unique_id: str) -> set[str]:
    """The relations a model may read: its own, and those of the models, seeds and snapshots it
    depends on; an ephemeral one is compiled in as a CTE, so its own parents count instead. Sources
    never: audiences read the project's models, not raw tables."""
    nodes = manifest["nodes"]
    node = nodes[unique_id]
    found = {node["relation_name"]} if node.get("relation_name") else set()
    for parent_id in node.get("depends_on", {}).get("nodes", []):
        parent = nodes.get(parent_id)
        if parent is None or parent["resource_type"] not in ("model", "seed", "snapshot"):
            continue
        if parent.get("config", {}).get("materialized") == "ephemeral":
            found |= readable_relations(manifest, parent_id) - {parent.get("relation_name")}
        elif parent.get("relation_name"):
            found.add(parent["relation_name"])
    return found


def check_audiences(
    settings: Settings, project_dir: Path = PROJECT_DIR, *, private: bool = True
) -> AudienceCheck:
    """Every check, as run before a build and by `tessera audiences check`.
    Raises AudienceConfigError or AudienceSqlRefused naming the audience."""
    project = check_rules(project_dir, settings.target)
    # Before dbt renders anything: an analyst file's Jinja runs while it compiles, with the build's rights.
    check_analyst_files(project_dir / "models" / "audiences", PROJECT_MODELS)
    # The compiled SQL depends only on the project's files and the target: when neither changed
    # since a check passed, it is not compiled again (saves a dbt invocation per build).
    stamp = settings.build_db.parent / "audience-check" / f"passed.{settings.target}.json"
    fingerprint = project_fingerprint(project_dir, settings.target)
    if not private and stamp.exists():
        passed = json.loads(stamp.read_text())
        if passed.get("fingerprint") == fingerprint:
            return AudienceCheck(project, list(passed["models"]))
    checked = []
    for model, compiled in sorted(compiled_models(settings, project_dir, private=private).items()):
        name = model.removeprefix("audience_")
        reads = {relation_parts(relation, settings.target) for relation in compiled.reads}
        check_sandboxed(
            name, compiled.sql, settings.target, what=f"model {model} (compiled SQL)", allowed_relations=reads
        )
        checked.append(model)
    log.info("audiences checked: %s", ", ".join(checked))
    stamp.parent.mkdir(parents=True, exist_ok=True)
    stamp.write_text(json.dumps({"fingerprint": fingerprint, "models": checked}))
    return AudienceCheck(project, checked)


def check_columns(settings: Settings, project: AudienceProject) -> list[str]:
    """Trait and `where:` columns that the published warehouse does not have (empty when it has
    them all, or when nothing is published yet: a new trait may arrive with the next build)."""
    from orchestration.audiences.rules import walk
    from orchestration.warehouse.registry import get_warehouse

    tables = ("customer_traits", "events", "orders", "order_items")
    try:
        rows = get_warehouse(settings).query_published(
            "select table_name, column_name from information_schema.columns "
            "where table_schema = current_schema() and table_name in ('" + "', '".join(tables) + "')"
        )
    except Exception as exc:  # nothing published yet, or the server is unreachable: skip this check
        log.info("column check skipped: %s", exc)
        return []
    columns: dict[str, set[str]] = {}
    for table, column in rows:
        columns.setdefault(str(table), set()).add(str(column).lower())
    if not columns:
        return []
    problems = []
    for audience in project.audiences:
        if audience.rule is None:
            continue
        for path, condition in walk(audience.rule):
            if condition.trait is not None and condition.trait not in columns.get("customer_traits", set()):
                problems.append(
                    f"audience {audience.name}, condition {path}: customer_traits has no column {condition.trait}"
                )
            source = "events" if condition.event is not None else condition.count
            if isinstance(source, str):
                for column in [
                    *(condition.where or {}),
                    *(["event_name"] if condition.event is not None else []),
                ]:
                    if column not in columns.get(source, set()):
                        problems.append(
                            f"audience {audience.name}, condition {path}: {source} has no column {column}"
                        )
    return problems
