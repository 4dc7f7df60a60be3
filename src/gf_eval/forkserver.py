"""Run `gf-eval` commands in processes forked from one that has already imported the heavy
libraries, so that a workflow's jobs pay for their work and not, each, for importing pandas,
pyarrow, scipy, statsmodels, matplotlib and pandera (about a second a job, most of a small
job's time; a 150-site run has 300 jobs).

The Snakefile starts the server when a local run has jobs to do and stops it when the run
ends; it puts the server's address in GF_EVAL_FORKSERVER, which every job inherits. The
`gf-eval` command then sends its arguments, working folder, environment and standard streams to
the server and exits with the status of the forked process that ran them. Without the variable,
or when no server answers, `gf-eval` runs in its own process as before: the result is the same
either way, only the start-up differs.

Each job runs in a fresh fork of the server, which has only imported modules, never run a
command, so jobs share no state. A job whose client dies (Snakemake cancels it) is killed. The
server exits when the process that started it is gone. POSIX only (fork, Unix sockets).
"""

from __future__ import annotations

# Only these at the top: every job of a run starts a `gf-eval` client (`gf_eval.command`) that
# imports this module to hand its job over, and json, socket and tempfile would double the
# client's start (they import re, enum and random). The server imports the rest itself.
import os
import struct
import sys

ENV = "GF_EVAL_FORKSERVER"
# What the jobs import, in the order the workflow's first jobs need them (the generator, then
# validation). The server imports the first FIRST of them before it answers a job: every job
# needs them, and the run's first job, forked without them, imported them again beside the
# server (0.6 s of CPU while the generator's two halves wanted both cores). It then answers
# jobs and imports the rest between them, so no job waits for the lot: a job forked before
# the end imports what it lacks itself. "module:f"
# imports the module and calls f(): gf_eval.config imports jsonschema, which every job given
# --settings validates its config with, only when asked (and its own way, see _jsonschema).
PRELOAD = (
    "numpy", "pandas", "pyarrow.parquet", "gf_eval.synth", "pandera.pandas", "gf_eval.validation",
    "gf_eval.derive", "gf_eval.derive.site", "gf_eval.config:_jsonschema", "scipy.stats",
    "scipy.optimize", "scipy.special",
    "statsmodels.genmod.generalized_linear_model", "statsmodels.regression.linear_model",
    "statsmodels.miscmodels.ordinal_model", "gf_eval.analysis.targets", "matplotlib",
    "gf_eval.appendix", "gf_eval.appendix.publish", "gf_eval.appendix.casework_tables",
    "gf_eval.appendix.survey_tables", "gf_eval.appendix.marac_tables",
    "gf_eval.appendix.social_care_tables", "gf_eval.analysis.value_for_money",
    "gf_eval.appendix.value_tables", "gf_eval.appendix.targets_tables",
    "gf_eval.analysis.multisite", "gf_eval.appendix.multisite_figures", "gf_eval.report.html",
    "gf_eval.report.provenance",
)  # fmt: skip
FIRST = 4
# Settings read when a library is imported, not when it is used: a job whose environment sets
# them otherwise than the server's runs on its own. Snakemake gives each job of a one-thread
# rule 1 for the thread counts (every rule here has one thread), and the server is started
# with the same, so that the linear algebra is single-threaded as in a job of its own.
IMPORT_TIME_ENV = ("OMP_NUM_THREADS", "GOTO_NUM_THREADS", "OPENBLAS_NUM_THREADS",
                   "MKL_NUM_THREADS", "VECLIB_MAXIMUM_THREADS", "NUMEXPR_NUM_THREADS",
                   "PYTHONHASHSEED", "PYTHONPATH", "PYTHONWARNINGS", "MPLBACKEND")  # fmt: skip
THREADS_ENV = IMPORT_TIME_ENV[:6]
_HEADER = struct.Struct("!I")
_STARTED = b"S"  # sent once the job's process exists: from then on its status is the answer


# ---- client ------------------------------------------------------------------------------------


