"""`tessera bench identity`: accuracy against the planted truth, stitching speed, and id stability."""

from __future__ import annotations

import logging
import os
import shutil
import time
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow.parquet as pq
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from orchestration.build.pipeline import build
from orchestration.identity.metrics import pairwise_metrics
from orchestration.settings import Settings
from orchestration.warehouse.connection import open_read_only

log = logging.getLogger(__name__)

# Tables whose rows are person records: the stability check holds some back, then adds them.
PERSON_TABLES = [
    "crm/contacts",
    "shop/customers",
    "shop/orders",
    "events/identifies",
    "pos/transactions",
    "support/tickets",
    "support/survey_responses",
    "esp/email_events",
    "consent/consent_events",
]


def bench_settings(workdir: Path) -> Settings:
    return Settings.from_env(
        {
            **os.environ,
            "TESSERA_TARGET": "duckdb",
            "TESSERA_DATA_DIR": str(workdir / "data"),
            "TESSERA_WAREHOUSE": str(workdir / "warehouse" / "tessera.duckdb"),
            "TESSERA_BUILD_DB": str(workdir / "warehouse" / "build" / "tessera.duckdb"),
        }
    )


def hold_back(raw_dir: Path, share: float, seed: int) -> Path:
    """Remove a random `share` of the rows of each person table, keeping the full files aside."""
    full_dir = raw_dir.parent / "full"
    rng = np.random.default_rng(seed + 1_000_003)
    for name in PERSON_TABLES:
        path = raw_dir / f"{name}.parquet"
        keep = full_dir / f"{name}.parquet"
        keep.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, keep)
        table = pq.read_table(path)
        pq.write_table(table.filter(rng.random(table.num_rows) >= share), path)
    return full_dir


def restore(raw_dir: Path, full_dir: Path) -> None:
    for name in PERSON_TABLES:
        shutil.copyfile(full_dir / f"{name}.parquet", raw_dir / f"{name}.parquet")


def evaluate(published_db: Path, truth_path: Path) -> dict[str, Any]:
    """Pairwise accuracy of customer_source_records against the truth table."""
    con = open_read_only(published_db)
    try:
        con.execute(f"create temp table truth as select * from read_parquet('{truth_path}')")
        con.execute(
            """
            create temp table eval_records as
            select distinct
                records.source_name || '/' || records.record_id as record_key,
                truth.person_id,
                records.customer_id
            from customer_source_records as records
            inner join truth
                on truth.source = records.source_name
                and truth.record_id = records.record_id
                and (truth.table_name = records.table_name or records.table_name = 'tracks_and_pages')
            """
        )
        con.execute(
            """
            create temp view eval_occurrences as
            select o.source_name || '/' || o.record_id as record_key, o.identifier_type, o.identifier_value
            from int_identity__identifier_occurrences as o
            inner join int_identity__node_checks as c using (identifier_type, identifier_value)
            where c.junk_reason is null and c.invalid_reason is null
            """
        )
        tables = {
            row[0] for row in con.execute("select table_name from information_schema.tables").fetchall()
        }
        named_from = (
            "select distinct source_name || '/' || record_id as record_key from int_identity__match_features "
            "where first_name_key is not null and last_name_key is not null"
            if "int_identity__match_features" in tables
            else "select cast(null as varchar) as record_key where false"
        )
        con.execute(f"create temp view eval_named as {named_from}")
        metrics = pairwise_metrics(con)
        probabilistic = probabilistic_figures(con)
        if probabilistic:
            metrics["probabilistic"] = probabilistic
        metrics["merges_through_junk"] = int(
            con.execute(
                """
                select count(*) from int_identity__edges as e
                inner join int_identity__nodes as n on n.node_id in (e.node_id_a, e.node_id_b)
                where n.junk_reason is not null
                """
            ).fetchall()[0][0]
        )
        metrics["customers"] = int(con.execute("select count(*) from customers").fetchall()[0][0])
        metrics["largest_customer_identifiers"] = int(
            con.execute("select max(identifier_count) from customers").fetchall()[0][0]
        )
        metrics["unresolved_records"] = int(
            con.execute("select count(*) from identity_unresolved_records").fetchall()[0][0]
        )
        return metrics
    finally:
        con.close()


