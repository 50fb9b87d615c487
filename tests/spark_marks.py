"""The marks of the Spark tests (tests/test_spark.py, tests/test_spark_json.py): they start Spark (a
local cluster, or a local session), which takes minutes on 2 cores, so they run only with the spark
extra installed (`make spark-install`) and TESSERA_TEST_SPARK=1; the default CI skips them."""

from __future__ import annotations

import importlib.util
import os

import pytest

SPARK_MARKS = [
    pytest.mark.spark,
    pytest.mark.skipif(
        os.environ.get("TESSERA_TEST_SPARK") != "1",
        reason="Spark tests run only with TESSERA_TEST_SPARK=1 (they start Spark: minutes)",
    ),
    pytest.mark.skipif(
        importlib.util.find_spec("pyspark") is None or importlib.util.find_spec("pyhive") is None,
        reason="the spark extra is not installed (make spark-install)",
    ),
]