def run_remote(argv: list[str], address: str) -> int | None:
    """Run `gf-eval ARGV` in the server at `address` with this process's working folder,
    environment and standard streams; return its exit status, or None if no server answers
    (the caller then runs the command itself)."""
    import _socket  # the socket module's C core: the module itself imports enum and more
    import marshal  # the request is plain strings, and both ends run the same Python

    try:
        conn = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM)
    except OSError:
        return None
    try:
        try:
            conn.connect(address)
        except OSError:
            return None
        request = marshal.dumps({"argv": list(argv), "cwd": os.getcwd(), "env": dict(os.environ)})
        message = _HEADER.pack(len(request)) + request
        try:  # the three standard streams go with the first part, as socket.send_fds sends them
            sent = conn.sendmsg([message], [(_socket.SOL_SOCKET, _socket.SCM_RIGHTS,
                                            struct.pack("3i", 0, 1, 2))])  # fmt: skip
            conn.sendall(message[sent:])
        except OSError:
            return None
        if _recv_exactly(conn, len(_STARTED)) != _STARTED:
            return None  # the server stopped before starting the job: run it here
        reply = _recv_exactly(conn, _HEADER.size)
    finally:
        conn.close()
    if reply is None:  # the server went away mid-job
        print("gf-eval: the fork server stopped before the command finished", file=sys.stderr)
        return 1
    return _HEADER.unpack(reply)[0]


def _recv_exactly(conn, n: int) -> bytes | None:
    data = b""
    while len(data) < n:
        try:
            chunk = conn.recv(n - len(data))
        except OSError:
            return None
        if not chunk:
            return None
        data += chunk
    return data


# ---- server ------------------------------------------------------------------------------------


def start(python: str = sys.executable) -> tuple[object, str]:
    """Start a server for this process (it exits when this process does); return the process
    and its address. The address is a socket in a new private temporary folder."""
    import subprocess
    import tempfile
    import time

    folder = tempfile.mkdtemp(prefix="gf-eval-")
    address = os.path.join(folder, "socket")
    env = {**os.environ, **{name: "1" for name in THREADS_ENV}}
    proc = subprocess.Popen([python, "-m", "gf_eval.forkserver", address, str(os.getpid())],
                            stdin=subprocess.DEVNULL, env=env)  # fmt: skip
    # It binds its socket before importing anything heavy: a few hundredths of a second.
    deadline = time.monotonic() + 10
    while not os.path.exists(address) and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.01)
    return proc, address


