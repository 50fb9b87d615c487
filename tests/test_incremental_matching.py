"""Incremental probabilistic matching (issue #16): a build compares only the pairs that touch a new or
changed record (int_identity__match_candidates keeps the comparison vectors of the others) and weighs
every pair again in SQL from the kept model and this build's term frequencies.

A chain of three increments on the P3 world of tests/test_probabilistic.py (a few hundred person
records, its first build shared): new records that share a common surname and a postcode with old ones
(so the term frequencies, and the weights of old pairs, change), a changed and a removed record, and
more new records. After each increment the pairs equal Splink's own full scoring of that build's
records with the same model (weights and probabilities to 1e-9); after the chain, a rebuild with the
kept comparison state deleted (everything compared again) gives the same pairs, links and customers.
A forced retrain compares everything again under the new version. On Postgres (the matching step
between dbt invocations) the first build and one increment holding all three give the same pairs as
Splink and as DuckDB: the Postgres P3 world of tests/test_train_apart.py (tests/conftest.py,
p3_postgres_builds), which takes the increment after its own builds. And, Splink only, blocking "new
against all" finds exactly a full comparison's pairs of the new records.

The module runs in the xdist group of that Postgres world (postgres_p3), so one worker builds it once; the
DuckDB chain starts from a copy of the P3 world's first build, which one worker of the run makes
(tests/worlds.py, copy_of_built_world)."""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pytest

from orchestration.build.pipeline import build
from orchestration.identity.external import matching_vars
from orchestration.identity.matching import FEATURE_COLUMNS, model_from_table, predict
from orchestration.warehouse.registry import get_warehouse
from tests.parity import probabilistic_outcome
from tests.test_probabilistic import (
    P3_SHOP,
    P3_SHOP_MOVED,
    PROBABILISTIC_LAYER,
    _with_address,
    first_p3_world,
    world,
)
from tests.worlds import (
    crm_contact,
    dbt_unit_tests_run_once,
    shop_customer,
    ticket,
    world_settings,
    write_world,
)

# With the other readers of the Postgres P3 world (tests/conftest.py, p3_postgres_builds): one worker builds it.
pytestmark = pytest.mark.xdist_group("postgres_p3")

TOLERANCE = 1e-9

# Increment 1: new records sharing a common surname (Smith) and the postcode of old ones, and a new
# duplicate of an old person (a typo in her first name), so old pairs' term frequencies change.
NEW_1 = {
    "shop.customers": [
        _with_address(shop_customer(50001, "Thomas", "Smith", "tom.smith@shop.net", day=20), "3 Mill Lane", "M14 5TQ"),
        _with_address(shop_customer(50002, "Jack", "Smith", None, day=20), "9 Mill Lane", "M14 5TQ"),
        _with_address(shop_customer(50003, "Katherin", "Oduya", None, day=21), "7 Larch Crescent", "LS6 2AB"),
    ],
}  # fmt: skip
# Increment 2 changes a record (P3's shop account moves) and removes one (a background shop account).
REMOVED_SHOP_ID = 20010
# Increment 3: more new records on the same surnames and postcodes, from another source.
NEW_3 = {
    "crm.contacts": [
        _with_address(crm_contact("003N1", "Grace", "Smith", "grace.s@corp.org", day=22), "5 Mill Lane", "M14 5TQ"),
    ],
    "support.tickets": [ticket(40009, "Thomas Smith", "tom.smith@shop.net", None, day=23)],
}  # fmt: skip


# The records each increment adds or changes.
TOUCHED = {
    1: {f"shop:customers:{r['customer_id']}" for r in NEW_1["shop.customers"]},
    2: {"shop:customers:30003"},
    3: {"crm:contacts:003N1", "support:tickets:40009"},
}


def _increment(step: int) -> dict[str, list[dict]]:
    rows = world(P3_SHOP if step < 2 else P3_SHOP_MOVED)
    if step >= 2:
        rows["shop.customers"] = [r for r in rows["shop.customers"] if r["customer_id"] != REMOVED_SHOP_ID]
    for added, since in ((NEW_1, 1), (NEW_3, 3)):
        if step >= since:
            for table, new in added.items():
                rows[table] = [*rows.get(table, []), *new]
    return rows


def _rows(settings: Any, sql: str) -> list[tuple]:
    return [tuple(row) for row in get_warehouse(settings).query_published(sql)]


