"""Records that probably belong to the subject without being linked to them (issue 14).

An erase or an access export by one identifier reaches the linked identity cluster only. Probabilistic
matching also scores pairs of person records that it did not link: those waiting in the review queue
(identity_review_queue), and every scored candidate pair at or above the review threshold
(int_identity__match_pairs, var identity_match_review_threshold). A pair with one record in the cluster and
the other outside it names a record that probably belongs to the same person: an old loyalty list under the
same name and address, say. Both requests list them (source, table, record id, customer, probability), and
the person handling the request may extend it to them in one step (`--include-probable`), which adds each
listed record's customer cluster to the request.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from orchestration.privacy.cluster import Cluster, find_cluster


@dataclass(frozen=True)
class ProbableRecord:
    source_name: str
    table_name: str
    record_id: str
    customer_id: str | None
    match_probability: float
    pair_id: str
    in_review_queue: bool

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def _quote(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _tables(con: Any) -> set[str]:
    return {
        name
        for (name,) in con.execute(
            "select table_name from information_schema.tables where table_schema = current_schema()"
        ).fetchall()
    }


def probable_records(con: Any, cluster: Cluster, review_threshold: float) -> list[ProbableRecord]:
    """The records outside `cluster` that a scored pair at or above `review_threshold`, or a review-queue
    pair, ties to one of its records; best first. `con` reads the published models (DuckDB, or the
    Postgres session with the same execute())."""
    tables = _tables(con)
    if not cluster.customer_ids or "int_identity__match_pairs" not in tables:
        return []
    placed = "customer_source_records" if "customer_source_records" in tables else None
    if placed is None:
        return []
    ids = ", ".join(_quote(c) for c in cluster.customer_ids)
    queue = (
        "select pair_id from identity_review_queue"
        if "identity_review_queue" in tables
        else "select cast(null as varchar) as pair_id where false"
    )
    sides = []
    for mine, other in (("l", "r"), ("r", "l")):
        sides.append(
            f"""
            select
                p.pair_id,
                p.source_name_{other} as source_name,
                p.table_name_{other} as table_name,
                cast(p.record_id_{other} as varchar) as record_id,
                p.match_probability
            from int_identity__match_pairs as p
            inner join {placed} as mine
                on mine.source_name = p.source_name_{mine}
                and mine.table_name = p.table_name_{mine}
                and cast(mine.record_id as varchar) = cast(p.record_id_{mine} as varchar)
                and mine.customer_id in ({ids})
            """
        )
    rows = con.execute(
        f"""
        with candidates as ({" union all ".join(sides)}),
        queued as ({queue})
        select
            c.source_name,
            c.table_name,
            c.record_id,
            max(theirs.customer_id) as customer_id,
            max(c.match_probability) as match_probability,
            min(c.pair_id) as pair_id,
            max(case when c.pair_id in (select pair_id from queued) then 1 else 0 end) as in_review_queue
        from candidates as c
        left join {placed} as theirs
            on theirs.source_name = c.source_name
            and theirs.table_name = c.table_name
            and cast(theirs.record_id as varchar) = c.record_id
        where c.match_probability >= {float(review_threshold)} or c.pair_id in (select pair_id from queued)
        group by c.source_name, c.table_name, c.record_id
        having max(case when theirs.customer_id in ({ids}) then 1 else 0 end) = 0
        order by max(c.match_probability) desc, c.source_name, c.table_name, c.record_id
        """
    ).fetchall()
    return [
        ProbableRecord(
            str(source),
            str(table),
            str(record),
            None if customer is None else str(customer),
            float(probability or 0.0),
            str(pair),
            bool(queued),
        )
        for source, table, record, customer, probability, pair, queued in rows
    ]


def extend_cluster(con: Any, cluster: Cluster, records: list[ProbableRecord]) -> list[str]:
    """Add the customer clusters of `records` to `cluster` (in place); returns the customer ids added. A
    record placed in no customer adds nothing here (its identifiers are not known to identity); it is
    listed, and reached through its own identifiers if the request names them."""
    added: list[str] = []
    for record in records:
        if record.customer_id is None or record.customer_id in cluster.customer_ids:
            continue
        row = con.execute(
            "select identifier_type, identifier_value from customer_identifiers "
            f"where customer_id = {_quote(record.customer_id)} order by 1, 2 limit 1"
        ).fetchone()
        if row is None:
            continue
        theirs = find_cluster(con, str(row[0]), str(row[1]))
        new = [c for c in theirs.customer_ids if c not in cluster.customer_ids]
        added.extend(new)
        cluster.customer_ids = sorted(set(cluster.customer_ids) | set(theirs.customer_ids))
        cluster.identifiers = sorted(set(cluster.identifiers) | set(theirs.identifiers))
        cluster.names = sorted(set(cluster.names) | set(theirs.names))
    return added
