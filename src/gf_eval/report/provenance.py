"""Provenance, the manifest of outputs, and the audit of a results folder.

Each extract source has its own output trees, data/interim/<source>/ and results/<source>/.
`results/<source>/provenance.json` records what made the outputs: the git commit (and whether
the tree was dirty), the package versions, the effective config and its hash, the config files
and command-line overrides it was made from, the sha256 of every raw input, the seeds, and
checksums of the code. `results/<source>/MANIFEST.sha256` lists every output file of the source
in the format of `sha256sum`, so `sha256sum -c results/<source>/MANIFEST.sha256` checks it from
the project root. Neither holds the time of the run: the same inputs, config and code give the
same bytes.
"""

from __future__ import annotations

import json
import platform
import subprocess
from importlib import metadata
from pathlib import Path

from gf_eval.config import (ConfigError, data_source, extract_dir, interim_dir, load_configs,
                            merge_config, results_dir, synthetic_data, truth_path,
                            validate_config)  # fmt: skip
from gf_eval.layout import SERIES_EXTRACTS
from gf_eval.sites import multisite_sites
from gf_eval.extracts import EXTRACTS
from gf_eval.files import sha256, tree_sha256, write_text

PACKAGES = ("gf-eval", "pandas", "numpy", "statsmodels", "scipy", "pandera", "snakemake",
            "matplotlib", "pyarrow", "pyyaml", "jsonschema")  # fmt: skip
MANIFEST = "MANIFEST.sha256"
PROVENANCE = "provenance.json"


def output_dirs(config: dict) -> tuple[str, str]:
    """The source's output folders the manifest covers, relative to the project root."""
    return interim_dir(config), results_dir(config)