def probabilistic_figures(con: Any) -> dict[str, Any]:
    """Accuracy without the probabilistic stage (records grouped by their deterministic component
    instead of their customer, on the same build), and what the stage kept, accepted and queued."""
    tables = {row[0] for row in con.execute("select table_name from information_schema.tables").fetchall()}
    if "int_identity__deterministic_components" not in tables:
        return {}
    con.execute("create temp table eval_records_with as select * from eval_records")
    con.execute(
        """
        create temp table eval_records_without as
        select records.record_key, records.person_id,
            coalesce(cast(min(components.deterministic_component_id) as varchar), min(records.customer_id))
                as customer_id
        from eval_records_with as records
        left join (
            select o.source_name || '/' || o.record_id as record_key, n.node_id
            from int_identity__identifier_occurrences as o
            inner join int_identity__nodes as n using (identifier_type, identifier_value)
            where n.is_linkable
        ) as record_nodes on record_nodes.record_key = records.record_key
        left join int_identity__deterministic_components as components
            on components.node_id = record_nodes.node_id
        group by 1, 2
        """
    )
    con.execute("drop table eval_records")
    con.execute("create temp table eval_records as select * from eval_records_without")
    without = pairwise_metrics(con)
    con.execute("drop table eval_records")
    con.execute("create temp table eval_records as select * from eval_records_with")

    def count(sql: str) -> int:
        return int(con.execute(sql).fetchall()[0][0])

    statuses = dict(
        con.execute(
            "select link_status, count(*) from int_identity__probabilistic_links group by 1"
        ).fetchall()
    )
    return {
        **blocking_figures(con),
        "without_probabilistic": without,
        "person_records": count("select count(*) from int_identity__match_features"),
        "pairs_kept": count("select count(*) from int_identity__match_pairs"),
        "links_by_status": {str(k): int(v) for k, v in statuses.items()},
        "probabilistic_edges": count("select count(*) from int_identity__probabilistic_edges"),
        "review_queue": count("select count(*) from identity_review_queue"),
        "records_placed_by_link": count(
            "select count(*) from customer_source_records where placed_by like 'link:%'"
        ),
    }


def blocking_figures(con: Any) -> dict[str, Any]:
    """Pairs completeness of the probabilistic stage's blocking against the planted truth: of the
    true pairs among the person records it matched, the share its blocking rules compared at all."""
    from orchestration.identity.matching import blocking_completeness, model_blocking_rules, model_from_table

    model = model_from_table(con.sql("select model_json from int_identity__match_model").to_arrow_table())
    if model is None:
        return {}
    features = con.sql("select * from int_identity__match_features").to_arrow_table()
    persons = con.sql(
        """
        select distinct f.unique_id, truth.person_id
        from int_identity__match_features as f
        inner join truth
            on truth.source = f.source_name and truth.table_name = f.table_name and truth.record_id = f.record_id
        """
    ).to_arrow_table()
    compared, true = blocking_completeness(features, persons, model_blocking_rules(model))
    return {
        "true_pairs_among_person_records": true,
        "pairs_completeness": round(compared / true, 6) if true else 1.0,
    }


def scipy_reference_seconds(published_db: Path) -> float:
    """The reference: scipy connected_components over the same edge list, read from the warehouse."""
    started = time.perf_counter()
    con = open_read_only(published_db)
    edges = con.execute("select node_id_a, node_id_b from int_identity__edges").fetchnumpy()
    size = int(con.execute("select max(node_id) from int_identity__nodes").fetchall()[0][0]) + 1
    con.close()
    a = np.asarray(edges["node_id_a"], dtype=np.int64)
    b = np.asarray(edges["node_id_b"], dtype=np.int64)
    graph = coo_matrix((np.ones(len(a), dtype=np.int8), (a, b)), shape=(size, size)).tocsr()
    connected_components(graph, directed=False)
    return time.perf_counter() - started