def _build(settings: Any, step: int, retrain: bool = False) -> None:
    write_world(settings.data_dir, _increment(step))
    with pytest.MonkeyPatch.context() as monkeypatch:
        if retrain:
            monkeypatch.setenv("TESSERA_IDENTITY_RETRAIN", "true")
        with dbt_unit_tests_run_once():
            result = build(settings, select=PROBABILISTIC_LAYER)
    assert result.published, result.audit.failures


PAIR_COLUMNS = ["pair_id", "unique_id_l", "unique_id_r", "names_compatible", "has_independent_evidence"]
LEVELS = ["first_name", "last_name", "date_of_birth", "email", "phone", "street", "postcode"]


def _pairs(settings: Any) -> dict[str, dict[str, Any]]:
    columns = [
        *PAIR_COLUMNS,
        "match_weight",
        "match_probability",
        *(f"{c}_level" for c in LEVELS),
        *(f"{c}_match_weight" for c in LEVELS),
    ]
    rows = _rows(settings, f"select {', '.join(columns)} from int_identity__match_pairs")
    return {row[0]: dict(zip(columns, row, strict=True)) for row in rows}


def _splink_pairs(settings: Any) -> dict[str, dict[str, Any]]:
    """Splink's own scoring of every blocked pair of the published features, with the published model."""
    features = pa.Table.from_pylist(
        [
            dict(zip(FEATURE_COLUMNS, row, strict=True))
            for row in _rows(
                settings, f"select {', '.join(FEATURE_COLUMNS)} from int_identity__match_features"
            )
        ]
    )
    model_rows = _rows(
        settings, "select model_json from int_identity__match_model where model_json is not null"
    )
    model = model_from_table(pa.table({"model_json": [model_rows[0][0]]}))
    pairs = predict(features, model, matching_vars().review_threshold).pairs.to_pylist()
    return {row["pair_id"]: row for row in pairs}


def assert_same_pairs(got: dict[str, dict[str, Any]], expected: dict[str, dict[str, Any]]) -> None:
    assert sorted(got) == sorted(expected)
    for key, row in expected.items():
        mine = got[key]
        for column in [*PAIR_COLUMNS, *(f"{c}_level" for c in LEVELS)]:
            assert mine[column] == row[column], (key, column, mine[column], row[column])
        for column in ["match_weight", "match_probability", *(f"{c}_match_weight" for c in LEVELS)]:
            assert abs(mine[column] - row[column]) <= TOLERANCE, (key, column, mine[column], row[column])


def _candidates(settings: Any) -> list[tuple]:
    return _rows(settings, "select * from int_identity__match_candidates order by pair_id")


def _keyed(settings: Any) -> dict[str, str]:
    """{unique_id: the build that keyed it} of int_identity__match_record_keys."""
    return dict(_rows(settings, "select unique_id, build_id from int_identity__match_record_keys"))  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def chain(tmp_path_factory) -> dict[str, Any]:
    """The P3 world's first build, then three increments; each build's pairs, and Splink's own."""
    settings = first_p3_world(tmp_path_factory, tmp_path_factory.mktemp("incremental_matching"))
    seen: dict[str, Any] = {
        "settings": settings, "pairs": [], "splink": [], "versions": [], "compared": [], "keyed": []
    }  # fmt: skip
    for step in (0, 1, 2, 3):
        if step:
            _build(settings, step)
        else:
            seen["candidates_0"] = _candidates(settings)
        seen["pairs"].append(_pairs(settings))
        seen["splink"].append(_splink_pairs(settings))
        seen["versions"].append(
            _rows(settings, "select distinct model_version from int_identity__match_candidates")
        )
        seen["compared"].append(
            _rows(settings, "select unique_id_l, unique_id_r from int_identity__match_compared order by 1, 2")
        )
        seen["keyed"].append(_keyed(settings))
    seen["records"] = {
        pair: json.loads(record)
        for pair, record in _rows(
            settings, "select pair_id, splink_record from int_identity__match_pair_records"
        )
    }
    seen["outcome"] = probabilistic_outcome(settings)
    seen["candidates"] = _candidates(settings)
    return seen