def config_sha256(config: dict) -> str:
    import hashlib

    text = json.dumps(config, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


def raw_inputs(config: dict) -> list[str]:
    """The raw files the run read, relative to the project root: every site's series
    extracts in a multi-site run, else every extract of the single site with the unit costs
    and deflators its value-for-money part read."""
    sites = multisite_sites(config)
    if sites:
        files = []
        for info in sites.values():
            # a treated site's whole evaluation reads all nine extracts
            names = EXTRACTS if info["intervention_start"] else SERIES_EXTRACTS
            files += [f"{info['extracts']}/{EXTRACTS[e].filename}" for e in names]
            if info["settings"] is not None:  # a synthetic panel site
                files.append(f"{info['extracts']}/truth.json")
        return files
    folder = extract_dir(config)
    files = [f"{folder}/{e.filename}" for e in EXTRACTS.values()]
    if synthetic_data(config):
        files.append(truth_path(config))
    vfm = config["value_for_money"]
    return [*files, vfm["unit_costs_file"], vfm["deflators_file"]]


def _git(root: Path) -> dict:
    def run(*args: str) -> str | None:
        try:
            out = subprocess.run(["git", *args], cwd=root, capture_output=True, text=True,
                                 check=True)  # fmt: skip
        except (OSError, subprocess.CalledProcessError):
            return None
        return out.stdout.strip()

    commit = run("rev-parse", "HEAD")
    if commit is None:
        return {"commit": None, "dirty": None, "note": "not a git checkout"}
    # Untracked files that git ignores (data, results, logs) do not make the tree dirty.
    return {"commit": commit, "dirty": bool(run("status", "--porcelain"))}


def _versions() -> dict[str, str | None]:
    out = {}
    for name in PACKAGES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = None
    return out


def code_checksums(root: Path) -> dict[str, str]:
    """The package that is running (wherever it is installed) and the workflow's Snakefile."""
    import gf_eval

    return {"gf_eval": tree_sha256(Path(gf_eval.__file__).parent),
            "Snakefile": sha256(root / "Snakefile")}  # fmt: skip


def provenance(root: str | Path, config: dict, run: dict | None = None) -> dict:
    root = Path(root)
    return {
        "run": run or {"config_files": ["config/config.yaml"], "overrides": {}},
        "git": _git(root),
        "python": platform.python_version(),
        "packages": _versions(),
        "config": config,
        "config_sha256": config_sha256(config),
        "data_source": data_source(config),
        "inputs": {path: sha256(root / path) for path in raw_inputs(config)},
        "seeds": {"seed": config["seed"], "used_by": "the synthetic generator (one stream per "
                  "extract family, spawned from the seed) and the casework bootstrap"},
        "code": code_checksums(root),
        **({"sites": _sites(config)} if multisite_sites(config) else {}),
    }


def _sites(config: dict) -> dict[str, dict]:
    """A multi-site run's sites: folder, start and, for a synthetic panel, the site's seed."""
    return {site: {"extracts": info["extracts"], "intervention_start": info["intervention_start"],
                   **({"seed": info["settings"]["seed"]} if info["settings"] else {})}
            for site, info in multisite_sites(config).items()}  # fmt: skip


def manifest_lines(root: Path, folders: tuple[str, ...], skip: tuple[str, ...] = ()) -> list[str]:
    lines = []
    for folder in folders:
        for path in sorted((root / folder).rglob("*")):
            rel = path.relative_to(root).as_posix()
            # README.md files are the repository's own, not outputs; dot files are temporary.
            if path.is_file() and rel not in skip and not path.name.startswith(".") \
                    and path.name != "README.md":
                lines.append(f"{sha256(path)}  {rel}")
    return sorted(lines, key=lambda line: line.split("  ", 1)[1])


def write(root: str | Path, config: dict, run: dict | None = None) -> list[Path]:
    """Write provenance.json, then the manifest of every output of the run's source
    (provenance included)."""
    root = Path(root)
    results = root / results_dir(config)
    write_text(results / PROVENANCE, json.dumps(provenance(root, config, run), indent=2,
                                                sort_keys=True) + "\n")  # fmt: skip
    manifest = results / MANIFEST
    lines = manifest_lines(root, output_dirs(config), skip=(f"{results_dir(config)}/{MANIFEST}",))
    write_text(manifest, "\n".join(lines) + "\n")
    return [results / PROVENANCE, manifest]


def audit(root: str | Path, results: str | Path = "results/synthetic",
          config_paths: list[str | Path] | None = None) -> tuple[list[str], list[str]]:
    """(differences, notes) between a run's results folder and its manifest, the current raw
    inputs, config and code; no differences means everything still matches.

    The config compared with is the run's own: its config files (or `config_paths`), merged
    in order as Snakemake merges them, with the run's command-line overrides applied on top.
    """
    root = Path(root)
    folder = root / results
    problems: list[str] = []
    notes: list[str] = []
    manifest, prov_path = folder / MANIFEST, folder / PROVENANCE
    if not manifest.is_file() or not prov_path.is_file():
        return [f"{MANIFEST} or {PROVENANCE} not found in {folder}: run `snakemake` first, or "
                "name the run's folder with --results"], notes  # fmt: skip
    prov = json.loads(prov_path.read_text(encoding="utf-8"))
    run = prov.get("run") or {"config_files": ["config/config.yaml"], "overrides": {}}
    listed = {}
    for line in manifest.read_text(encoding="utf-8").splitlines():
        digest, _, rel = line.partition("  ")
        listed[rel] = digest
    skip = (Path(results, MANIFEST).as_posix(),)
    current = dict(reversed(line.split("  ", 1))
                   for line in manifest_lines(root, output_dirs(prov["config"]), skip))  # fmt: skip
    for rel, digest in listed.items():
        if rel not in current:
            problems.append(f"missing output: {rel}")
        elif current[rel] != digest:
            problems.append(f"output changed since the run: {rel}")
    problems += [f"output not in the manifest: {rel}" for rel in current if rel not in listed]

    for rel, digest in prov["inputs"].items():
        path = root / rel
        if not path.is_file():
            problems.append(f"raw input missing: {rel}")
        elif sha256(path) != digest:
            problems.append(f"raw input changed since the run: {rel}")
    files = [str(p) for p in config_paths] if config_paths else run["config_files"]
    config = load_configs([p if Path(p).is_absolute() else root / p for p in files],
                          validate=False)  # fmt: skip
    merge_config(config, run["overrides"])
    try:
        validate_config(config, source=" + ".join(files))
    except ConfigError as err:
        problems.append(str(err))
    notes.append(f"config compared: {' + '.join(files)}"
                 + (f", with the run's command-line overrides of {', '.join(sorted(run['overrides']))}"
                    if run["overrides"] else ""))  # fmt: skip
    if config_sha256(config) != prov["config_sha256"]:
        keys = sorted(k for k in set(config) | set(prov["config"])
                      if config.get(k) != prov["config"].get(k))  # fmt: skip
        problems.append(f"config differs from the run's in: {', '.join(keys)}")
    for name, digest in code_checksums(root).items():
        if prov["code"].get(name) != digest:
            problems.append(f"code differs from the run's: {name}")
    return problems, notes
