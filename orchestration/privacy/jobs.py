"""Erasure and access export as Dagster jobs, launched from the UI's launchpad with the subject as config."""

from dagster import Config, Failure, MetadataValue, OpExecutionContext, in_process_executor, job, op

from orchestration.build.jobs import WRITER_TAG
from orchestration.privacy.cluster import parse_subject


class PrivacyRequestConfig(Config):
    """The person, as TYPE:VALUE (email:ann@example.com, phone:+447700900123, crm_contact_id:…)."""

    subject: str


def _check(subject: str) -> None:
    try:
        parse_subject(subject)
    except ValueError as exc:
        raise Failure(description=str(exc)) from None


@op(description="Erase the person's whole identity cluster with proof, and suppress them.")
def erase_person(context: OpExecutionContext, config: PrivacyRequestConfig) -> str:
    from orchestration.privacy.erase import erase
    from orchestration.settings import Settings

    _check(config.subject)
    result = erase(Settings.from_env(), config.subject)
    proof = result.proof or {}
    # The run log names the request, never the identifier.
    context.add_output_metadata(
        {
            "request_id": result.request_id,
            "status": result.status,
            "proof_hits": proof.get("total_hits", -1),
            "tables_scanned": proof.get("tables_scanned", 0),
            "steps": MetadataValue.json(
                [{k: str(v) for k, v in s.items() if k in ("step", "target", "status")} for s in result.steps]
            ),
        }
    )
    if result.status == "failed":
        raise Failure(description=f"privacy request {result.request_id} failed; see `tessera privacy status`")
    return result.request_id


@op(description="Write everything held about the person's identity cluster to one JSON file.")
def export_person(context: OpExecutionContext, config: PrivacyRequestConfig) -> str:
    from orchestration.privacy.export import export
    from orchestration.settings import Settings

    _check(config.subject)
    result, path = export(Settings.from_env(), config.subject)
    context.add_output_metadata({"request_id": result.request_id, "file": str(path), "status": result.status})
    return result.request_id


@job(
    description="Privacy: erase a person everywhere (warehouse, landing files, sync state, destinations) with proof.",
    executor_def=in_process_executor,
    tags={WRITER_TAG: "duckdb"},
)
def privacy_erase() -> None:
    erase_person()


@job(
    description="Privacy: export everything held about a person (access request).",
    executor_def=in_process_executor,
)
def privacy_export() -> None:
    export_person()
