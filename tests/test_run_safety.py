"""Results never come from the wrong data: a missing extract folder starts no job, each source
keeps its own output trees, the audit accepts command-line overrides, a killed run recovers
with a plain `snakemake`, nested overrides are typed, and the terminal output reads."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from gf_eval import preflight, synth
from gf_eval.config import ConfigError
from gf_eval.extracts import EXTRACTS

from conftest import ROOT, copy_project, snakemake, with_synthetic

SCHEMA = yaml.safe_load((ROOT / "config" / "config.schema.yaml").read_text(encoding="utf-8"))


def _audit(project: Path, results: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "gf_eval", "audit", "--root", str(project),
                           "--results", results], capture_output=True, text=True)  # fmt: skip


def _tree(project: Path) -> dict[str, int]:
    """Every file under the output folders, with its modification time."""
    return {p.relative_to(project).as_posix(): p.stat().st_mtime_ns
            for d in ("data/interim", "results", "logs") if (project / d).is_dir()
            for p in (project / d).rglob("*") if p.is_file()}  # fmt: skip


# ---- overrides typed as the schema says ------------------------------------------------------


def test_nested_overrides_are_typed_as_the_schema_says():
    # What `snakemake --config synthetic='{scale: 0.05, scenario: null}' seed=7` delivers.
    raw = {"synthetic": {"scale": "0.05", "scenario": "null"}, "seed": 7,
           "calendar": {"data_start": "2012-04-01"}, "disclosure": {"threshold": "10"},
           "analysis": {"sensitivity": {"placebo_starts": ["2014-03-01"], "newey_lags": "2"}}}
    typed = preflight.typed_overrides(raw, SCHEMA)
    assert typed["synthetic"]["scale"] == 0.05 and isinstance(typed["synthetic"]["scale"], float)
    assert typed["disclosure"]["threshold"] == 10 and isinstance(typed["disclosure"]["threshold"], int)
    assert typed["analysis"]["sensitivity"]["newey_lags"] == 2
    # Strings the schema allows stay as written: "null" is a scenario, dates are text.
    assert typed["synthetic"]["scenario"] == "null"
    assert typed["calendar"]["data_start"] == "2012-04-01"
    assert typed["analysis"]["sensitivity"]["placebo_starts"] == ["2014-03-01"]
    # Text that is no number is left for the schema to refuse, naming the key.
    assert preflight.typed_overrides({"synthetic": {"scale": "big"}}, SCHEMA) == {
        "synthetic": {"scale": "big"}}


@pytest.mark.workflow
def test_a_nested_override_from_the_command_line_works(tmp_path):
    project = copy_project(tmp_path / "project")
    plan = snakemake(project, "-n", "--config", "synthetic={scale: 0.05}")
    assert plan.returncode == 0, plan.stderr[-2000:]
    settings = project / ".snakemake" / "gf-eval" / "synthetic" / "settings" / "synth.json"
    written = yaml.safe_load(settings.read_text())
    assert written["synthetic"]["scale"] == 0.05
    assert written["synthetic"]["scenario"] == "effects"  # the rest of the mapping is kept
    bad = snakemake(project, "-n", "--config", "synthetic={scale: big}")
    assert bad.returncode != 0 and "'big' is not of type 'number'" in bad.stdout + bad.stderr


# ---- missing extracts stop the run before any job ----------------------------------------------


def test_check_extracts_names_the_folder_and_each_missing_file(tmp_path, config):
    with pytest.raises(ConfigError) as err:
        preflight.check_extracts({**config, "extracts": "data/raw/nope"}, tmp_path)
    text = str(err.value)
    assert "no job was started" in text and "data/raw/nope does not exist" in text
    assert all(e.filename in text for e in EXTRACTS.values())
    folder = tmp_path / "data" / "raw" / "some"
    folder.mkdir(parents=True)
    for extract in list(EXTRACTS.values())[:-2]:
        (folder / extract.filename).write_text("x\n")
    with pytest.raises(ConfigError, match=r"lacks 2 of its 9 files: casework.csv, survey.csv"):
        preflight.check_extracts({**config, "extracts": "data/raw/some"}, tmp_path)
    bad = tmp_path / "data" / "raw" / "bad name"
    shutil.copytree(folder, bad)
    for extract in EXTRACTS.values():
        (bad / extract.filename).write_text("x\n")
    with pytest.raises(ConfigError, match="use letters, digits"):
        preflight.check_extracts({**config, "extracts": "data/raw/bad name"}, tmp_path)


@pytest.fixture
def finished(workflow_project, tmp_path) -> Path:
    """A scratch copy of the session's finished default run."""
    project, run = workflow_project
    assert run.returncode == 0, run.stderr[-3000:]
    copy = tmp_path / "finished"
    shutil.copytree(project, copy, symlinks=True)
    return copy


