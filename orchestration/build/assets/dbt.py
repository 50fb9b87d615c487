"""The dbt models as assets; `dbt build` runs them and their tests, which surface as asset checks."""

import contextlib
import json
import shutil
import time
from collections.abc import Generator, Iterator, Mapping
from pathlib import Path
from typing import Any

from dagster import AssetExecutionContext, AssetsDefinition, Failure
from dagster_dbt import DagsterDbtTranslator, DbtCliResource, dbt_assets

from orchestration.audiences.check import AudienceConfigError, AudienceSqlRefused, check_audiences
from orchestration.audiences.definitions import dbt_vars_args
from orchestration.build.outside_dbt import EXACT
from orchestration.build.pipeline import check_source_freshness, environment, record_audit, sandboxed_build
from orchestration.build.project import (
    TesseraDbtCli,
    dbt_project,
    full_parse_reasons,
    target_folder_keeping_parse,
)
from orchestration.build.unit_tests import code_fingerprint, unit_tests_when_code_changed, verified_code
from orchestration.settings import Settings
from orchestration.warehouse.postgres_sandbox import SANDBOX_TARGET
from orchestration.warehouse.registry import get_warehouse


class TesseraTranslator(DagsterDbtTranslator):
    """Groups dbt assets by layer (the folder under models/: staging, identity, marts, …)."""

    def get_group_name(self, dbt_resource_props: Mapping[str, Any]) -> str | None:
        if dbt_resource_props["resource_type"] == "seed":
            return "seeds"
        fqn = dbt_resource_props.get("fqn", [])
        return fqn[1] if len(fqn) > 2 else "models"


