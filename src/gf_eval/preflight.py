"""What the Snakefile needs before any job starts: the command-line overrides typed as the
config schema says, the extract folder checked, the run's settings files, and stale locks of a
killed run cleared; and, once the run is over, the timer Snakemake's scheduler leaves behind.
Light on purpose: only the standard library and PyYAML, so that building
the workflow stays cheap."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path


from gf_eval.config import (CONFIG_SCHEMA, MULTISITE, SYNTHETIC, SYNTHETIC_RETURNS_SOURCE,
                            ConfigError, data_source, extract_dir, load_schema, results_dir,
                            returns_dir, source_name)  # fmt: skip
from gf_eval.extracts import EXTRACTS

SOURCE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")


def typed_overrides(overrides: dict, schema: dict | None = None) -> dict:
    """`snakemake --config` values typed as the schema says.

    Snakemake reads `--config key=value` with YAML's base loader, so every value nested in a
    mapping (`--config synthetic='{scale: 0.05}'`) arrives as a string. A string is turned into
    a number, boolean or null only where the schema allows that type and not a string, so that
    `scenario: "null"` or a date stays as written.
    """
    if schema is None:
        schema = load_schema(CONFIG_SCHEMA)
    return _typed(overrides, schema, schema)


def _resolve(node: dict, root: dict) -> dict:
    """A schema node with its local $ref (#/...) followed."""
    ref = node.get("$ref", "") if isinstance(node, dict) else ""
    if not ref.startswith("#/"):
        return node if isinstance(node, dict) else {}
    target = root
    for part in ref[2:].split("/"):
        target = target[part]
    return {**_resolve(target, root), **{k: v for k, v in node.items() if k != "$ref"}}


def _property(node: dict, key: str, root: dict) -> dict:
    props = node.get("properties", {})
    if key in props:
        return _resolve(props[key], root)
    extra = node.get("additionalProperties")
    return _resolve(extra, root) if isinstance(extra, dict) else {}


def _types(node: dict, root: dict) -> set[str]:
    kind = node.get("type")
    kinds = set(kind) if isinstance(kind, list) else {kind} if kind else set()
    for key in ("anyOf", "oneOf"):
        for option in node.get(key, []):
            kinds |= _types(_resolve(option, root), root)
    if "enum" in node:
        kinds |= {_json_type(v) for v in node["enum"]}
    return kinds


def _json_type(value) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "number"
    return "string"


def _typed(value, node: dict, root: dict):
    node = _resolve(node, root)
    if isinstance(value, dict):
        return {k: _typed(v, _property(node, k, root), root) for k, v in value.items()}
    if isinstance(value, list):
        return [_typed(v, node.get("items", {}), root) for v in value]
    if not isinstance(value, str):
        return value
    kinds = _types(node, root)
    if not kinds or "string" in kinds:
        return value
    if "null" in kinds and value in ("null", "~", ""):
        return None
    if "boolean" in kinds and value.lower() in ("true", "false"):
        return value.lower() == "true"
    if kinds & {"integer", "number"}:
        try:
            number = float(value)
        except ValueError:
            return value  # left for the schema to refuse, naming the key
        if "integer" in kinds and number.is_integer() and "number" not in kinds:
            return int(number)
        return int(number) if number.is_integer() and "." not in value.lower() \
            and "e" not in value.lower() else number
    return value


def or_exit(check, *args) -> None:
    """Run a check of the Snakefile's; on a ConfigError stop with its message alone, not a
    traceback into the package."""
    try:
        check(*args)
    except ConfigError as err:
        raise SystemExit(f"gf-eval: {err}") from None


def _check_returns(config: dict, root: Path) -> None:
    """A run from returns: one source at a time, every return present and a key to hand."""
    from gf_eval.returns import ReturnError, layout
    from gf_eval.returns.pseudonymise import load_key

    if (config.get("multisite") or {}).get("sites") or (config.get("multisite") or {}).get("panel"):
        raise ConfigError("returns: a run from returns covers one site; leave out the "
                          "multi-site config")  # fmt: skip
    if config["returns"] == SYNTHETIC:
        return
    name = source_name(config)
    if name in (SYNTHETIC, SYNTHETIC_RETURNS_SOURCE, MULTISITE):
        raise ConfigError(f"returns: a returns folder named {name!r} would share the output "
                          "trees of the embedded data; rename the folder")  # fmt: skip
    problems = layout.problems(root / returns_dir(config))
    if problems:
        raise ConfigError("no job was started:\n  " + "\n  ".join(problems))
    try:
        load_key()
    except ReturnError as err:
        raise ConfigError(f"no job was started: {err}") from None


def key_id(config: dict) -> str:
    """A one-way tag of the run's pseudonymisation key, so that a new key reruns the imports:
    the synthetic returns' key is fixed by the seed."""
    from gf_eval.returns.pseudonymise import key_id as tag, load_key

    if not config.get("returns"):
        return ""
    if config["returns"] == SYNTHETIC:
        return f"synthetic seed {config['seed']}"
    return tag(load_key())


def check_extracts(config: dict, root: str | Path = ".") -> None:
    """Refuse, before any job starts, a run whose extracts are missing or whose source name
    would mix its outputs with another folder's. The message names the folder and each
    missing file."""
    from gf_eval.layout import SERIES_EXTRACTS
    from gf_eval.sites import multisite_sites

    root = Path(root)
    sites = multisite_sites(config)
    if sites:
        # A treated site gets the whole evaluation, so all nine; a comparison site its series'.
        folders = {info["extracts"]: [EXTRACTS[e].filename for e in
                                      (EXTRACTS if info["intervention_start"] else SERIES_EXTRACTS)]
                   for info in sites.values() if info["settings"] is None}  # fmt: skip
    elif config.get("returns"):
        folders = {}
        _check_returns(config, root)
    elif config["extracts"] == SYNTHETIC:
        folders = {}
    else:
        folders = {extract_dir(config): [e.filename for e in EXTRACTS.values()]}
    problems = []
    for folder, files in folders.items():
        if not (root / folder).is_dir():
            problems.append(f"extract folder {folder} does not exist (expected the files "
                            f"{', '.join(files)})")  # fmt: skip
            continue
        missing = [f for f in files if not (root / folder / f).is_file()]
        if missing:
            problems.append(f"extract folder {folder} lacks {len(missing)} of its "
                            f"{len(files)} files: {', '.join(missing)}")  # fmt: skip
    if problems:
        raise ConfigError("no job was started:\n  " + "\n  ".join(problems))
    name = source_name(config)
    if not SOURCE_NAME.fullmatch(name):
        raise ConfigError(f"extracts: the folder name {name!r} names the output trees "
                          "(data/interim/<name>, results/<name>); use letters, digits, '.', "
                          "'_' or '-'")  # fmt: skip
    recorded = root / results_dir(config) / "provenance.json"
    if recorded.is_file() and not sites:
        try:
            earlier = json.loads(recorded.read_text(encoding="utf-8"))["data_source"]
        except (ValueError, KeyError):
            earlier = None
        current = data_source(config)
        if earlier is not None and earlier.rstrip("/") != current.rstrip("/"):
            raise ConfigError(f"extracts: {results_dir(config)} holds the results of {earlier}, "
                              f"not {current}; rename the folder so that each source keeps "
                              "its own results")  # fmt: skip


def settings_texts(config: dict, config_settings=None, root: str | Path = ".") -> dict[str, str]:
    """The settings each step reads, as canonical JSON, by the name of its file: the
    generator's (synth), the calendar validation bounds dates with, the whole config for the
    steps after validation, each synthetic panel site's generator settings, and how the run
    was configured (run: the config files in order and the command-line overrides), which
    the audit needs to compare like with like."""
    from gf_eval.config import synth_settings
    from gf_eval.sites import multisite_sites

    texts = {"synth": synth_settings(config), "calendar": _dumps(config["calendar"]),
             "config": _dumps(config),
             "run": _dumps(run_record(config_settings, root))}  # fmt: skip
    for site, info in multisite_sites(config).items():
        if info["settings"] is not None:
            texts[f"panel_{site}"] = _dumps(info["settings"])
    return texts


def run_record(config_settings=None, root: str | Path = ".") -> dict:
    """The config files of the run, in the order they were merged, and the `--config`
    overrides, typed as the workflow used them."""
    files = ["config/config.yaml"]
    overrides: dict = {}
    if config_settings is not None:
        base = Path(root).resolve()
        for path in config_settings.configfiles:
            path = Path(path).resolve()
            rel = path.relative_to(base).as_posix() if path.is_relative_to(base) else str(path)
            if rel not in files:
                files.append(rel)
        overrides = typed_overrides(dict(config_settings.config or {}))
    return {"config_files": files, "overrides": overrides}


def _dumps(value) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"))


def write_settings(folder: str | Path, texts: dict[str, str]) -> None:
    """Write each settings file whose text differs from what is there (all or nothing per
    file); an unchanged file keeps its time stamp, so its readers are not rerun."""
    from gf_eval.files import write_text

    for name, text in texts.items():
        path = Path(folder, f"{name}.json")
        text += "\n"
        if not path.is_file() or path.read_text(encoding="utf-8") != text:
            write_text(path, text)


def clear_stale_locks(root: str | Path = ".") -> list[str]:
    """Remove the locks a killed Snakemake left in `root`, when no other Snakemake process
    works there; return what was removed. A run stopped by SIGKILL or a power cut cannot
    release its locks, and without this a plain `snakemake` would refuse to start."""
    locks = Path(root, ".snakemake", "locks")
    held = sorted(locks.glob("*.lock")) if locks.is_dir() else []
    if not held or _other_snakemake_running(Path(root).resolve()):
        return []
    for path in held:
        path.unlink(missing_ok=True)
    return [p.name for p in held]


def _other_snakemake_running(root: Path) -> bool:
    """Whether a Snakemake process other than this one (and its parents) works in `root`.
    Where /proc cannot tell (not Linux), assume one does and leave the locks alone."""
    proc = Path("/proc")
    if not (proc / "self").exists():
        return True
    mine = set()
    pid = os.getpid()
    while pid > 1:
        mine.add(pid)
        try:
            pid = int((proc / str(pid) / "stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            break
    for entry in proc.iterdir():
        if not entry.name.isdigit() or int(entry.name) in mine:
            continue
        try:
            cmd = (entry / "cmdline").read_bytes().split(b"\0")
            cwd = Path(os.readlink(entry / "cwd")).resolve()
        except OSError:
            continue
        if cwd == root and any(part.endswith(b"snakemake") for part in cmd):
            return True
    return False


def cancel_scheduler_timers() -> int:
    """Cancel the re-scheduling timers Snakemake's job scheduler has left running; returns how
    many. Each scheduling round starts a one-second `threading.Timer` (its job-rate limit's
    re-evaluation), and the interpreter waits for the last one before it exits: up to a second
    added to every run. Called from `onsuccess`/`onerror`, when nothing is left to schedule."""
    import threading

    cancelled = 0
    for thread in threading.enumerate():
        fn = getattr(thread, "function", None)
        if isinstance(thread, threading.Timer) and getattr(fn, "__module__", "").startswith("snakemake"):
            thread.cancel()
            cancelled += 1
    return cancelled


def params_without_pandas(persistence) -> bool:
    """Let Snakemake hash a finished job's params without importing pandas; returns whether
    this Snakemake could be given this. Its serialiser imports pandas to ask whether each
    value is a DataFrame, Series or Index (0.4 s of CPU and about 40 MiB in Snakemake's
    process, in every run that finishes a job). No value is a pandas object unless pandas is
    imported, so the question is asked only then; without pandas a value is serialised as
    Snakemake does when pandas is not installed. The hashes are the same either way."""
    import inspect
    import sys

    cls = type(persistence)
    plain = getattr(cls, "_serialize_param_builtin", None)
    with_pandas = getattr(cls, "_serialize_param_pandas", None)
    if not (callable(plain) and callable(with_pandas)
            and isinstance(inspect.getattr_static(cls, "_serialize_param", None), property)):  # fmt: skip
        return False  # another Snakemake: its own serialiser

    def serialize(self, value):
        return (with_pandas if "pandas" in sys.modules else plain)(self, value)

    cls._serialize_param = property(lambda self: serialize.__get__(self))
    return True


def skip_final_collection() -> int:
    """Spare the end of the run the interpreter's last garbage collections of Snakemake's
    heap (0.3 s between Snakemake's last line and its exit, after every run); returns how
    many objects that leaves out. Called from `onsuccess` and `onerror`, when the run's work
    is written: the objects already there are moved out of the collector's reach
    (`gc.freeze`), so only what is created after is collected. They are freed as usual when
    nothing refers to them; only cycles among them are left to the process's end."""
    import gc

    gc.freeze()
    return gc.get_freeze_count()


def one_reevaluation_timer(scheduler) -> bool:
    """Keep at most one of the re-scheduling timers of Snakemake's job scheduler pending;
    returns whether the scheduler could be given this. Each round of the scheduler's loop
    that leaves ready jobs waiting (for a core) starts a one-second `threading.Timer` that
    wakes the loop again (for its job-rate limit), and the round that timer wakes starts
    another: a chain that lasts while any job waits, and one more chain each time a job ends.
    A 30-site run ran the loop 2,069 times for 69 jobs, each round checking the size of
    every waiting job's inputs. One pending timer wakes the loop as early as the many did;
    a finished job wakes it in any case. The timer is a daemon, so it never holds the
    process at exit. Called from `onstart`, before the first round."""
    import threading

    release = getattr(getattr(scheduler, "_open_jobs", None), "release", None)
    if not callable(release) or not callable(getattr(scheduler, "_schedule_reevalutation", None)):
        return False  # another Snakemake: its own timers, cancelled at the end
    lock = threading.Lock()
    pending: list[threading.Timer] = []

    def fire() -> None:
        with lock:
            pending.clear()  # before the wake-up, so that the round it wakes may start one
        release()

    def schedule(delay: float) -> None:
        with lock:
            if pending:
                return
            timer = threading.Timer(delay, fire)
            timer.daemon = True
            pending.append(timer)
            timer.start()

    scheduler._schedule_reevalutation = schedule
    return True
