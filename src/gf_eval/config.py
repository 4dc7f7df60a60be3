"""Load and check the workflow configuration, and the study calendar it defines.

JSON Schema (config/config.schema.yaml) checks shapes and types; `check_config` adds the rules a
schema cannot express, such as the order of the calendar dates.
"""

from __future__ import annotations

import calendar as _calendar
import copy
import datetime as dt
import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

if TYPE_CHECKING:
    import pandas as pd

PROJECT_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_CONFIG = PROJECT_ROOT / "config" / "config.yaml"
CONFIG_SCHEMA = PROJECT_ROOT / "config" / "config.schema.yaml"
SYNTHETIC = "synthetic"
SYNTHETIC_DIR = "data/raw/synthetic"
# The generator's raw returns (census XML, SSDA903 CSVs, workbooks) and their made-up key.
SYNTHETIC_RETURNS_DIR = "data/returns/synthetic"
SYNTHETIC_RETURNS_KEY = "data/returns/synthetic.key"
SYNTHETIC_RETURNS_TRUTH = "data/returns/synthetic.truth.json"
SYNTHETIC_RETURNS_SOURCE = "synthetic-returns"
PANEL_DIR = "data/raw/panel"


class ConfigError(ValueError):
    """The configuration breaks a rule; the message says which key and why."""


@dataclass(frozen=True)
class Calendar:
    """The study's dates. Month index t counts months from data_start (t = 0 in April 2012)."""

    history_start: pd.Timestamp
    data_start: pd.Timestamp
    data_end: pd.Timestamp
    intervention_start: pd.Timestamp
    funding_end: pd.Timestamp

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> Calendar:
        import pandas as pd  # here, not at the top: the Snakefile checks the config without it

        cal = config["calendar"]
        return cls(**{k: pd.Timestamp(cal[k]) for k in cls.__dataclass_fields__})

    def months(self, start: pd.Timestamp | None = None) -> pd.PeriodIndex:
        """Calendar months from `start` (default: data_start) to data_end."""
        import pandas as pd

        first = self.data_start if start is None else start
        return pd.period_range(first, self.data_end, freq="M")

    def month_index(self, date: pd.Timestamp) -> int:
        """Months from data_start: 0 for April 2012, negative in the history year."""
        return (date.year - self.data_start.year) * 12 + date.month - self.data_start.month

    @property
    def t0(self) -> int:
        """Month index of the first post-intervention month."""
        return self.month_index(self.intervention_start)

    @property
    def t_end(self) -> int:
        """Month index of the last month of data."""
        return self.month_index(self.data_end)


def load_config(path: str | Path = DEFAULT_CONFIG, overrides: dict | None = None) -> dict:
    """Read a YAML config, apply `overrides` (top-level keys), validate, and return it."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{path}: config file not found")
    with path.open(encoding="utf-8") as fh:
        config = yaml.safe_load(fh) or {}
    config.update(overrides or {})
    validate_config(config, source=str(path))
    return config


def load_configs(paths: list[str | Path], validate: bool = True) -> dict:
    """Several YAML configs merged in order, as `snakemake --configfile` merges them onto
    the Snakefile's own: a later file's mappings update the earlier ones' key by key."""
    config: dict = {}
    for path in map(Path, paths):
        if not path.is_file():
            raise ConfigError(f"{path}: config file not found")
        with path.open(encoding="utf-8") as fh:
            merge_config(config, yaml.safe_load(fh) or {})
    if validate:
        validate_config(config, source=" + ".join(map(str, paths)))
    return config


def merge_config(base: dict, update: dict) -> None:
    for key, value in update.items():
        if isinstance(value, dict) and isinstance(base.get(key), dict):
            merge_config(base[key], value)
        else:
            base[key] = value


def _jsonschema():
    """jsonschema, imported without rfc3987-syntax: jsonschema loads every optional format
    library it finds, and that one (which Jupyter installs) compiles 39 grammars on import, 1 to
    5 s in every process, for IRI formats our schema never uses."""
    if "jsonschema" not in sys.modules and "rfc3987_syntax" not in sys.modules:
        sys.modules["rfc3987_syntax"] = None  # makes its import fail, so jsonschema skips it
        try:
            import jsonschema
        finally:
            del sys.modules["rfc3987_syntax"]  # anything else may still import it
    import jsonschema

    return jsonschema