def test_each_increment_weighs_every_pair_as_splink_would(chain):
    """Weights to 1e-9 against Splink scoring all pairs of that build's records with the same model,
    term frequencies included: increment 1's new Smiths at an old postcode change old pairs' weights."""
    for pairs, splink in zip(chain["pairs"], chain["splink"], strict=True):
        assert_same_pairs(pairs, splink)
    # The same model throughout (no retrain), and the first increment moved old pairs' weights.
    assert all(version == chain["versions"][0] for version in chain["versions"])
    before, after = chain["pairs"][0], chain["pairs"][1]
    moved = [
        key for key in before if key in after and before[key]["match_weight"] != after[key]["match_weight"]
    ]
    assert moved, "new records sharing a surname and a postcode change the weights of old pairs"
    assert len(after) > len(before)
    # Increment 2: the moved and the removed records' old pairs are gone.
    removed = f"shop:customers:{REMOVED_SHOP_ID}"
    assert any(removed in (row["unique_id_l"], row["unique_id_r"]) for row in chain["pairs"][1].values())
    assert not any(removed in (row["unique_id_l"], row["unique_id_r"]) for row in chain["pairs"][2].values())


def test_the_waterfall_record_of_every_pair_is_splinks_own(chain):
    """The record `tessera review explain --html` charts, built on demand by a view: for every weighed
    pair of the last increment, the comparison vector, each level's weight and term-frequency adjustment
    and both records' compared values are what Splink's own predict writes for the pair."""
    records, splink = chain["records"], chain["splink"][-1]
    assert sorted(records) == sorted(chain["pairs"][-1]) == sorted(splink)
    adjusted = 0
    for pair, expected in splink.items():
        mine, theirs = records[pair], json.loads(expected["splink_record"])
        charted = [f"gamma_{c}" for c in LEVELS] + [
            f"mw_tf_adj_{c}" for c in LEVELS if f"mw_tf_adj_{c}" in theirs
        ]
        values = [key for key in theirs if key.endswith(("_l", "_r")) and key in mine]
        assert charted and len(values) >= 8, (pair, sorted(theirs))
        for key in [*charted, *values, "match_weight", "match_probability"]:
            if isinstance(theirs[key], float):
                assert math.isclose(mine[key], theirs[key], abs_tol=TOLERANCE), (
                    pair,
                    key,
                    mine[key],
                    theirs[key],
                )
            else:
                assert mine[key] == theirs[key], (pair, key, mine[key], theirs[key])
        adjusted += any(theirs[key] for key in charted if key.startswith("mw_tf_adj_"))
    assert adjusted, "no pair had a term-frequency adjustment: the adjustments were not checked"


def test_an_increment_compares_only_the_pairs_of_new_and_changed_records(chain):
    """The first build compares every pair; each increment only pairs touching a record it added or
    changed (P3's shop account moved in increment 2), never two records both builds hold unchanged."""
    assert len(chain["compared"][0]) == len(chain["candidates_0"])
    for step, records in TOUCHED.items():
        compared = chain["compared"][step]
        assert compared, step
        assert all(left in records or right in records for left, right in compared), (step, compared)


def test_an_increment_keys_only_its_new_and_changed_records(chain):
    """int_identity__match_record_keys keys the records an increment added or changed, and no other: every
    other record keeps the build that keyed it; a removed record's keys go; one row per person record."""
    settings = chain["settings"]
    for step, records in TOUCHED.items():
        before, after = chain["keyed"][step - 1], chain["keyed"][step]
        assert {record for record, build_id in after.items() if before.get(record) != build_id} == records
    assert f"shop:customers:{REMOVED_SHOP_ID}" in chain["keyed"][1]
    assert f"shop:customers:{REMOVED_SHOP_ID}" not in chain["keyed"][2]
    person_records = _rows(
        settings,
        "select source_name || ':' || table_name || ':' || record_id from int_identity__person_records",
    )
    assert sorted(chain["keyed"][3]) == sorted(row[0] for row in person_records)


def test_comparing_everything_again_gives_the_same_result(chain, tmp_path):
    """The chain's final world rebuilt with its comparison state deleted (as after a full refresh that
    kept the model): the same candidate pairs, match pairs, links, edges and customers."""
    copy = tmp_path / "everything_again"
    shutil.copytree(Path(chain["settings"].published_db).parents[1], copy)
    settings = world_settings(copy)
    con = duckdb.connect(str(settings.published_db))
    try:
        for table in ("int_identity__match_candidates", "int_identity__match_scored_features"):
            con.execute(f"drop table {table}")
    finally:
        con.close()
    _build(settings, 3)
    assert _candidates(settings) == chain["candidates"]
    assert_same_pairs(_pairs(settings), chain["pairs"][3])
    outcome = probabilistic_outcome(settings)
    for part in ("links", "edges", "review_queue", "customers"):
        assert outcome[part] == chain["outcome"][part], part


