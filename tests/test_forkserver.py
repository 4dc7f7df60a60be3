"""The fork server: a command run through it writes what it writes on its own, with the same
exit status and messages; without a server `gf-eval` runs by itself; a cancelled job stops."""

from __future__ import annotations

import filecmp
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import with_synthetic
from gf_eval import cli, forkserver

GF_EVAL = str(Path(sys.executable).parent / "gf-eval")
# What Snakemake sets for a one-thread job, as the server is set up.
ONE_THREAD = {name: "1" for name in forkserver.THREADS_ENV}
pytestmark = pytest.mark.skipif(not hasattr(os, "fork"), reason="POSIX only")


@pytest.fixture(scope="module")
def server():
    proc, address = forkserver.start()
    yield proc, address
    forkserver.stop(proc, address)
    assert proc.poll() is not None and not os.path.exists(os.path.dirname(address))


def _descendants(pid: int) -> set[int]:
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            ppid = int(stat.read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        children.setdefault(ppid, []).append(int(stat.parent.name))
    out, stack = set(), [pid]
    while stack:
        for child in children.get(stack.pop(), []):
            out.add(child)
            stack.append(child)
    return out


def test_a_command_through_the_server_writes_the_same_files(server, settings, tmp_path,
                                                           monkeypatch):  # fmt: skip
    _, address = server
    small = tmp_path / "synth.json"
    small.write_text(json.dumps(with_synthetic(settings, scale=0.1)))
    monkeypatch.chdir(tmp_path)
    for name, value in ONE_THREAD.items():
        monkeypatch.setenv(name, value)
    # run_remote answers only when the server ran the command (None means "run it yourself").
    assert forkserver.run_remote(["synth", "--out", "served", "--settings", str(small)],
                                 address) == 0  # fmt: skip
    assert cli.main(["synth", "--out", "direct", "--settings", str(small)]) == 0
    files = sorted(p.name for p in (tmp_path / "direct").iterdir())
    assert len(files) == 10 and files == sorted(p.name for p in (tmp_path / "served").iterdir())
    match, mismatch, errors = filecmp.cmpfiles(tmp_path / "direct", tmp_path / "served", files,
                                               shallow=False)  # fmt: skip
    assert (mismatch, errors) == ([], [])


def test_exit_status_and_messages_reach_the_caller(server, tmp_path):
    _, address = server
    env = {**os.environ, **ONE_THREAD, forkserver.ENV: address}
    # argparse's refusal (status 2, usage on stderr) and a failed validation (status 1).
    bad = subprocess.run([GF_EVAL, "validate", "no_such_extract"], capture_output=True,
                         text=True, env=env, cwd=tmp_path)  # fmt: skip
    assert bad.returncode == 2 and "invalid choice: 'no_such_extract'" in bad.stderr
    (tmp_path / "survey.csv").write_text("not,a,survey\n1,2,3\n")
    failed = subprocess.run([GF_EVAL, "validate", "survey", "--raw", "survey.csv", "--out",
                             "survey.parquet", "--report", "survey.json"], capture_output=True,
                            text=True, env=env, cwd=tmp_path)  # fmt: skip
    assert failed.returncode == 1 and "survey.csv" in failed.stderr
    assert not (tmp_path / "survey.parquet").exists()
    # The report went to the caller's folder (the workflow test checks that the server, not a
    # fallback, ran every job).
    assert (tmp_path / "survey.json").is_file()


def test_a_job_set_up_otherwise_than_the_server_runs_on_its_own(server, tmp_path, monkeypatch):
    _, address = server
    monkeypatch.chdir(tmp_path)
    for name, value in ONE_THREAD.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("OPENBLAS_NUM_THREADS", "2")  # a rule with two threads
    assert forkserver.run_remote(["--help"], address) is None


def test_without_a_server_gf_eval_runs_on_its_own(tmp_path):
    assert forkserver.run_remote(["--help"], str(tmp_path / "nothing-here")) is None
    env = {**os.environ, forkserver.ENV: str(tmp_path / "nothing-here")}
    out = subprocess.run([GF_EVAL, "validate", "no_such_extract"], capture_output=True,
                         text=True, env=env)  # fmt: skip
    assert out.returncode == 2 and "invalid choice" in out.stderr


def test_the_client_imports_only_the_lightest_modules(tmp_path):
    # Every job of a workflow run starts a client: what it imports is paid once a job.
    code = ("import sys; before = set(sys.modules); import gf_eval.command; "
            "from gf_eval import forkserver; "
            f"assert forkserver.run_remote(['--help'], {str(tmp_path / 'none')!r}) is None; "
            "print(' '.join(sorted(set(sys.modules) - before)))")  # fmt: skip
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)  # fmt: skip
    imported = set(out.stdout.split())
    assert {"gf_eval.command", "gf_eval.forkserver"} <= imported
    assert imported <= {"gf_eval", "gf_eval.command", "gf_eval.forkserver", "__future__",
                        "_socket", "marshal", "struct", "_struct"}, imported  # fmt: skip


