"""Identity accuracy against the planted truth: pairwise precision, recall and F1 over source records.

Pairs are counted from contingency tables (never enumerated), so a million records cost seconds.
`recall_reachable` counts only the true pairs that deterministic identifiers *can* join: records of
one person connected through that person's own valid, non-junk identifiers.

`recall_ceiling` is the share of all true pairs that *any* evidence in the data connects: the
deterministic reach above, with every named record of a person (first and last name known) joined
to every other named record of that person, as if names plus the rest always sufficed. It is an
upper bound for any matcher working from identifiers and names: the remaining true pairs involve
records that carry nothing tying them to the rest of their person (a device that never signs in, a
loyalty card never shown with a phone, an address seen only by the email tool).
`recall_evidence` is the recall over those evidence-connected pairs.
"""

from __future__ import annotations

from typing import Any

import duckdb
import numpy as np
import pyarrow as pa
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components


def _pairs(counts: np.ndarray) -> int:
    counts = counts.astype(np.int64)
    return int((counts * (counts - 1) // 2).sum())


def _group_counts(con: duckdb.DuckDBPyConnection, sql: str) -> np.ndarray:
    return con.execute(sql).fetchnumpy()["n"]


def reach_components(con: duckdb.DuckDBPyConnection) -> None:
    """Temp table `reach(record_key, reach_id)`: the records of one person that their own valid,
    non-junk identifiers connect. Identifier nodes are keyed per person, so a shared identifier
    (a household phone) never makes two persons' records reachable from each other."""
    con.execute(
        """
        create or replace temp table reach_edges as
        select
            dense_rank() over (order by r.record_key) - 1 as record_index,
            r.record_key,
            r.person_id,
            dense_rank() over (order by r.person_id, o.identifier_type, o.identifier_value) - 1 as ident_index
        from eval_records as r
        inner join eval_occurrences as o on o.record_key = r.record_key
        """
    )
    edges = con.execute("select record_index, ident_index from reach_edges").fetchnumpy()
    n_records = int(con.execute("select count(distinct record_index) from reach_edges").fetchall()[0][0])
    rec = np.asarray(edges["record_index"], dtype=np.int64)
    ident = np.asarray(edges["ident_index"], dtype=np.int64) + n_records
    size = n_records + (int(ident.max()) - n_records + 1 if len(ident) else 0)
    graph = coo_matrix((np.ones(len(rec), dtype=np.int8), (rec, ident)), shape=(size, size)).tocsr()
    _, labels = connected_components(graph, directed=False)
    con.register(
        "reach_labels", pa.table({"record_index": np.arange(n_records), "reach_id": labels[:n_records]})
    )
    con.execute(
        """
        create or replace temp table reach as
        select distinct reach_edges.record_key, reach_labels.reach_id
        from reach_edges inner join reach_labels on reach_labels.record_index = reach_edges.record_index
        """
    )


def evidence_groups(con: duckdb.DuckDBPyConnection) -> None:
    """Temp table `evidence(record_key, evidence_id)`: per person, the reach groups, with every reach
    group holding a named record (`eval_named`) merged into one group (evidence_id -1)."""
    con.execute(
        """
        create or replace temp table evidence as
        select
            reach.record_key,
            case
                when bool_or(eval_named.record_key is not null) over (partition by records.person_id, reach.reach_id)
                    then -1
                else reach.reach_id
            end as evidence_id
        from eval_records as records
        inner join reach using (record_key)
        left join eval_named using (record_key)
        """
    )


def pairwise_metrics(con: duckdb.DuckDBPyConnection) -> dict[str, Any]:
    """Needs temp views `eval_records(record_key, person_id, customer_id)`,
    `eval_occurrences(record_key, identifier_type, identifier_value)` (valid, non-junk identifiers)
    and `eval_named(record_key)` (records with a first and a last name)."""
    reach_components(con)
    evidence_groups(con)
    predicted = _pairs(_group_counts(con, "select count(*) as n from eval_records group by customer_id"))
    true = _pairs(_group_counts(con, "select count(*) as n from eval_records group by person_id"))
    correct = _pairs(
        _group_counts(con, "select count(*) as n from eval_records group by person_id, customer_id")
    )
    reachable_sql = "select count(*) as n from eval_records inner join reach using (record_key) group by person_id, reach_id"
    reachable = _pairs(_group_counts(con, reachable_sql))
    correct_reachable = _pairs(
        _group_counts(
            con,
            "select count(*) as n from eval_records inner join reach using (record_key) "
            "group by person_id, reach_id, customer_id",
        )
    )
    evidence_sql = "from eval_records inner join evidence using (record_key) group by person_id, evidence_id"
    evidence = _pairs(_group_counts(con, f"select count(*) as n {evidence_sql}"))
    correct_evidence = _pairs(_group_counts(con, f"select count(*) as n {evidence_sql}, customer_id"))
    precision = correct / predicted if predicted else 1.0
    recall = correct / true if true else 1.0
    recall_reachable = correct_reachable / reachable if reachable else 1.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    split_persons, merged_customers, largest = con.execute(
        """
        select
            (select count(*) from (select person_id from eval_records group by 1 having count(distinct customer_id) > 1)),
            (select count(*) from (select customer_id from eval_records group by 1 having count(distinct person_id) > 1)),
            (select max(n) from (select count(*) as n from eval_records group by customer_id))
        """
    ).fetchall()[0]
    return {
        "records": int(con.execute("select count(*) from eval_records").fetchall()[0][0]),
        "precision": round(precision, 6),
        "recall": round(recall, 6),
        "recall_reachable": round(recall_reachable, 6),
        "recall_ceiling": round(evidence / true if true else 1.0, 6),
        "recall_evidence": round(correct_evidence / evidence if evidence else 1.0, 6),
        "f1": round(f1, 6),
        "persons_split": int(split_persons),
        "customers_merging_persons": int(merged_customers),
        "largest_cluster_records": int(largest or 0),
    }
