"""The tests' dbt (tests/dbt_zygote.py) behaves as .venv/bin/dbt: same output and status, and it dies when killed."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from orchestration.settings import dbt_executable
from tests import dbt_zygote as zygote


@pytest.fixture(scope="module")
def served(dbt_zygote) -> tuple[subprocess.Popen, Path]:
    if dbt_zygote is None:
        pytest.skip("TESSERA_TEST_DBT_ZYGOTE=0: the tests run .venv/bin/dbt itself")
    return dbt_zygote


def forks_of(process: subprocess.Popen) -> set[int]:
    """The processes the zygote started that are still running."""
    found = set()
    for entry in Path("/proc").iterdir():
        try:
            stat = (entry / "stat").read_text() if entry.name.isdigit() else ""
        except OSError:
            continue
        if stat and int(stat.rsplit(")", 1)[1].split()[1]) == process.pid:
            found.add(int(entry.name))
    return found


def test_the_build_starts_the_zygotes_client(served):
    assert dbt_executable() == str(served[1])


def test_a_fork_answers_as_dbt_itself(served, tmp_path):
    """What a fork prints and returns is what .venv/bin/dbt prints and returns: here .venv/bin/dbt itself is
    run by a client that finds no zygote, as it would if the zygote had died."""
    orphan = zygote.write_client(tmp_path / "dbt", tmp_path / "no-zygote.sock")
    # `dbt ls` in a folder without a project names the folder it was started in (the client's).
    folder = tmp_path / "no-project"
    folder.mkdir()
    cases = {
        "version": ["--version"],
        "bad option": ["ls", "--no-such-flag"],
        "no project": ["ls", "--profiles-dir", str(folder)],
    }
    answers = {}
    for case, args in cases.items():
        forked = subprocess.run([str(served[1]), *args], capture_output=True, text=True, cwd=folder)
        itself = subprocess.run([str(orphan), *args], capture_output=True, text=True, cwd=folder)
        assert [_untimed(forked), forked.returncode] == [_untimed(itself), itself.returncode], case
        answers[case] = forked
    assert answers["bad option"].returncode == 2 and "No such option" in answers["bad option"].stderr
    no_project = answers["no project"]
    assert no_project.returncode != 0 and str(folder / "dbt_project.yml") in _untimed(no_project)


def _untimed(done: subprocess.CompletedProcess) -> str:
    """What a command printed, without the clock times dbt starts its log lines with."""
    return re.sub(r"\d\d:\d\d:\d\d", "hh:mm:ss", done.stdout + done.stderr)


@pytest.mark.parametrize("number", [signal.SIGKILL, signal.SIGTERM, signal.SIGINT])
def test_a_signalled_client_takes_its_fork_with_it(served, tmp_path, number):
    """`dbt init` waits at its first question; the client is killed, terminated or interrupted there, and
    its fork does not outlive it (with SIGINT, dbt's own answer to it comes back as the status)."""
    process, client = served
    before = forks_of(process)
    waiting = subprocess.Popen(
        [str(client), "init"],
        cwd=tmp_path,
        env={**os.environ, "DBT_PROFILES_DIR": str(tmp_path)},
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert waiting.stdout is not None
    printed = b""
    while b"Enter a name" not in printed:
        more = os.read(waiting.stdout.fileno(), 4096)
        assert more, f"dbt init ended without asking: {printed!r}"
        printed += more
    fork = forks_of(process) - before
    assert len(fork) == 1
    waiting.send_signal(number)
    waiting.wait(timeout=60)  # its input stays open: the fork would wait at the question for ever
    if number == signal.SIGINT:
        assert waiting.returncode > 0  # dbt's answer to the interrupt, as a status
    else:
        assert waiting.returncode == -number
    deadline = time.monotonic() + 10
    while fork & forks_of(process) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not fork & forks_of(process)
    waiting.communicate()


def test_the_client_starts_without_dbt():
    """The client imports no more than the standard library needs to talk to the zygote."""
    source = zygote.CLIENT.format(python=sys.executable, socket="/nowhere", dbt="/nowhere")
    imported = {line.split()[1].rstrip(",") for line in source.splitlines() if line.startswith("import ")}
    assert imported <= {"json", "os", "signal", "socket", "struct", "sys"}
