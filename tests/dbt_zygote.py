"""dbt started once per test worker, and forked for every dbt command the tests run.

A dbt command spends about 2 of its first 4 CPU-seconds importing dbt (mashumaro compiling the
serialisers of every artifact class is most of it). The suite runs about 190 of them, so the tests
start one process that has imported dbt and its adapters (the zygote), and every dbt command a test
runs, in-process or from a `tessera` subprocess, is a fork of it: `dbt_executable()` (TESSERA_DBT_EXECUTABLE)
names a small client instead of .venv/bin/dbt. The client sends its arguments, folder, environment and
standard streams over a Unix socket; the fork takes them as its own and runs dbt's command line
(`dbt.cli.main.cli`), exactly as the `dbt` script does; its exit status comes back as the client's.

What a fork shares with a fresh `dbt` process is only what importing did, and the serialisers mashumaro
would compile on first use (compile_serialisers), frozen out of the garbage collector's walks: the zygote opens no
connection, reads no project and runs no command, so dbt-duckdb's database handle and dbt's adapter
registry start empty in each fork. A client that dies (killed) takes its fork with it: the fork reads
the socket, and kills itself at end of file, as a process group killed with dbt in it would lose dbt. A
SIGINT or SIGTERM sent to the client is passed on to its fork. With no zygote answering, the client runs
.venv/bin/dbt itself. `make run`, the Dagster UI and every user's command run .venv/bin/dbt as before
(the variable is set by tests/conftest.py only); tests/test_dbt_zygote.py checks both ways give one result.
"""

from __future__ import annotations

import contextlib
import gc
import json
import os
import signal
import socket
import struct
import subprocess
import sys
import threading
from pathlib import Path

# The client, written into the test run's folder with this interpreter in its first line. It imports
# only the standard library, without site (-S): it starts in about 20 ms.
CLIENT = """\
#!{python} -S
import json, os, signal, socket, struct, sys
try:
    link = socket.socket(socket.AF_UNIX)
    link.connect({socket!r})
    message = json.dumps({{"args": sys.argv[1:], "cwd": os.getcwd(), "env": dict(os.environ)}}).encode()
    socket.send_fds(link, [struct.pack("!Q", len(message)) + message], [0, 1, 2])
except OSError:  # no zygote answers: this is dbt, as .venv/bin/dbt would be
    os.execv({dbt!r}, [{dbt!r}, *sys.argv[1:]])
passed = []
def pass_on(number, frame):
    passed.append(number)
    link.sendall(bytes([number]))
for number in (signal.SIGINT, signal.SIGTERM):
    signal.signal(number, pass_on)
status = b""
while len(status) < 4:
    got = link.recv(4 - len(status))
    if not got:  # the fork died without a word: by the signal passed on, or killed (as a shell says)
        for number in passed[-1:]:
            signal.signal(number, signal.SIG_DFL)
            os.kill(os.getpid(), number)
        sys.exit(137)
    status += got
sys.exit(struct.unpack("!i", status)[0])
"""

# What every fork would otherwise import first: dbt's command line, its adapters and its commands.
PRELOAD = (
    "dbt.cli.main",
    "dbt.adapters.duckdb",
    "dbt.adapters.duckdb.impl",
    "dbt.adapters.postgres",
    "dbt.adapters.postgres.impl",
    "dbt.parser.manifest",
    "dbt.task.build",
    "dbt.task.list",
    "dbt.task.freshness",
    "dbt.task.show",
    "dbt.task.compile",
)


def write_client(path: Path, socket_path: Path) -> Path:
    """The client script at `path`, talking to the zygote at `socket_path`."""
    dbt = str(Path(sys.executable).parent / "dbt")
    path.write_text(CLIENT.format(python=sys.executable, socket=str(socket_path), dbt=dbt))
    path.chmod(0o755)
    return path


def start(folder: Path) -> tuple[subprocess.Popen, Path]:
    """A zygote serving at folder/dbt.sock, and its client at folder/dbt; returns once it answers."""
    folder.mkdir(parents=True, exist_ok=True)
    socket_path = folder / "dbt.sock"
    ready = folder / "dbt.sock.ready"
    for stale in (socket_path, ready):
        stale.unlink(missing_ok=True)
    process = subprocess.Popen([sys.executable, __file__, str(socket_path)], start_new_session=True)
    while not ready.exists():
        if process.poll() is not None:
            raise RuntimeError(f"the dbt zygote stopped while starting (status {process.returncode})")
        threading.Event().wait(0.05)
    return process, write_client(folder / "dbt", socket_path)