def id_snapshot(published_db: Path) -> dict[tuple[str, str], str]:
    con = open_read_only(published_db)
    rows = con.execute(
        "select identifier_type, identifier_value, customer_id from customer_identifiers"
    ).fetchall()
    con.close()
    return {(t, v): c for t, v, c in rows}


def stability(before: dict[tuple[str, str], str], published_db: Path) -> dict[str, Any]:
    """Share of the first build's customers whose id changed, beyond those that truly merged."""
    after = id_snapshot(published_db)
    con = open_read_only(published_db)
    history = con.execute(
        "select old_customer_id, new_customer_id, change_kind from customer_id_history "
        "where changed_at = (select max(changed_at) from customer_id_history)"
    ).fetchall()
    con.close()
    merged_away = {old for old, _new, kind in history if kind == "merge"}
    customers_before = set(before.values())
    changed = {cid for key, cid in before.items() if key in after and after[key] != cid}
    unexplained = changed - merged_away
    return {
        "customers_before": len(customers_before),
        "customers_after": len(set(after.values())),
        "customers_id_changed": len(changed),
        "customers_merged": len(merged_away),
        "splits_logged": sum(1 for _o, _n, kind in history if kind == "split"),
        "id_changed_share_beyond_merges": round(len(unexplained) / max(len(customers_before), 1), 6),
    }


def _model_decision(published_db: Path) -> str | None:
    """Whether the last build trained the matching model or reused the kept one, and why."""
    con = open_read_only(published_db)
    try:
        rows = con.execute(
            "select distinct model_decision, model_version, train_reason from int_identity__match_model"
        ).fetchall()
    finally:
        con.close()
    return "; ".join(f"{d} v{v} ({r})" for d, v, r in rows) or None


def run_identity_benchmark(customers: int, seed: int, workdir: Path, growth: float = 0.01) -> dict[str, Any]:
    from orchestration.generate import generate

    settings = bench_settings(workdir)
    started = time.perf_counter()
    generate(customers=customers, seed=seed, out=settings.data_dir)
    generate_seconds = time.perf_counter() - started
    full_dir = hold_back(settings.raw_dir, growth, seed)

    first = build(settings, reason="tessera bench identity")
    identity_seconds = sum(
        s for name, s in first.node_seconds.items() if "identity" in name or name.startswith("customer")
    )
    metrics = evaluate(settings.published_db, settings.truth_path)
    reference = scipy_reference_seconds(settings.published_db)
    before = id_snapshot(settings.published_db)

    restore(settings.raw_dir, full_dir)
    second = build(settings, reason="tessera bench identity")
    return {
        "benchmark": "identity",
        "customers": customers,
        "seed": seed,
        "cores": os.cpu_count(),
        "generate_seconds": round(generate_seconds, 2),
        "build_seconds": round(first.seconds, 2),
        "accuracy": metrics,
        "stitching_seconds": round(first.node_seconds.get("int_identity__components", float("nan")), 3),
        "scipy_reference_seconds": round(reference, 3),
        "stitching_vs_reference": round(
            first.node_seconds.get("int_identity__components", 0) / max(reference, 1e-9), 2
        ),
        "identity_layer_seconds": round(identity_seconds, 2),
        "probabilistic_training_seconds": round(first.node_seconds.get("int_identity__match_model", 0.0), 2),
        "probabilistic_prediction_seconds": round(
            first.node_seconds.get("int_identity__match_pairs", 0.0), 2
        ),
        "slowest_models_seconds": {
            name: round(sec, 2) for name, sec in sorted(first.node_seconds.items(), key=lambda kv: -kv[1])[:8]
        },
        "rebuild_seconds": round(second.seconds, 2),
        # The rebuild scores with the kept model unless the growth drifted past the threshold.
        "rebuild_probabilistic_model_seconds": round(
            second.node_seconds.get("int_identity__match_model", 0.0), 2
        ),
        "rebuild_model_decision": _model_decision(settings.published_db),
        "stability": {"growth": growth, **stability(before, settings.published_db)},
    }
