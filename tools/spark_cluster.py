"""A local Spark standalone cluster for Tessera's `spark` target (issue #17): `make spark-up` / `make spark-down`.

    python tools/spark_cluster.py up       # master + 2 workers + Thrift server on 127.0.0.1, waits until ready
    python tools/spark_cluster.py down     # stops what `up` started (by the pid files it wrote)
    python tools/spark_cluster.py status

Everything comes from the pyspark wheel (no Maven, no separate Spark download): its `sbin/spark-daemon.sh`
starts the standalone Master and Worker classes and submits the Thrift server (HiveThriftServer2, whose
jars ship in pyspark's jars/) to the master. dbt (profiles.yml target `spark`, method `thrift`) and the
warehouse code (orchestration/warehouse/spark.py) both talk to that one Thrift server, which owns the
Derby metastore: an embedded Derby metastore admits one JVM only, so a driver per dbt subprocess
(dbt-spark's `session` method) could not share the tables with the loader (docs/spark.md).

All state (metastore_db/, derby.log, the table files, logs, pid files, worker scratch) lives under
TESSERA_SPARK_HOME (default <repo>/warehouse/spark/, gitignored). Memory is kept small: the machines
have 2 cores shared with other work.
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent

MASTER = "org.apache.spark.deploy.master.Master"
WORKER = "org.apache.spark.deploy.worker.Worker"
THRIFT = "org.apache.spark.sql.hive.thriftserver.HiveThriftServer2"
WORKERS = 2


def spark_home() -> Path:
    import pyspark  # the spark extra (make spark-install); imported only when a cluster is wanted

    return Path(pyspark.__file__).resolve().parent


def state_dir() -> Path:
    value = os.environ.get("TESSERA_SPARK_HOME")
    path = Path(value) if value else REPO / "warehouse" / "spark"
    return path if path.is_absolute() else REPO / path


def ports() -> dict[str, int]:
    env = os.environ
    return {
        "master": int(env.get("TESSERA_SPARK_MASTER_PORT", "7077")),
        "master_ui": int(env.get("TESSERA_SPARK_MASTER_UI_PORT", "18080")),
        "worker_ui": int(env.get("TESSERA_SPARK_WORKER_UI_PORT", "18081")),  # and the next one
        "thrift": int(env.get("TESSERA_SPARK_THRIFT_PORT", "10000")),
        "thrift_ui": int(env.get("TESSERA_SPARK_THRIFT_UI_PORT", "14040")),
    }


def _env(state: Path) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        SPARK_HOME=str(spark_home()),
        SPARK_LOG_DIR=str(state / "logs"),
        SPARK_PID_DIR=str(state / "pids"),
        SPARK_WORKER_DIR=str(state / "work"),
        SPARK_LOCAL_IP="127.0.0.1",
        SPARK_LOCAL_DIRS=str(state / "tmp"),
        # Master and worker daemons themselves are small; executors get their own (below).
        SPARK_DAEMON_MEMORY=os.environ.get("TESSERA_SPARK_DAEMON_MEMORY", "256m"),
        SPARK_IDENT_STRING="tessera",
    )
    return env


def _daemon(state: Path, *args: str, memory: str | None = None) -> None:
    state.mkdir(parents=True, exist_ok=True)
    script = spark_home() / "sbin" / "spark-daemon.sh"
    env = _env(state)
    if memory:
        # Spark's launcher sizes the Thrift server's driver JVM from SPARK_DAEMON_MEMORY, not spark.driver.memory.
        env["SPARK_DAEMON_MEMORY"] = memory
    # cwd = state: Spark writes metastore_db/ and derby.log into the working folder.
    subprocess.run(["bash", str(script), *args], cwd=state, env=env, check=True)


def _running(state: Path, cls: str, instance: int) -> bool:
    """Whether the daemon `spark-daemon.sh` started as (cls, instance) is alive, by its pid file."""
    pid_file = state / "pids" / f"spark-tessera-{cls}-{instance}.pid"
    try:
        os.kill(int(pid_file.read_text().strip()), 0)
    except (FileNotFoundError, ValueError, ProcessLookupError):
        return False
    return True


def _listening(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def _wait(port: int, what: str, seconds: float, state: Path) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if _listening(port):
            return
        time.sleep(1)
    logs = sorted((state / "logs").glob("*.out"))
    tail = "".join(
        f"\n--- {log.name}\n" + "".join(log.read_text(errors="replace").splitlines(True)[-15:])
        for log in logs
    )
    raise SystemExit(f"{what} did not listen on 127.0.0.1:{port} within {seconds:.0f} s{tail}")


def thrift_conf(state: Path) -> list[str]:
    """spark-submit arguments of the Thrift server: where its tables and metastore live, how big its executors are."""
    warehouse = state / "tables"
    metastore = state / "metastore_db"
    memory = os.environ.get("TESSERA_SPARK_EXECUTOR_MEMORY", "512m")
    conf = {
        "spark.sql.warehouse.dir": f"file://{warehouse}",
        "spark.hadoop.javax.jdo.option.ConnectionURL": f"jdbc:derby:;databaseName={metastore};create=true",
        "spark.driver.extraJavaOptions": f"-Dderby.system.home={state}",
        "spark.executor.memory": memory,
        "spark.executor.cores": "1",
        "spark.cores.max": str(WORKERS),
        # Small data, 2 cores: 200 shuffle partitions would be 200 tiny tasks per exchange.
        "spark.sql.shuffle.partitions": os.environ.get("TESSERA_SPARK_SHUFFLE_PARTITIONS", "4"),
        # Non-ANSI casts (a bad value casts to null, as TRY_CAST): what dbt-spark asks of every session too,
        # set here so every client of the server (the loader's, a BI tool's) sees the same semantics.
        "spark.sql.ansi.enabled": "false",
        # String literals as written, as on DuckDB and Postgres: by default Spark unescapes backslashes,
        # so the pattern '\\s+' reached the regex engine as 's+' (every "s" removed from e-mails).
        "spark.sql.parser.escapedStringLiterals": "true",
        "spark.ui.port": str(ports()["thrift_ui"]),
        "spark.driver.host": "127.0.0.1",
        "spark.driver.bindAddress": "127.0.0.1",
    }
    args = ["--master", f"spark://127.0.0.1:{ports()['master']}", "--name", "tessera-thrift"]
    for key, value in conf.items():
        args += ["--conf", f"{key}={value}"]
    args += [
        "--hiveconf",
        f"hive.server2.thrift.port={ports()['thrift']}",
        "--hiveconf",
        "hive.server2.thrift.bind.host=127.0.0.1",
    ]
    return args


def up(wait_seconds: float = 180) -> None:
    state = state_dir()
    p = ports()
    for name in ("logs", "pids", "work", "tmp", "tables"):
        (state / name).mkdir(parents=True, exist_ok=True)
    if _listening(p["thrift"]):
        print(f"Spark Thrift server already listening on 127.0.0.1:{p['thrift']}")
        return
    if not _listening(p["master"]):
        _daemon(
            state,
            "start",
            MASTER,
            "1",
            "--host",
            "127.0.0.1",
            "--port",
            str(p["master"]),
            "--webui-port",
            str(p["master_ui"]),
        )
        _wait(p["master"], "the Spark master", wait_seconds, state)
    worker_memory = os.environ.get("TESSERA_SPARK_WORKER_MEMORY", "768m")
    for instance in range(1, WORKERS + 1):
        if _running(state, WORKER, instance):
            continue
        _daemon(
            state,
            "start",
            WORKER,
            str(instance),
            "--host",
            "127.0.0.1",
            "--cores",
            "1",
            "--memory",
            worker_memory,
            "--webui-port",
            str(p["worker_ui"] + instance - 1),
            f"spark://127.0.0.1:{p['master']}",
        )
    driver_memory = os.environ.get("TESSERA_SPARK_DRIVER_MEMORY", "768m")
    _daemon(state, "submit", THRIFT, "1", *thrift_conf(state), memory=driver_memory)
    _wait(p["thrift"], "the Spark Thrift server", wait_seconds, state)
    print(
        f"Spark up: master spark://127.0.0.1:{p['master']} (UI http://127.0.0.1:{p['master_ui']}), "
        f"{WORKERS} workers, Thrift server 127.0.0.1:{p['thrift']}; state in {state}"
    )


def down() -> None:
    state = state_dir()
    if not (state / "pids").exists():
        print("Spark: nothing started here")
        return
    # Reverse order: the Thrift server's executors end before their workers do.
    _daemon(state, "stop", THRIFT, "1")
    for instance in range(WORKERS, 0, -1):
        _daemon(state, "stop", WORKER, str(instance))
    _daemon(state, "stop", MASTER, "1")


def status() -> int:
    p = ports()
    states = {name: _listening(port) for name, port in (("master", p["master"]), ("thrift", p["thrift"]))}
    print(", ".join(f"{name}: {'up' if ok else 'down'}" for name, ok in states.items()))
    return 0 if all(states.values()) else 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("command", choices=["up", "down", "status"])
    args = parser.parse_args(argv)
    if args.command == "up":
        # How long each part may take to listen: minutes on a busy 2-core machine (the tests wait longer).
        up(float(os.environ.get("TESSERA_SPARK_WAIT_SECONDS", "180")))
    elif args.command == "down":
        down()
    else:
        return status()
    return 0


if __name__ == "__main__":
    sys.exit(main())