def site_config(config: dict, start: str) -> dict:
    """The config with a site's own intervention start."""
    out = copy.deepcopy(config)
    out["calendar"]["intervention_start"] = start
    return out


def load_schema(path: str | Path = CONFIG_SCHEMA) -> dict:
    """The config's JSON Schema, parsed once per process (with libyaml when PyYAML has it:
    the pure-Python parser took a tenth of a second of every `snakemake` call)."""
    path = Path(path).resolve()
    stat = path.stat()
    key = (str(path), stat.st_mtime_ns, stat.st_size)
    if key not in _SCHEMAS:
        loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
        _SCHEMAS[key] = yaml.load(path.read_text(encoding="utf-8"), Loader=loader)
    return copy.deepcopy(_SCHEMAS[key])


_SCHEMAS: dict[tuple, dict] = {}


def validate_config(config: dict, source: str = "config",
                    schema_path: str | Path = CONFIG_SCHEMA) -> None:  # fmt: skip
    """Check `config` against the JSON Schema and the calendar rules; raise ConfigError."""
    jsonschema = _jsonschema()
    schema = load_schema(schema_path)
    validator = jsonschema.Draft202012Validator(
        schema, format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER
    )
    errors = sorted(validator.iter_errors(config), key=lambda e: list(e.absolute_path))
    if errors:
        lines = [
            f"  {'/'.join(map(str, e.absolute_path)) or '(top level)'}: {e.message}" for e in errors
        ]
        raise ConfigError(f"{source}: config does not match its schema:\n" + "\n".join(lines))
    check_config(config, source)


def _day(value) -> dt.date:
    return dt.date.fromisoformat(str(value))


def add_months(day: dt.date, months: int) -> dt.date:
    """`day` moved by whole months, its day clipped to the month's length (as pandas'
    DateOffset(months=...))."""
    year, month = divmod(day.year * 12 + day.month - 1 + months, 12)
    return day.replace(year=year, month=month + 1,
                       day=min(day.day, _calendar.monthrange(year, month + 1)[1]))  # fmt: skip


def check_config(config: dict, source: str = "config") -> None:
    """Rules the JSON Schema cannot express: date order and windows inside the data. The
    standard library only, as the Snakefile runs it before any job."""
    order = ["history_start", "data_start", "intervention_start", "funding_end", "data_end"]
    cal = {k: _day(config["calendar"][k]) for k in order}
    dates = [cal[k] for k in order]
    if any(a >= b for a, b in zip(dates, dates[1:])):
        raise ConfigError(f"{source}: calendar dates must be in the order {' < '.join(order)}")
    if cal["data_start"].day != 1 or cal["intervention_start"].day != 1:
        raise ConfigError(f"{source}: calendar data_start and intervention_start must be 1st days")
    if (cal["data_end"] + dt.timedelta(days=1)).day != 1:
        raise ConfigError(f"{source}: calendar data_end must be the last day of a month")
    pre, post = (config["windows"][w] for w in ("pre", "post"))
    for name, win in (("pre", pre), ("post", post)):
        start, end = _day(win["start"]), _day(win["end"])
        if not (cal["data_start"] <= start <= end <= cal["data_end"]):
            raise ConfigError(f"{source}: windows/{name} must lie within data_start..data_end")
    if _day(pre["end"]) >= _day(post["start"]):
        raise ConfigError(f"{source}: windows/pre must end before windows/post starts")
    _check_multisite(config, cal, source)
    for start in config.get("analysis", {}).get("sensitivity", {}).get("placebo_starts", []):
        day = _day(start)
        if day.day != 1 or not (cal["data_start"] < day < cal["intervention_start"]):
            raise ConfigError(
                f"{source}: analysis/sensitivity/placebo_starts: {start} must be the 1st of a "
                "month after data_start and before intervention_start"
            )


