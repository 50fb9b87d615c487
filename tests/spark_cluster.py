"""The local Spark cluster of the tests that need one (tests/test_spark.py, tests/test_spark_dagster.py,
tests/test_spark_sync.py): a standalone master, two workers and a Thrift server from pyspark's own
scripts (tools/spark_cluster.py), on the module's own ports with its state in a temporary folder, so a
`make spark-up` cluster and the other modules' clusters are left alone. Started once per module, and
stopped after it whatever happened."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parent.parent


def cluster(command: str, env: dict[str, str]) -> None:
    """tools/spark_cluster.py `command` (up, down) for the cluster `env` describes."""
    subprocess.run([sys.executable, str(REPO / "tools" / "spark_cluster.py"), command], env=env, check=True)


def spark_cluster_fixture(ports: dict[str, str], **settings: str) -> Any:
    """A module-scoped fixture: a cluster on `ports` (TESSERA_SPARK_*_PORT), started for the module and
    stopped after it; its value is the environment that reaches it (this process's, with the cluster's
    TESSERA_SPARK_HOME, ports and `settings`)."""

    @pytest.fixture(scope="module")
    def spark_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
        home = tmp_path_factory.mktemp("spark")
        env = dict(os.environ, TESSERA_SPARK_HOME=str(home), **settings, **ports)
        # At a load average of 13 on 2 cores the Thrift server did not listen within the default 180 s.
        env.setdefault("TESSERA_SPARK_WAIT_SECONDS", "600")
        try:
            cluster("up", env)
            yield env
        finally:
            cluster("down", env)

    return spark_cluster
