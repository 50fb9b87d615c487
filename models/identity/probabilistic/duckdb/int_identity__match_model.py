"""The probabilistic matching model this build scores with (Splink on DuckDB): the kept version
when it still fits the data, else one trained on this build's person records and kept as a new
version (int_identity__match_model_kept says what is kept and the retrain policy;
identity_match_model_store keeps the versions; docs/identity.md, "When models are retrained").

One row per comparison level with its m and u probabilities and match weight, and the version on
every row; the first row carries the whole Splink model as JSON (int_identity__match_pairs scores
with it, `tessera review explain` draws its waterfall chart). No rows when there are too few person
records to train on (var identity_match_min_records). The logic lives in
orchestration/identity/matching.py.
"""

from orchestration.identity.matching import train_or_reuse


def model(dbt, session):
    dbt.config(materialized="table")
    features = dbt.ref("int_identity__match_features").to_arrow_table()
    kept = dbt.ref("int_identity__match_model_kept").to_arrow_table()
    return train_or_reuse(features, kept, min_records=int(dbt.config.get("min_records"))).table
