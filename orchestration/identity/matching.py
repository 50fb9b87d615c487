"""Probabilistic identity matching: a Fellegi-Sunter model (Splink on DuckDB), trained on every build.

The dbt Python models in models/identity/probabilistic/duckdb/ call `train` and `predict`; the CLI
(`tessera review explain`) and `tessera bench probabilistic` use the same functions. The model is
configured from the standard person-record columns only (int_identity__match_features), never from
per-dataset weights: m is estimated by expectation maximisation on pairs that share an email or a
phone, u by random sampling, the prior from those same exact-identifier rules, and exact matches on
names, emails, streets and postcodes are adjusted for how common the value is.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import time
from dataclasses import dataclass, field
from typing import Any

import duckdb
import pyarrow as pa

log = logging.getLogger(__name__)

# The comparisons, in the order Splink scores them; models/identity/probabilistic/*.sql list the same.
COMPARISONS = ["first_name", "last_name", "date_of_birth", "email", "phone", "street", "postcode"]

FEATURE_COLUMNS = [
    "unique_id",
    "source_name",
    "table_name",
    "record_id",
    "first_name_key",
    "last_name_key",
    "first_name_formal",
    "last_name_formal",
    "date_of_birth",
    "email",
    "email_user",
    "phone",
    "street_key",
    "postcode",
    "city_key",
    "country",
]

# The share of true pairs the exact-identifier rules find, used only to estimate the prior (the
# probability that two random records match). Splink's documented default for this method.
EXACT_RULES_RECALL = 0.8
U_MAX_PAIRS = 2e6
SEED = 42
# Below this many person records, m and u cannot be estimated from the data: the stage is skipped.
MIN_RECORDS = 500

PAIR_SCHEMA = pa.schema(
    [
        ("pair_id", pa.string()),
        ("unique_id_l", pa.string()),
        ("unique_id_r", pa.string()),
        ("source_name_l", pa.string()),
        ("table_name_l", pa.string()),
        ("record_id_l", pa.string()),
        ("source_name_r", pa.string()),
        ("table_name_r", pa.string()),
        ("record_id_r", pa.string()),
        ("match_weight", pa.float64()),
        ("match_probability", pa.float64()),
        ("names_compatible", pa.bool_()),
        ("has_independent_evidence", pa.bool_()),
        *[(f"{c}_level", pa.string()) for c in COMPARISONS],
        *[(f"{c}_match_weight", pa.float64()) for c in COMPARISONS],
        ("splink_record", pa.string()),
    ]
)

MODEL_SCHEMA = pa.schema(
    [
        ("comparison_name", pa.string()),
        ("comparison_vector_value", pa.int64()),
        ("level_label", pa.string()),
        ("m_probability", pa.float64()),
        ("u_probability", pa.float64()),
        ("match_weight", pa.float64()),
        ("has_tf_adjustments", pa.bool_()),
        ("records", pa.int64()),
        ("training_seconds", pa.float64()),
        ("model_json", pa.string()),
    ]
)


def pair_id(unique_id_l: str, unique_id_r: str) -> str:
    """A short, stable id for a pair of records (order-independent)."""
    low, high = sorted((unique_id_l, unique_id_r))
    return "pair_" + hashlib.md5(f"{low}|{high}".encode()).hexdigest()[:16]


def swapped_names_sql() -> str:
    """Splink SQL for "the names are swapped": a swap moves both names ("Olga Ruman" and "Ruman
    Olga", "William Gates" and "Gates Bill", or "Ruman" with no other name), unlike "Ruman Olga"
    and "Klara Ruman", who only share the surname. Names in first-name position are compared by
    their formal name (nicknames mapped)."""
    return (
        '(("first_name_key_l" = "last_name_key_r"'
        ' and ("last_name_key_l" is null or "last_name_formal_l" = "first_name_formal_r"))'
        ' or ("first_name_key_r" = "last_name_key_l"'
        ' and ("last_name_key_r" is null or "last_name_formal_r" = "first_name_formal_l")))'
    )


def _comparisons() -> list[Any]:
    import splink.comparison_level_library as cll
    import splink.comparison_library as cl

    def swapped() -> Any:
        return cll.CustomLevel(swapped_names_sql(), label_for_charts="first and last name swapped")

    return [
        cl.CustomComparison(
            output_column_name="first_name",
            comparison_levels=[
                cll.NullLevel("first_name_key"),
                cll.ExactMatchLevel("first_name_key", term_frequency_adjustments=True),
                cll.ExactMatchLevel("first_name_formal").configure(
                    label_for_charts="same formal name (nickname)"
                ),
                swapped(),
                cll.JaroWinklerLevel("first_name_key", 0.92),
                cll.JaroWinklerLevel("first_name_key", 0.80),
                cll.ElseLevel(),
            ],
        ),
        cl.CustomComparison(
            output_column_name="last_name",
            comparison_levels=[
                cll.NullLevel("last_name_key"),
                cll.ExactMatchLevel("last_name_key", term_frequency_adjustments=True),
                swapped(),
                cll.JaroWinklerLevel("last_name_key", 0.92),
                cll.JaroWinklerLevel("last_name_key", 0.80),
                cll.ElseLevel(),
            ],
        ),
        cl.DateOfBirthComparison(
            "date_of_birth",
            input_is_string=False,
            datetime_thresholds=[1, 1],
            datetime_metrics=["month", "year"],
        ),
        cl.CustomComparison(
            output_column_name="email",
            comparison_levels=[
                cll.NullLevel("email"),
                cll.ExactMatchLevel("email", term_frequency_adjustments=True),
                cll.CustomLevel(
                    'damerau_levenshtein("email_l", "email_r") <= 1'
                    " and regexp_replace(\"email_l\", '[^0-9]', '', 'g')"
                    " = regexp_replace(\"email_r\", '[^0-9]', '', 'g')",
                    label_for_charts="one typo in the email (same digits)",
                ),
                cll.ElseLevel(),
            ],
        ),
        cl.CustomComparison(
            output_column_name="phone",
            comparison_levels=[
                cll.NullLevel("phone"),
                cll.ExactMatchLevel("phone"),
                cll.LevenshteinLevel("phone", 1),
                cll.ElseLevel(),
            ],
        ),
        cl.CustomComparison(
            output_column_name="street",
            comparison_levels=[
                cll.NullLevel("street_key"),
                cll.ExactMatchLevel("street_key", term_frequency_adjustments=True),
                cll.JaroWinklerLevel("street_key", 0.90),
                cll.ElseLevel(),
            ],
        ),
        cl.CustomComparison(
            output_column_name="postcode",
            comparison_levels=[
                cll.NullLevel("postcode"),
                cll.ExactMatchLevel("postcode", term_frequency_adjustments=True),
                cll.LevenshteinLevel("postcode", 1),
                cll.ElseLevel(),
            ],
        ),
    ]


def _blocking_rules() -> list[Any]:
    """Which pairs are scored. Every rule pairs records on something rarer than a common first and
    last name (the pairs that dominate time and memory at 1M records): the email's user part
    (catches domain typos), a postcode with either name, a date of birth with either name, a phone,
    and the full name within one city or with the email's first letters (records without address)."""
    from splink import block_on

    return [
        block_on("email_user"),
        block_on("phone"),
        block_on("postcode", "last_name_key"),
        block_on("postcode", "first_name_formal"),
        block_on("date_of_birth", "last_name_key"),
        block_on("date_of_birth", "first_name_formal"),
        block_on("first_name_formal", "last_name_key", "city_key"),
        block_on("first_name_formal", "last_name_key", "substr(email_user, 1, 3)"),
    ]


def settings(model: dict[str, Any] | None = None) -> Any:
    from splink import SettingsCreator

    if model is not None:
        return SettingsCreator.from_path_or_dict(model)
    return SettingsCreator(
        link_type="dedupe_only",
        unique_id_column_name="unique_id",
        comparisons=_comparisons(),
        blocking_rules_to_generate_predictions=_blocking_rules(),
        additional_columns_to_retain=["source_name", "table_name", "record_id"],
        retain_matching_columns=True,
        retain_intermediate_calculation_columns=True,
        probability_two_random_records_match=1e-5,
    )


def _connection() -> duckdb.DuckDBPyConnection:
    # Splink's working tables live in a private in-memory database, never in the warehouse file.
    con = duckdb.connect()
    con.execute("set preserve_insertion_order = false")
    return con


def _linker(features: pa.Table, model: dict[str, Any] | None, con: duckdb.DuckDBPyConnection) -> Any:
    from splink import DuckDBAPI, Linker

    db_api = DuckDBAPI(connection=con)
    # In unique_id order: the same records give the same model and pairs whichever warehouse read them
    # (a table's scan order is not part of its contents, and Splink's sums follow the input order).
    ordered = features.select(FEATURE_COLUMNS).sort_by("unique_id")
    frame = db_api.register(ordered, dataset_display_name="person_records")
    return Linker(frame, settings(model), log_level=logging.ERROR)


@dataclass
class TrainedModel:
    model: dict[str, Any]
    records: int
    seconds: float
    steps: dict[str, float] = field(default_factory=dict)


def train(
    features: pa.Table, seed: int = SEED, u_max_pairs: float = U_MAX_PAIRS, min_records: int = MIN_RECORDS
) -> TrainedModel | None:
    """Estimate the model from the data: the prior from exact-identifier rules, u by random
    sampling, m by expectation maximisation on pairs sharing an email, then a phone.

    With fewer than `min_records` person records there is too little data to estimate m and u,
    and no model is trained (None): the stage links nothing rather than guess."""
    from splink import block_on

    if features.num_rows < min_records:
        log.warning(
            "probabilistic matching skipped: %d person records, fewer than the %d needed to train",
            features.num_rows,
            min_records,
        )
        return None
    started = time.perf_counter()
    steps: dict[str, float] = {}
    con = _connection()
    try:
        linker = _linker(features, None, con)
        mark = time.perf_counter()
        try:
            linker.training.estimate_probability_two_random_records_match(
                [block_on("email"), block_on("phone")], recall=EXACT_RULES_RECALL
            )
        except Exception as error:  # no exact-identifier pairs at all: keep the default prior
            log.warning("prior not estimated (%s); keeping the default", error)
        steps["prior"] = time.perf_counter() - mark
        mark = time.perf_counter()
        linker.training.estimate_u_using_random_sampling(max_pairs=u_max_pairs, seed=seed)
        steps["u_random_sampling"] = time.perf_counter() - mark
        for name, rule in (("em_email", block_on("email")), ("em_phone", block_on("phone"))):
            mark = time.perf_counter()
            try:
                linker.training.estimate_parameters_using_expectation_maximisation(
                    rule, fix_probability_two_random_records_match=True
                )
            except Exception as error:  # too few pairs under this rule: the other session still trains
                log.warning("EM session %s skipped: %s", name, error)
            steps[name] = time.perf_counter() - mark
        model = linker.misc.save_model_to_json()
    finally:
        con.close()
    return TrainedModel(model, features.num_rows, time.perf_counter() - started, steps)


def model_table(trained: TrainedModel | None) -> pa.Table:
    """One row per comparison level with its m, u and match weight; the model JSON rides along.
    No rows when no model was trained."""
    rows: list[dict[str, Any]] = []
    if trained is None:
        return MODEL_SCHEMA.empty_table()
    model_json = json.dumps(trained.model)
    for comparison in trained.model.get("comparisons", []):
        levels = comparison.get("comparison_levels", [])
        non_null = [level for level in levels if not level.get("is_null_level")]
        for position, level in enumerate(levels):
            vector_value = -1 if level.get("is_null_level") else len(non_null) - 1 - non_null.index(level)
            m, u = level.get("m_probability"), level.get("u_probability")
            weight = math.log2(m / u) if m and u else None
            rows.append(
                {
                    "comparison_name": comparison.get("output_column_name"),
                    "comparison_vector_value": vector_value,
                    "level_label": level.get("label_for_charts") or level.get("sql_condition"),
                    "m_probability": m,
                    "u_probability": u,
                    "match_weight": weight,
                    "has_tf_adjustments": bool(level.get("tf_adjustment_column")),
                    "records": trained.records,
                    "training_seconds": round(trained.seconds, 3),
                    "model_json": model_json if position == 0 and not rows else None,
                }
            )
    return pa.Table.from_pylist(rows, schema=MODEL_SCHEMA)


def model_from_table(table: pa.Table) -> dict[str, Any] | None:
    """The Splink model stored in int_identity__match_model, or None when none was trained."""
    for value in table.column("model_json").to_pylist():
        if value:
            return dict(json.loads(value))
    return None


def _levels(model: dict[str, Any]) -> dict[str, dict[int, str]]:
    labels: dict[str, dict[int, str]] = {}
    for comparison in model.get("comparisons", []):
        levels = comparison.get("comparison_levels", [])
        non_null = [level for level in levels if not level.get("is_null_level")]
        by_value = {-1: "null"}
        for i, level in enumerate(non_null):
            by_value[len(non_null) - 1 - i] = level.get("label_for_charts") or level.get("sql_condition")
        labels[comparison["output_column_name"]] = by_value
    return labels


@dataclass
class Prediction:
    pairs: pa.Table
    seconds: float
    scored_pairs: int


def predict(features: pa.Table, model: dict[str, Any] | None, threshold: float) -> Prediction:
    """Score the blocked pairs and keep those at or above `threshold`, each with its breakdown."""
    started = time.perf_counter()
    if model is None or features.num_rows < 2:
        return Prediction(PAIR_SCHEMA.empty_table(), 0.0, 0)
    con = _connection()
    try:
        linker = _linker(features, model, con)
        predictions = linker.inference.predict(threshold_match_probability=threshold)
        name = predictions.physical_name
        scored = int(con.execute(f"select count(*) from {name}").fetchall()[0][0])
        gamma = {c: f"gamma_{c}" for c in COMPARISONS}
        present = {row[0] for row in con.execute(f"describe {name}").fetchall()}
        weights = {
            c: f"mw_{c}" + (f" + coalesce(mw_tf_adj_{c}, 0)" if f"mw_tf_adj_{c}" in present else "")
            for c in COMPARISONS
        }
        table = con.sql(
            f"""
            select
                unique_id_l, unique_id_r, source_name_l, table_name_l, record_id_l,
                source_name_r, table_name_r, record_id_r, match_weight, match_probability,
                {", ".join(f"{gamma[c]} as {c}_gamma" for c in COMPARISONS)},
                {", ".join(f"{weights[c]} as {c}_match_weight" for c in COMPARISONS)},
                to_json(p)::varchar as splink_record
            from {name} as p
            """
        ).to_arrow_table()
    finally:
        con.close()
    labels = _levels(model)
    gammas = {c: table.column(f"{c}_gamma").to_pylist() for c in COMPARISONS}
    ids_l = table.column("unique_id_l").to_pylist()
    ids_r = table.column("unique_id_r").to_pylist()
    columns: dict[str, Any] = {
        "pair_id": [pair_id(a, b) for a, b in zip(ids_l, ids_r, strict=False)],
        **{
            name: table.column(name)
            for name in (
                "unique_id_l",
                "unique_id_r",
                "source_name_l",
                "table_name_l",
                "record_id_l",
                "source_name_r",
                "table_name_r",
                "record_id_r",
                "match_weight",
                "match_probability",
            )
        },
        "names_compatible": names_compatible(gammas),
        "has_independent_evidence": independent_evidence(gammas),
        **{f"{c}_level": [labels[c].get(g, str(g)) for g in gammas[c]] for c in COMPARISONS},
        **{f"{c}_match_weight": table.column(f"{c}_match_weight") for c in COMPARISONS},
        "splink_record": table.column("splink_record"),
    }
    pairs = pa.table(columns).cast(PAIR_SCHEMA)
    return Prediction(pairs, time.perf_counter() - started, scored)


def names_compatible(gammas: dict[str, list[int]]) -> list[bool]:
    """The name guard for probabilistic links, like the name-conflict guard on shared identifiers:
    two records may be one person only when their first names agree (exactly, through a nickname,
    swapped with the last name, or within a typo), and dates of birth, when both are given, are
    within a year, and phones, when both are given, agree (but for one digit). Household members
    share an address, a phone and a surname, and a parent may share a first name with a child; this
    keeps them apart.
    First-name levels: 5 exact, 4 nickname, 3 swapped, 2 JW ≥ 0.92, 1 JW ≥ 0.80, 0 else, -1 null.
    Date of birth levels: 0 is more than a year apart. Phone levels: 0 is different numbers."""
    first = gammas["first_name"]
    dob = gammas["date_of_birth"]
    phone = gammas["phone"]
    return [f >= 2 and d != 0 and p != 0 for f, d, p in zip(first, dob, phone, strict=True)]


def independent_evidence(gammas: dict[str, list[int]]) -> list[bool]:
    """Whether a pair agrees on something besides the name and the email: the street or postcode,
    the phone (exactly or but for one digit), or the date of birth (within a month). Email
    addresses are mostly made from names (anna.nowak@…), so a similar email next to an equal name
    is not independent evidence, and Fellegi-Sunter would count the name twice; such pairs wait
    for review instead of linking on their own. Levels: street 2 exact; postcode 2 exact; phone
    2 exact, 1 one digit; date of birth 4 exact, 3 one typo, 2 within a month."""
    return [
        street == 2 or postcode == 2 or phone >= 1 or dob >= 2
        for street, postcode, phone, dob in zip(
            gammas["street"], gammas["postcode"], gammas["phone"], gammas["date_of_birth"], strict=True
        )
    ]


def waterfall_html(model: dict[str, Any], splink_record: dict[str, Any]) -> str:
    """Splink's waterfall chart of one scored pair, as a standalone HTML page (libraries inlined)."""
    from splink.internals.charts import WaterfallChart
    from splink.internals.waterfall_chart import records_to_waterfall_data

    settings_obj = settings(model).get_settings("duckdb")
    data = records_to_waterfall_data([splink_record], settings_obj, hide_details=False)
    return str(WaterfallChart(data, filter_nulls=False).to_html(inline=True))