def dbt_build_assets(settings: Settings) -> AssetsDefinition:
    """Every dbt model, seed and test as Dagster assets and checks, built in the phases of
    orchestration/build/outside_dbt.py. Needs the parsed manifest (build.project.prepare_manifest)."""
    project = dbt_project(settings.target)

    @dbt_assets(
        manifest=project.manifest_path,
        project=project,
        name="tessera_dbt",
        dagster_dbt_translator=TesseraTranslator(),
    )
    def tessera_dbt_assets(context: AssetExecutionContext, dbt: DbtCliResource):
        """Build and test into the build database, then record the audit that gates publishing."""
        warehouse = get_warehouse(settings)
        warehouse.ensure_build()
        # What profiles.yml needs to reach the build just prepared, which the Dagster process's environment
        # does not name (Spark: the build database, new in every build), for every dbt invocation below.
        build_environment = warehouse.dbt_environment()
        # Audience definitions are checked before anything runs: a rule that does not validate, or an
        # audience whose SQL is not a single SELECT, stops the build here (nothing built or published).
        started = time.monotonic()
        try:
            with environment(build_environment):  # dbt compiles them against the build under way
                checked = check_audiences(settings, private=False)
        except (AudienceConfigError, AudienceSqlRefused) as exc:
            raise Failure(description=f"Audience definitions refused, nothing was built: {exc}") from exc
        context.log.info(
            "audiences checked in %.1f s: %d models are single SELECTs",
            time.monotonic() - started,
            len(checked.models_checked),
        )

        # dbt's freshness check of the raw tables just loaded: a stale source does not stop the build,
        # but the syncs hold their removals after it (orchestration/sync/holds.py). Run by this asset's
        # dbt resource, as the build is: the same profile, vars and environment, so dbt starts from the
        # project's partial parse (a profile of its own would make it parse the whole project).
        def freshness_check(args: list[str]) -> None:
            started = time.monotonic()
            with build_folder() as folder:
                with environment(build_environment):  # dagster-dbt hands dbt the environment as it starts it
                    invocation = dbt.cli(
                        dbt_vars_args(args),
                        raise_on_error=False,
                        manifest=project.manifest_path,
                        target_path=folder,
                    )
                invocation.wait()
                log_parse(
                    invocation.target_path, "source freshness", time.monotonic() - started, folder is not None
                )
            if folder is None:
                shutil.rmtree(invocation.target_path, ignore_errors=True)

        @contextlib.contextmanager
        def build_folder() -> Iterator[Path | None]:
            """The target folder of one of the build's invocations: None, dagster-dbt's new folder starting
            from the project's partial parse. Where dbt_environment names the build (Spark: a new database
            every build, so a profile the project's parse does not fit), a folder starting from the parse
            this build's previous invocation kept instead, so that only its first one parses the whole
            project (target_folder_keeping_parse)."""
            if not build_environment:
                yield None
                return
            with target_folder_keeping_parse(project, f"{settings.target}-build") as folder:
                yield folder

        def log_parse(log_dir: Path, what: str, seconds: float, kept: bool = False) -> None:
            """`kept`: the invocation started from a parse kept for its folder, not the project's."""
            reasons = full_parse_reasons(log_dir)
            if reasons:
                context.log.warning(
                    "dbt %s parsed the whole project (%s) in a %.1f s invocation",
                    what,
                    "; ".join(dict.fromkeys(reasons)),
                    seconds,
                )
            else:
                start = "a kept partial parse" if kept else "the project's partial parse"
                context.log.info("dbt %s: %.1f s, from %s", what, seconds, start)

        freshness = check_source_freshness(settings, freshness_check)
        context.log.info("source freshness: %s", ", ".join(f"{n} {s}" for s, n in sorted(freshness.items())))

        # One invocation on DuckDB; elsewhere one per phase, around the Python steps that dbt cannot run
        # there (identity matching, scoring), and the audience sandbox's: the same build as every other.
        def dagster_build(
            selection: list[str], runner: DbtCliResource = dbt, target_path: Path | None = None
        ) -> Generator[Any, None, list[dict]]:
            started = time.monotonic()
            # A phase that excludes the others' nodes by name runs exactly the rest (outside_dbt.EXACT):
            # dagster-dbt selects every node of the job by name (fqn:*), tests included. A subset
            # (assets picked in the UI) keeps dagster-dbt's selection of the tests.
            exact = EXACT if "--exclude" in selection and not context.is_subset else []
            with environment(build_environment):
                invocation = runner.cli(
                    dbt_vars_args(["build", *selection, *exact]),
                    context=context,
                    raise_on_error=False,
                    target_path=target_path,
                )
            yield from invocation.stream()
            results = invocation.get_artifact("run_results.json").get("results", [])
            log_parse(invocation.target_path, "build", time.monotonic() - started, target_path is not None)
            if target_path is None:  # a folder given is its owner's to remove
                shutil.rmtree(invocation.target_path, ignore_errors=True)
            return results

        # Postgres: analyst audience SQL builds in an invocation of its own, logged in as the sandbox
        # role (the profiles.yml target postgres_audience_sandbox; orchestration/build/pipeline.py).
        sandbox = TesseraDbtCli(
            project_dir=dbt.project_dir,
            profiles_dir=dbt.profiles_dir,
            dbt_executable=dbt.dbt_executable,
            global_config_flags=dbt.global_config_flags,
            target=SANDBOX_TARGET,
        )

        def sandbox_build(selection: list[str]) -> Generator[Any, None, list[dict]]:
            # Its own target's partial parse, kept between builds (the project's is the main target's).
            with target_folder_keeping_parse(project, SANDBOX_TARGET) as folder:
                return (yield from dagster_build(selection, sandbox, folder))

        def build_phase(selection: list[str]) -> Generator[Any, None, list[dict]]:
            with build_folder() as folder:
                return (yield from dagster_build(selection, dbt, folder))

        manifest = json.loads(project.manifest_path.read_text())
        # The dbt unit tests run when the code changed since they last passed (build/unit_tests.py).
        fingerprint = code_fingerprint(settings)
        with unit_tests_when_code_changed(settings, fingerprint) as skipped:
            results = yield from sandboxed_build(settings, build_phase, manifest, sandbox_build)
        if skipped:
            context.log.info("dbt unit tests: left out, the code is unchanged since they passed")
        unit_tests = list(manifest.get("unit_tests") or {})
        audit = record_audit(settings, results, verified_code(fingerprint, skipped, unit_tests, results))
        if not audit.passed:
            raise Failure(
                description=(
                    "The build failed its audit, so nothing will be published; analysts keep the last "
                    f"published data. {len(audit.failures)} failing node(s): "
                    + "; ".join(f"{f['node']} ({f['status']})" for f in audit.failures[:20])
                ),
                metadata={"failures": [f["node"] for f in audit.failures]},
            )

    return tessera_dbt_assets
