"""Erasure and access export as Dagster jobs, launched with a ledger request id as their only config.

The identifier itself never reaches Dagster: `tessera privacy request erase|access` records it in the
ledger and prints the request id, and Dagster keeps run configs, events and logs in its own storage."""

from dagster import Config, Failure, MetadataValue, OpExecutionContext, in_process_executor, job, op

from orchestration.build.jobs import WRITER_TAG


class PrivacyRequestConfig(Config):
    """A request recorded with `tessera privacy request erase|access` (pr_…); never the identifier."""

    request_id: str


def _check(request_id: str) -> None:
    # An identifier pasted here by mistake would already be in the run config; at least say so plainly.
    if not request_id.startswith("pr_") or ":" in request_id or "@" in request_id:
        raise Failure(
            description="request_id must be a ledger request id (pr_…) from `tessera privacy request`, "
            "not an identifier"
        )


@op(description="Erase the person of a recorded request: their whole identity cluster, with proof.")
def erase_person(context: OpExecutionContext, config: PrivacyRequestConfig) -> str:
    from orchestration.privacy.erase import REQUEST_FAILURES, erase_request
    from orchestration.settings import Settings

    _check(config.request_id)
    try:
        result = erase_request(Settings.from_env(), config.request_id)
    except REQUEST_FAILURES as exc:
        raise Failure(description=str(exc)) from None
    proof = result.proof or {}
    # The run log names the request, never the identifier.
    context.add_output_metadata(
        {
            "request_id": result.request_id,
            "status": result.status,
            "proof_hits": proof.get("total_hits", -1),
            "tables_scanned": proof.get("tables_scanned", 0),
            "files_scanned": proof.get("files_scanned", 0),
            "steps": MetadataValue.json(
                [{k: str(v) for k, v in s.items() if k in ("step", "target", "status")} for s in result.steps]
            ),
        }
    )
    if result.status == "failed":
        raise Failure(description=f"privacy request {result.request_id} failed; see `tessera privacy status`")
    return result.request_id


@op(description="Write everything held about the person of a recorded access request to one JSON file.")
def export_person(context: OpExecutionContext, config: PrivacyRequestConfig) -> str:
    from orchestration.privacy.erase import REQUEST_FAILURES
    from orchestration.privacy.export import export_request
    from orchestration.settings import Settings

    _check(config.request_id)
    try:
        result, path = export_request(Settings.from_env(), config.request_id)
    except REQUEST_FAILURES as exc:
        raise Failure(description=str(exc)) from None
    context.add_output_metadata({"request_id": result.request_id, "file": str(path), "status": result.status})
    return result.request_id


@job(
    description="Privacy: erase a person everywhere (warehouse, landing files, sync state, destinations) with "
    "proof. Config: the request id from `tessera privacy request erase`.",
    executor_def=in_process_executor,
    tags={WRITER_TAG: "duckdb"},
)
def privacy_erase() -> None:
    erase_person()


@job(
    description="Privacy: export everything held about a person (access request). Config: the request id "
    "from `tessera privacy request access`.",
    executor_def=in_process_executor,
)
def privacy_export() -> None:
    export_person()