@pytest.mark.workflow
def test_a_missing_extract_folder_starts_no_job(finished):
    before = _tree(finished)
    run = snakemake(finished, "--config", "extracts=data/raw/nope")
    out = run.stdout + run.stderr
    assert run.returncode != 0
    assert "data/raw/nope does not exist" in out and "marac_cases.csv" in out
    assert "Traceback" not in out
    assert _tree(finished) == before  # nothing written, nothing touched
    assert not (finished / "results" / "nope").exists()
    assert _audit(finished, "results/synthetic").returncode == 0


@pytest.mark.slow
@pytest.mark.workflow
def test_a_failed_run_on_another_folder_leaves_the_synthetic_results_auditable(finished, settings):
    real = finished / "data" / "raw" / "elsewhere"
    synth.write(*synth.generate(with_synthetic(settings, scale=0.3)), real)
    (real / "truth.json").unlink()
    referrals = (real / "cs_referrals.csv").read_text().splitlines()
    referrals[2] = referrals[2].replace(",", ",BROKEN,", 1)  # a shifted row
    (real / "cs_referrals.csv").write_text("\n".join(referrals) + "\n")
    synthetic_before = {k: v for k, v in _tree(finished).items() if "/synthetic" in k}
    run = snakemake(finished, "--config", "extracts=data/raw/elsewhere")
    assert run.returncode != 0
    assert (finished / "results" / "elsewhere" / "validation" / "cs_referrals.json").is_file()
    synthetic_after = {k: v for k, v in _tree(finished).items() if "/synthetic" in k}
    assert synthetic_after == synthetic_before
    audit = _audit(finished, "results/synthetic")
    assert audit.returncode == 0, audit.stderr