def _check_multisite(config: dict, cal: dict[str, dt.date], source: str) -> None:
    multi = config.get("multisite") or {}
    horizon = int(multi.get("horizon_months", 0))
    starts = []
    if multi.get("sites"):
        starts = [s["intervention_start"] for s in multi["sites"].values()]
        if all(starts) or not any(starts):
            raise ConfigError(f"{source}: multisite/sites needs treated sites (a start date) and "
                              "comparison sites (intervention_start: null)")  # fmt: skip
    elif multi.get("panel"):
        panel = multi["panel"]
        if not 1 <= panel["treated"] < panel["n_sites"]:
            raise ConfigError(f"{source}: multisite/panel/treated must be from 1 to n_sites - 1")
        first = _day(panel["first_start"])
        starts = [add_months(first, i * panel["stagger_months"]) for i in range(panel["treated"])]
    for start in filter(None, starts):
        start = _day(start)
        if start.day != 1 or not cal["data_start"] < start:
            raise ConfigError(f"{source}: multisite: start {start:%Y-%m-%d} must be the 1st of a "
                              "month after data_start")  # fmt: skip
        if add_months(start, horizon) > cal["data_end"]:
            raise ConfigError(f"{source}: multisite: a site starting {start:%Y-%m-%d} has no data "
                              f"{horizon} months later (horizon_months)")  # fmt: skip


def synth_settings(config: dict) -> str:
    """The part of the config the generator reads, as canonical JSON (a rule's params)."""
    keys = ("seed", "calendar", "synthetic")
    return json.dumps({k: config[k] for k in keys}, sort_keys=True, separators=(",", ":"))


def returns_dir(config: dict) -> str | None:
    """The folder of raw returns the run imports and pseudonymises, or None when it reads
    extracts (the `returns` key: null, "synthetic" or a folder)."""
    returns = config.get("returns")
    if not returns:
        return None
    return SYNTHETIC_RETURNS_DIR if returns == SYNTHETIC else returns.rstrip("/")


def synthetic_data(config: dict) -> bool:
    """Whether the run's data are the generator's, read directly or through its raw returns."""
    return config.get("returns") == SYNTHETIC or (not config.get("returns")
                                                    and config["extracts"] == SYNTHETIC)  # fmt: skip


def data_source(config: dict) -> str:
    """The data source as provenance records it: "synthetic", an extract folder, or
    "returns:" and the folder of returns."""
    if config.get("returns"):
        return f"returns:{config['returns'].rstrip('/')}"
    return SYNTHETIC if config["extracts"] == SYNTHETIC else config["extracts"].rstrip("/")


def truth_path(config: dict) -> str | None:
    """The generator's truth.json on synthetic data, else None."""
    if not synthetic_data(config):
        return None
    return SYNTHETIC_RETURNS_TRUTH if config.get("returns") else f"{SYNTHETIC_DIR}/truth.json"


def extract_dir(config: dict) -> str:
    """The folder the workflow reads extracts from: the generator's, a folder of extracts,
    or, for a run from returns, data/raw/<source> where the pseudonymised extracts go."""
    if config.get("returns"):
        return f"data/raw/{source_name(config)}"
    return SYNTHETIC_DIR if config["extracts"] == SYNTHETIC else config["extracts"].rstrip("/")


MULTISITE = "multisite"


def source_name(config: dict) -> str:
    """The name of the run's extract source, which names its own output trees: "synthetic"
    for the embedded generator, "synthetic-returns" for its raw returns, "multisite" for a run
    over many sites, else the name of the extract or returns folder (data/raw/doncaster gives
    "doncaster")."""
    if (config.get("multisite") or {}).get("sites") or (config.get("multisite") or {}).get("panel"):
        return MULTISITE
    if config.get("returns"):
        if config["returns"] == SYNTHETIC:
            return SYNTHETIC_RETURNS_SOURCE
        return Path(config["returns"].rstrip("/")).name
    if config["extracts"] == SYNTHETIC:
        return SYNTHETIC
    return Path(config["extracts"].rstrip("/")).name


def interim_dir(config: dict) -> str:
    """Where the source's typed and derived tables go: data/interim/<source>."""
    return f"data/interim/{source_name(config)}"


def results_dir(config: dict) -> str:
    """Where the source's results go: results/<source> (tables, figures, report, audit)."""
    return f"results/{source_name(config)}"
