"""The probabilistic matching model, trained on this build's person records (Splink on DuckDB).

One row per comparison level with its m and u probabilities and match weight; the first row carries
the whole Splink model as JSON (int_identity__match_pairs scores with it, `tessera review explain`
draws its waterfall chart). No rows when there are too few person records to train on
(var identity_match_min_records). The logic lives in orchestration/identity/matching.py.
"""

from orchestration.identity.matching import model_table, train


def model(dbt, session):
    dbt.config(materialized="table")
    features = dbt.ref("int_identity__match_features").to_arrow_table()
    return model_table(train(features, min_records=int(dbt.config.get("min_records"))))
