"""One Dagster asset per sync in syncs/syncs.yml, downstream of the dbt model it reads."""

from dagster import AssetExecutionContext, AssetKey, AssetsDefinition, Failure, MaterializeResult, asset

from orchestration.settings import Settings
from orchestration.sync.config import SyncConfig
from orchestration.sync.project import BeforeSend, project_syncs, run_project_sync
from orchestration.sync.redact import install_log_filter, redact, scrub_exception


def _sync_asset(
    settings: Settings, config: SyncConfig, before_send: BeforeSend | None = None
) -> AssetsDefinition:
    @asset(
        name=f"sync_{config.name}",
        deps=[
            AssetKey([config.source.model]),
            AssetKey(["published_warehouse"]),
            # A journey's sync step comes after the journey (orchestration/journeys/dagster.py).
            *([AssetKey([f"journey_{config.source.journey}"])] if config.source.journey else []),
        ],
        group_name="syncs",
        kinds={config.destination.type},
        description=config.description or f"Sync {config.source.describe} to {config.destination.type}.",
        tags={"tessera/sync": config.name},
    )
    def _run(context: AssetExecutionContext) -> MaterializeResult:
        # Dagster's run log, event metadata and captured output: nothing goes there unredacted.
        install_log_filter(context.log)
        try:
            result = run_project_sync(settings, config, before_send=before_send)
        except Exception as exc:
            raise scrub_exception(exc) from None
        counts = result.counts() if hasattr(result, "counts") else {}
        context.log.info("sync %s: %s %s", config.name, result.status, counts)
        if not result.ok:
            raise Failure(
                description=redact(f"sync {config.name} ended {result.status}: {result.error or counts}"),
                metadata={k: int(v) for k, v in counts.items()},
            )
        return MaterializeResult(metadata={"status": result.status, **{k: int(v) for k, v in counts.items()}})

    return _run


def sync_assets(settings: Settings, before_send: BeforeSend | None = None) -> list[AssetsDefinition]:
    """One asset per sync in syncs/syncs.yml (read when Dagster loads the definitions, not at import)."""
    return [_sync_asset(settings, config, before_send) for config in project_syncs(settings)]