def test_a_malformed_request_is_dropped_and_the_server_goes_on(server, tmp_path, monkeypatch,
                                                               capfd):  # fmt: skip
    import marshal
    import socket
    import struct

    _, address = server
    for body in (b"not marshal data", marshal.dumps(["argv", "cwd", "env"])):
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as conn:
            conn.connect(address)
            socket.send_fds(conn, [struct.pack("!I", len(body)) + body], [0, 1, 2])
            conn.settimeout(10)
            assert conn.recv(16) == b""  # closed without starting a job
    monkeypatch.chdir(tmp_path)
    for name, value in ONE_THREAD.items():
        monkeypatch.setenv(name, value)
    code = forkserver.run_remote(["validate", "--help"], address)
    assert code == 0 and "usage: gf-eval validate" in capfd.readouterr().out


def test_a_cancelled_job_is_stopped(server, settings, tmp_path):
    proc, address = server
    env = {**os.environ, **ONE_THREAD, forkserver.ENV: address}
    # A generator run that takes seconds: the client is killed as Snakemake kills a job.
    big = json.dumps(with_synthetic(settings, scale=8.0))
    client = subprocess.Popen([GF_EVAL, "synth", "--out", str(tmp_path / "big"), "--settings",
                               big], env=env, stderr=subprocess.DEVNULL)  # fmt: skip
    deadline = time.monotonic() + 30
    while len(_descendants(proc.pid)) < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert len(_descendants(proc.pid)) >= 2, "the job never started in the server"
    client.send_signal(signal.SIGTERM)
    client.wait(timeout=10)
    deadline = time.monotonic() + 10
    while _descendants(proc.pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _descendants(proc.pid)
    assert not (tmp_path / "big" / "truth.json").exists()


def test_the_server_stops_when_its_owner_is_gone(tmp_path):
    # The owner has a job run through the server (so that it is up and answering), then
    # exits without stopping it.
    code = ("import sys; from gf_eval import forkserver; "
            "proc, address = forkserver.start(); "
            "import os; os.environ.update({k: '1' for k in forkserver.THREADS_ENV}); "
            "status = forkserver.run_remote(['--help'], address); "
            "print('SERVER', proc.pid, address, status, flush=True)")  # fmt: skip
    owner = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                           check=True)  # fmt: skip
    _, pid, address, status = owner.stdout.splitlines()[-1].split()
    assert status == "0", owner.stdout
    deadline = time.monotonic() + 30
    while Path(f"/proc/{pid}").exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not Path(f"/proc/{pid}").exists() or "Z" in Path(f"/proc/{pid}/stat").read_text()


def test_every_preload_entry_loads_in_a_fresh_process():
    # A renamed module or function would leave every job to import it itself, silently.
    code = ("import sys; from gf_eval import forkserver\n"
            "for entry in forkserver.PRELOAD: forkserver.preload(entry)\n"
            "assert 'jsonschema' in sys.modules\n"
            "assert 'rfc3987_syntax' not in sys.modules\n")  # fmt: skip
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)
    with pytest.raises(AttributeError):
        forkserver.preload("gf_eval.config:no_such_function")