def _receive(connection: socket.socket) -> tuple[dict, list[int]]:
    """One request: its message (arguments, folder, environment) and the client's three streams."""
    data, fds, _, _ = socket.recv_fds(connection, 1 << 16, 3)
    if len(data) < 8 or len(fds) != 3:
        raise ConnectionError("not a dbt request")
    size = struct.unpack("!Q", data[:8])[0]
    body = data[8:]
    while len(body) < size:
        more = connection.recv(size - len(body))
        if not more:
            raise ConnectionError("the client left mid-request")
        body += more
    return json.loads(body), fds


def _watch_client(connection: socket.socket) -> None:
    """In a fork: a signal number from the client is raised here; the client gone, the fork dies too."""
    while True:
        try:
            got = connection.recv(1)
        except OSError:
            got = b""
        if not got:
            os.kill(os.getpid(), signal.SIGKILL)
        os.kill(os.getpid(), got[0])


def _run_fork(connection: socket.socket, request: dict, fds: list[int]) -> None:
    """In a fork: become the client's dbt command, tell the client how it ended, and exit."""
    for number in (signal.SIGCHLD, signal.SIGTERM):
        signal.signal(number, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    for stream, fd in enumerate(fds):
        os.dup2(fd, stream)
        os.close(fd)
    os.chdir(request["cwd"])
    os.environ.clear()
    os.environ.update(request["env"])
    sys.argv = ["dbt", *request["args"]]
    threading.Thread(target=_watch_client, args=(connection,), daemon=True).start()
    status = 1
    try:
        from dbt.cli.main import cli

        cli.main(args=request["args"], prog_name="dbt")
        status = 0
    except SystemExit as stop:
        status = stop.code if isinstance(stop.code, int) else (0 if stop.code is None else 1)
    except BaseException:  # as the interpreter would report it
        import traceback

        traceback.print_exc()
    finally:
        # What a normal exit runs (multiprocessing's clean-up, logging's flush), then the answer.
        import atexit

        atexit._run_exitfuncs()
        sys.stdout.flush()
        sys.stderr.flush()
        with contextlib.suppress(OSError):  # a client gone hears nothing; the fork ends all the same
            connection.sendall(struct.pack("!i", status))
        os._exit(status)


def _subclasses(cls: type) -> list[type]:
    found, todo = [], [cls]
    while todo:
        for sub in todo.pop().__subclasses__():
            if sub not in found:
                found.append(sub)
                todo.append(sub)
    return found


def compile_serialisers() -> None:
    """Compile now what mashumaro compiles on first use: dbt's classes (dbtClassMixin) read and write
    themselves through methods generated when first called (`lazy_compilation`), in every process anew;
    compiled here, every fork finds them compiled. Each first call compiles its method and then fails on
    the empty input it is given (a class whose types cannot be resolved yet stays to be compiled where it
    is used)."""
    from dbt_common.dataclass_schema import dbtClassMixin

    for cls in _subclasses(dbtClassMixin):
        for method, argument in (("from_dict", {}), ("from_msgpack", b"\x80")):
            with contextlib.suppress(Exception):
                getattr(cls, method)(argument)
        for method in ("to_dict", "to_msgpack"):
            with contextlib.suppress(Exception):
                getattr(cls, method)(object.__new__(cls))


def serve(socket_path: Path) -> None:
    """Import dbt, then fork once per request, until the test session stops it or ends without stopping it."""
    import importlib

    for module in PRELOAD:
        importlib.import_module(module)
    compile_serialisers()
    # What the zygote holds now is for ever: out of the garbage collector's sight, a fork's collections
    # do not walk it (nor copy the pages they would touch).
    gc.collect()
    gc.freeze()
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # forks are reaped by the kernel
    listener = socket.socket(socket.AF_UNIX)
    listener.bind(str(socket_path))
    listener.listen(64)
    listener.settimeout(5)
    Path(f"{socket_path}.ready").touch()
    parent = os.getppid()
    while True:
        try:
            connection, _ = listener.accept()
        except TimeoutError:
            if os.getppid() != parent:  # the test worker that started it is gone (killed): so is the zygote
                return
            continue
        connection.settimeout(None)
        try:
            request, fds = _receive(connection)
        except (ConnectionError, OSError, ValueError):
            connection.close()
            continue
        if os.fork() == 0:
            listener.close()
            _run_fork(connection, request, fds)
        for fd in fds:
            os.close(fd)
        connection.close()


if __name__ == "__main__":
    serve(Path(sys.argv[1]))
