"""The Spark branches of json_text and json_item_text (macros/cross_db/), which the Snowplow preset reads
its contexts with, compiled by dbt for the spark target and run in a local Spark session.

Skipped like tests/test_spark.py: it needs the spark extra (`make spark-install`) and
TESSERA_TEST_SPARK=1. It starts no cluster: dbt compiles without a connection
(--no-populate-cache), and a local SparkSession (about 15 s to start) runs the SQL.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.spark_marks import SPARK_MARKS

REPO = Path(__file__).resolve().parent.parent

pytestmark = SPARK_MARKS

CLIENT_SESSION = "iglu:com.snowplowanalytics.snowplow/client_session/"
# Snowplow's contexts column: a self-describing JSON whose data is an array of entities.
CONTEXTS = {
    "found": '{"schema": "iglu:com.snowplowanalytics.snowplow/contexts/jsonschema/1-0-0", "data": ['
    '{"schema": "iglu:com.snowplowanalytics.snowplow/web_page/jsonschema/1-0-0", "data": {"id": "p1"}}, '
    '{"schema": "iglu:com.snowplowanalytics.snowplow/client_session/jsonschema/1-0-2", '
    '"data": {"userId": "dev-42", "a b": "spaced"}}]}',
    "cut short": '{"schema": "iglu:x", "data": [{"schema": "iglu:com.snowplowanalytics.snowplow/client_session/'
    'jsonschema/1-0-2", "data": {"userId": "dev',
    "no array": '{"schema": "iglu:x", "data": {"schema": "iglu:com.snowplowanalytics.snowplow/client_session/"}}',
    "no such entity": '{"schema": "iglu:x", "data": [{"schema": "iglu:com.acme/other/jsonschema/1-0-0", '
    '"data": {"userId": "no"}}]}',
    "not json": "hello",
    "null": None,
}


def _compiled_for_spark(select: str, tmp_path: Path) -> str:
    """`select` (Jinja calling the macros) as dbt compiles it for the spark target, with no connection."""
    from orchestration.audiences.definitions import dbt_vars_args

    run = subprocess.run(
        [
            str(Path(sys.executable).parent / "dbt"),
            *dbt_vars_args(["compile", "--quiet", "--no-populate-cache", "--inline", select]),
            *("--project-dir", str(REPO), "--profiles-dir", str(REPO), "--target", "spark"),
        ],
        env={**os.environ, "TESSERA_TARGET": "spark", "DBT_TARGET_PATH": str(tmp_path / "dbt-target")},
        capture_output=True,
        text=True,
        check=False,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    return run.stdout.strip()


def test_contexts_are_read_on_spark(tmp_path: Path) -> None:
    from pyspark.sql import SparkSession

    sql = _compiled_for_spark(
        "select name, "
        f"{{{{ tessera.json_item_text('contexts', ['data'], 'schema', '{CLIENT_SESSION}', ['data', 'userId']) }}}}"
        " as by_schema, "
        "{{ tessera.json_text('contexts', ['data', 1, 'data', 'userId']) }} as by_position, "
        "{{ tessera.json_text('contexts', ['data', 1, 'data', 'a b']) }} as spaced_key "
        "from contexts",
        tmp_path,
    )
    spark = (
        SparkSession.builder.master("local[1]")
        .config("spark.ui.enabled", "false")
        .config("spark.sql.shuffle.partitions", "1")
        .getOrCreate()
    )
    try:
        spark.createDataFrame(list(CONTEXTS.items()), "name string, contexts string").createOrReplaceTempView(
            "contexts"
        )
        rows = {row["name"]: row.asDict() for row in spark.sql(sql).collect()}
    finally:
        spark.stop()
    assert rows["found"] == {
        "name": "found",
        "by_schema": "dev-42",
        "by_position": "dev-42",
        "spaced_key": "spaced",
    }
    for name in ("cut short", "no array", "no such entity", "not json", "null"):
        assert rows[name]["by_schema"] is None and rows[name]["by_position"] is None, rows[name]