def test_a_retrained_model_compares_everything_again(chain, tmp_path):
    copy = tmp_path / "retrained"
    shutil.copytree(Path(chain["settings"].published_db).parents[1], copy)
    settings = world_settings(copy)
    _build(settings, 3, retrain=True)
    versions = _rows(settings, "select distinct model_version from int_identity__match_candidates")
    assert len(versions) == 1 and versions[0][0] > chain["versions"][-1][0][0]
    assert_same_pairs(_pairs(settings), _splink_pairs(settings))


def postgres_chain_step(settings: Any) -> dict[str, Any]:
    """What the Postgres chain keeps of a build: its pairs, Splink's own and the pairs it compared."""
    return {
        "pairs": _pairs(settings),
        "splink": _splink_pairs(settings),
        "compared": _rows(
            settings, "select unique_id_l, unique_id_r from int_identity__match_compared order by 1, 2"
        ),
    }


def postgres_increment(settings: Any) -> dict[str, Any]:
    """The chain's three increments as one build of the Postgres P3 world: new records that move old pairs'
    weights, a changed and a removed record (the pre-hook's delete on Postgres), and more new records."""
    _build(settings, 3)
    return postgres_chain_step(settings)


@pytest.fixture(scope="module")
def postgres_chain(p3_postgres_builds) -> dict[str, Any]:
    """The same first build on Postgres, where the matching step runs between two dbt invocations
    (orchestration/identity/external.py) and the portable models copy its tables, then the chain's three
    increments as one (postgres_increment). The first build is tests/test_train_apart.py's Postgres world
    (tests/conftest.py, p3_postgres_builds), which takes the increment after its own builds: its first
    build's pairs, and the increment's."""
    _, _, steps = p3_postgres_builds
    return {key: [step[key] for step in steps] for key in ("pairs", "splink", "compared")}


def test_postgres_increments_weigh_every_pair_as_splink_and_duckdb_do(postgres_chain, chain):
    for pairs, splink in zip(postgres_chain["pairs"], postgres_chain["splink"], strict=True):
        assert_same_pairs(pairs, splink)
    # The same records and model: the same pairs, weights and comparisons as the DuckDB chain.
    for pg_pairs, duck_pairs in zip(
        postgres_chain["pairs"], (chain["pairs"][0], chain["pairs"][3]), strict=True
    ):
        assert_same_pairs(pg_pairs, duck_pairs)
    first, increment = postgres_chain["compared"]
    assert first == chain["compared"][0]
    # The increment compared exactly the final candidate pairs that touch a record one of the three added
    # or changed (the same candidates as DuckDB's, by the assertion above).
    touched = set().union(*TOUCHED.values())
    expected = sorted(
        (row[1], row[2]) for row in chain["candidates"] if row[1] in touched or row[2] in touched
    )
    assert increment and increment == expected


def test_postgres_increment_keys_only_its_new_and_changed_records(p3_postgres_builds):
    """On Postgres too, the increment (the chain's three as one build) keys only the records they added or
    changed: the rest keep the build that keyed them before."""
    settings = p3_postgres_builds[0]
    by_build: dict[str, set[str]] = {}
    for record, build_id in _rows(
        settings, "select unique_id, build_id from int_identity__match_record_keys"
    ):
        by_build.setdefault(build_id, set()).add(record)
    assert len(by_build) == 2
    assert min(by_build.values(), key=len) == set().union(*TOUCHED.values())
    assert f"shop:customers:{REMOVED_SHOP_ID}" not in set().union(*by_build.values())


def test_blocking_new_records_against_all_finds_exactly_their_pairs() -> None:
    """Splink only (no dbt): on the hand-made list of tests/test_matching_training.py, the pairs that
    blocking "new against all" compares are exactly those of a full comparison that touch a new record,
    with the same comparison vectors, under every blocking rule."""
    from orchestration.identity.matching import candidate_pairs, train
    from tests.test_matching_training import build_world

    features, _, _ = build_world()
    trained = train(features)
    assert trained is not None
    everything = candidate_pairs(features, trained.model, 1, None).pairs.to_pylist()
    ids = sorted(features.column("unique_id").to_pylist())
    new = set(ids[::7])  # every seventh record is new: new pairs with old and with each other
    restricted = candidate_pairs(features, trained.model, 1, sorted(new)).pairs.to_pylist()
    expected = sorted(
        (row for row in everything if row["unique_id_l"] in new or row["unique_id_r"] in new),
        key=lambda row: row["pair_id"],
    )
    assert expected and len(expected) < len(everything)
    assert sorted(restricted, key=lambda row: row["pair_id"]) == expected