def stop(proc, address: str) -> None:
    """Stop a server started by `start` and remove its folder."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except Exception:
            proc.kill()
            proc.wait()
    _remove(address)


def _remove(address: str) -> None:
    """The socket and its folder."""
    for remove, path in ((os.unlink, address), (os.rmdir, os.path.dirname(address))):
        try:
            remove(path)
        except OSError:
            pass


def preload(entry: str) -> None:
    """Import a PRELOAD entry: "module", or "module:function" to call function() after."""
    import importlib

    name, _, function = entry.partition(":")
    module = importlib.import_module(name)
    if function:
        getattr(module, function)()


def _preload_quietly(entry: str) -> None:
    import gc

    try:
        preload(entry)
    except ImportError:  # the job that needs it will say what is missing
        pass
    gc.freeze()


def serve(address: str, owner: int) -> None:
    """Listen at `address` and fork a handler for each job, importing PRELOAD between jobs,
    until `owner` (the starting process) is gone or the server is told to stop."""
    import gc
    import signal
    import socket

    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(address)
    listener.listen(128)
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # handlers are reaped by the kernel
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    for entry in PRELOAD[:FIRST]:  # clients that connect meanwhile wait
        _preload_quietly(entry)
    pending = list(PRELOAD[FIRST:])
    # What the server holds goes to the collector's permanent generation, now and after each
    # import: a job's first full collection would otherwise walk every object of every module
    # imported, writing to their pages (which the fork then copies), 0.1-0.2 s of each job.
    gc.freeze()
    # Each handler writes a byte here when its job has started, so that the server can say
    # at the end how many jobs it ran (the workflow's log shows it).
    started_r, started_w = os.pipe()
    os.set_blocking(started_r, False)
    os.set_blocking(started_w, False)  # past 64 KiB of jobs the count stops, never a job
    try:
        while os.getppid() == owner:
            # While modules remain to import, a job waiting is answered first, then one more.
            listener.settimeout(0 if pending else 1.0)
            try:
                conn, _ = listener.accept()
            except (TimeoutError, BlockingIOError):
                if pending:
                    _preload_quietly(pending.pop(0))
                continue
            if os.fork() == 0:  # never back into this loop, whatever happens
                try:
                    listener.close()
                    signal.signal(signal.SIGCHLD, signal.SIG_DFL)
                    signal.signal(signal.SIGTERM, signal.SIG_DFL)
                    os.close(started_r)
                    _handle(conn, started_w)
                finally:
                    os._exit(0)
            conn.close()
    finally:
        listener.close()
        _remove(address)
        ran = 0
        try:
            while chunk := os.read(started_r, 65536):
                ran += len(chunk)
        except BlockingIOError:
            pass
        print(f"gf-eval fork server: ran {ran} job{'' if ran == 1 else 's'}", file=sys.stderr)


def _handle(conn, started: int) -> None:
    """One job: read it, fork the process that runs it (a byte to `started` says so), send
    back its exit status. If the client goes away first, kill the job."""
    import marshal
    import select
    import signal
    import socket

    conn.settimeout(None)
    try:
        head, fds, _, _ = socket.recv_fds(conn, _HEADER.size, 3)
        if len(head) < _HEADER.size or len(fds) != 3:
            return
        size = _HEADER.unpack(head[:_HEADER.size])[0]
        body = head[_HEADER.size:]
        rest = _recv_exactly(conn, size - len(body)) if size > len(body) else b""
        request = marshal.loads(body + (rest or b""))
        argv, cwd, env = request["argv"], request["cwd"], request["env"]
        if not (isinstance(argv, list) and isinstance(cwd, str) and isinstance(env, dict)):
            return
    except (OSError, ValueError, EOFError, TypeError, KeyError):
        return
    if any(env.get(k) != os.environ.get(k) for k in IMPORT_TIME_ENV):
        return  # the libraries were set up otherwise: the client runs the job itself
    pid = os.fork()
    if pid == 0:
        try:
            conn.close()
            os.close(started)
            _run_job(request, fds)  # exits
        finally:
            os._exit(1)
    for fd in fds:
        os.close(fd)
    try:
        os.write(started, b".")
    except BlockingIOError:
        pass
    try:
        conn.sendall(_STARTED)
    except OSError:
        pass
    if hasattr(os, "pidfd_open"):  # Linux: also watch the client, to stop a cancelled job
        pidfd = os.pidfd_open(pid)
        readable, _, _ = select.select([conn, pidfd], [], [])
        if conn in readable and pidfd not in readable:  # the client died: stop its job
            os.kill(pid, signal.SIGTERM)
    _, status = os.waitpid(pid, 0)
    code = os.waitstatus_to_exitcode(status)
    code = 128 - code if code < 0 else code  # killed by a signal, as a shell reports it
    try:
        conn.sendall(_HEADER.pack(code))
    except OSError:
        pass


def _run_job(request: dict, fds: list[int]) -> None:
    """In the forked process: take the client's streams, folder and environment, run the
    command as `gf-eval` would, exit with its status."""
    import io
    import logging
    import traceback

    for target, fd in enumerate(fds):
        os.dup2(fd, target)
        os.close(fd)
    sys.stdin = io.TextIOWrapper(io.FileIO(0, "r", closefd=False))
    sys.stdout = io.TextIOWrapper(io.FileIO(1, "w", closefd=False), line_buffering=os.isatty(1))
    sys.stderr = io.TextIOWrapper(io.FileIO(2, "w", closefd=False), line_buffering=True,
                                  errors="backslashreplace")  # fmt: skip
    os.chdir(request["cwd"])
    os.environ.clear()
    os.environ.update(request["env"])
    sys.argv = ["gf-eval", *request["argv"]]
    code = 1
    try:
        from gf_eval.cli import main

        code = main(request["argv"])
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
        if not isinstance(exc.code, (int, type(None))):
            print(exc.code, file=sys.stderr)
    except KeyboardInterrupt:
        code = 130
    except BaseException:
        traceback.print_exc()
        code = 1
    finally:
        logging.shutdown()
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except OSError:
                pass
    os._exit(code if isinstance(code, int) else 1)


if __name__ == "__main__":
    try:
        serve(sys.argv[1], int(sys.argv[2]))
    except SystemExit:  # told to stop (SIGTERM)
        pass
    # Without the interpreter's teardown of everything imported (0.5 s at the end of a run):
    # there is nothing left to flush but stderr.
    sys.stderr.flush()
    os._exit(0)