@pytest.mark.slow
@pytest.mark.workflow
def test_the_audit_accepts_a_run_made_with_command_line_overrides(finished):
    real = finished / "data" / "raw" / "borough"
    real.mkdir(parents=True)
    for extract in EXTRACTS.values():  # real-looking extracts: the synthetic files, no truth
        shutil.copy(finished / "data" / "raw" / "synthetic" / extract.filename, real)
    run = snakemake(finished, "--config", "extracts=data/raw/borough", "disclosure={threshold: 6}")
    assert run.returncode == 0, run.stderr[-3000:]
    audit = _audit(finished, "results/borough")
    assert audit.returncode == 0, audit.stderr
    assert "command-line overrides of disclosure, extracts" in audit.stderr
    # The two sources' results sit side by side, each auditable.
    assert _audit(finished, "results/synthetic").returncode == 0
    manifest = (finished / "results" / "borough" / "MANIFEST.sha256").read_text()
    assert "results/synthetic" not in manifest and "data/interim/synthetic" not in manifest
    # The overrides are part of what the audit checks: a changed config file is named.
    config = yaml.safe_load((finished / "config" / "config.yaml").read_text())
    config["seed"] = 1
    (finished / "config" / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    changed = _audit(finished, "results/borough")
    assert changed.returncode == 1 and "config differs from the run's in: seed" in changed.stderr


@pytest.mark.workflow
def test_results_of_another_folder_with_the_same_name_are_not_overwritten(finished):
    other = finished / "elsewhere" / "synthetic"
    other.mkdir(parents=True)
    run = snakemake(finished, "-n", "--config", "extracts=elsewhere/synthetic")
    assert run.returncode != 0
    assert "lacks 9 of its 9 files" in run.stderr
    for extract in EXTRACTS.values():
        (other / extract.filename).write_text("x\n")
    run = snakemake(finished, "-n", "--config", "extracts=elsewhere/synthetic")
    assert run.returncode != 0
    assert "results/synthetic holds the results of synthetic, not elsewhere/synthetic" in run.stderr


# ---- a killed run recovers with a plain `snakemake` --------------------------------------------


def test_stale_locks_are_cleared_only_when_no_snakemake_works_there(tmp_path):
    locks = tmp_path / ".snakemake" / "locks"
    locks.mkdir(parents=True)
    (locks / "0.input.lock").write_text("a\n")
    # A live Snakemake in the folder (a stand-in process named snakemake) keeps its locks.
    live = subprocess.Popen(["bash", "-c", "exec -a snakemake sleep 30"], cwd=tmp_path)
    try:
        time.sleep(0.3)
        assert preflight.clear_stale_locks(tmp_path) == []
        assert (locks / "0.input.lock").exists()
    finally:
        live.kill()
        live.wait()
    assert preflight.clear_stale_locks(tmp_path) == ["0.input.lock"]
    assert not (locks / "0.input.lock").exists()
    assert preflight.clear_stale_locks(tmp_path) == []


@pytest.mark.slow
@pytest.mark.workflow
def test_a_killed_run_recovers_with_a_plain_snakemake(workflow_project, tmp_path):
    clean, run = workflow_project
    assert run.returncode == 0, run.stderr[-3000:]
    project = copy_project(tmp_path / "project")
    job = subprocess.Popen([sys.executable, "-m", "snakemake"], cwd=project, start_new_session=True,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    # Kill it hard once validation is under way: locks and incomplete outputs are left behind.
    deadline = time.monotonic() + 120
    while not list((project / "data" / "interim" / "synthetic").glob("*.parquet")):
        assert time.monotonic() < deadline and job.poll() is None, "the run ended too soon"
        time.sleep(0.05)
    os.killpg(job.pid, signal.SIGKILL)
    job.wait()
    assert list((project / ".snakemake" / "locks").glob("*.lock")), "no lock left to recover from"
    recovered = snakemake(project)
    assert recovered.returncode == 0, recovered.stderr[-3000:]
    manifest = "results/synthetic/MANIFEST.sha256"
    assert (project / manifest).read_text() == (clean / manifest).read_text()


# ---- the terminal output reads ----------------------------------------------------------------


@pytest.mark.workflow
def test_the_terminal_output_says_what_each_job_does(workflow_project):
    project, run = workflow_project
    assert run.returncode == 0, run.stderr[-3000:]
    lines = (run.stdout + run.stderr).splitlines()
    assert max(map(len, lines)) <= 200, max(lines, key=len)
    assert not [line for line in lines if '{"' in line]  # no settings JSON
    assert "Validating data/raw/synthetic/cs_referrals.csv" in run.stderr
    assert "Fitting the targets' primary, sensitivity and placebo models" in run.stderr
    assert len(lines) < 300


def test_only_snakemakes_leftover_timers_are_cancelled_at_the_end():
    """The re-scheduling timer Snakemake's scheduler leaves running (the interpreter waits
    for it at exit) is cancelled; a timer of anyone else's is left alone."""
    import threading

    from snakemake.utils import min_version  # a function of Snakemake's own modules

    theirs = threading.Timer(60, min_version, args=("1.0",))
    ours = threading.Timer(60, print)
    theirs.start(), ours.start()
    try:
        assert preflight.cancel_scheduler_timers() == 1
        theirs.join(5)
        assert not theirs.is_alive() and ours.is_alive()
    finally:
        ours.cancel(), theirs.cancel()


def test_snakemakes_param_hashes_need_no_pandas_and_stay_the_same():
    """In a fresh interpreter, Snakemake's param serialiser, once patched, hashes plain params
    as it does without pandas and never imports pandas; unpatched it does import it (so the
    test can fail); a pandas param, once pandas is imported, is hashed by pandas as before;
    a persistence without these internals is left alone."""
    script = r"""
import sys
from types import SimpleNamespace
from snakemake.persistence.file import FilePersistence
from gf_eval import preflight

plain = ["results/x", 3, 0.5, [1, "a"], {"k": (1, 2)}, None, True, object()]
p = object.__new__(FilePersistence)
want = [FilePersistence._serialize_param_builtin(p, v) for v in plain]
assert preflight.params_without_pandas(p)
assert [p._serialize_param(v) for v in plain] == want
assert "pandas" not in sys.modules, "patched: imported pandas"
import pandas as pd
frame = pd.DataFrame({"a": [1, 2]})
assert p._serialize_param(frame) == repr(pd.util.hash_pandas_object(frame).tolist())
assert p._serialize_param("x") == "'x'"
assert not preflight.params_without_pandas(SimpleNamespace())
print("ok")
"""
    run = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert run.returncode == 0 and run.stdout.strip() == "ok", run.stderr[-2000:]
    unpatched = ("import sys\nfrom snakemake.persistence.file import FilePersistence\n"
                 "p = object.__new__(FilePersistence)\np._serialize_param('results/x')\n"
                 "print('pandas' in sys.modules)")  # fmt: skip
    run = subprocess.run([sys.executable, "-c", unpatched], capture_output=True, text=True)
    assert run.stdout.strip() == "True", run.stderr[-2000:]


def test_skip_final_collection_leaves_only_the_existing_objects_to_the_end():
    """After the call, cycles that already existed are out of the collector's reach (so the
    exit's collections skip them), cycles made afterwards are still collected, and plain
    objects are still freed when nothing refers to them."""
    script = r"""
import gc, weakref

class Node:
    pass

def cycle():
    a, b = Node(), Node()
    a.other, b.other = b, a
    return weakref.ref(a)

gc.disable()
old = cycle()
plain = Node()
gone = weakref.ref(plain)
assert preflight.skip_final_collection() > 0
gc.collect()
assert old() is not None, "an existing cycle was collected"
new = cycle()
gc.collect()
assert new() is None, "a later cycle was not collected"
del plain
assert gone() is None, "a plain object was kept"
print("ok")
"""
    run = subprocess.run([sys.executable, "-c", "from gf_eval import preflight\n" + script],
                         capture_output=True, text=True)  # fmt: skip
    assert run.returncode == 0 and run.stdout.strip() == "ok", run.stderr[-2000:]


def test_one_reevaluation_timer_wakes_the_scheduler_once_per_pending_timer():
    """However many rounds ask for a re-scheduling wake-up meanwhile, one timer is pending and
    it wakes the loop once; the round it wakes may start the next; the timer never holds the
    process at exit; a scheduler without these internals is left alone."""
    import threading
    from types import SimpleNamespace

    asked = []
    scheduler = SimpleNamespace(_open_jobs=threading.Semaphore(0),
                                _schedule_reevalutation=asked.append)  # fmt: skip
    before = threading.active_count()
    assert preflight.one_reevaluation_timer(scheduler)
    for _ in range(50):
        scheduler._schedule_reevalutation(0.2)
    assert threading.active_count() == before + 1 and asked == []
    timers = [t for t in threading.enumerate() if isinstance(t, threading.Timer)]
    assert timers and all(t.daemon for t in timers)
    assert scheduler._open_jobs.acquire(timeout=5)  # woken once
    assert not scheduler._open_jobs.acquire(timeout=0.5)  # and only once
    scheduler._schedule_reevalutation(0.05)  # the woken round starts the next
    assert scheduler._open_jobs.acquire(timeout=5)
    assert not preflight.one_reevaluation_timer(SimpleNamespace())
