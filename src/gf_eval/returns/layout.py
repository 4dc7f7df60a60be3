"""Where each return lives in a returns folder, which extracts it gives, and its importer.

    <returns>/cin_census/*.xml          one Children in Need census file per year
    <returns>/cin_census/families.csv   LAchildID,FamilyID from the case-management system
    <returns>/ssda903/*.csv             the SSDA903 tables (header, episodes) of each year
    <returns>/marac/*.xlsx|*.csv        the MARAC coordinator's case-level spreadsheet
    <returns>/casework/*.xlsx|*.csv     the casework books, one per worker or one in all
    <returns>/survey/*.csv|*.xlsx       the e-survey tool's export
    <returns>/mappings/<name>.yaml      optional: the authority's own mapping of a workbook;
                                        without it, config/mappings/<name>.yaml

Light on imports, so that the Snakefile can read it without loading pandas.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from gf_eval.config import PROJECT_ROOT


@dataclass(frozen=True)
class Return:
    name: str
    description: str
    patterns: tuple[str, ...]
    extracts: tuple[str, ...]
    mapped: bool = False  # read through a YAML mapping


RETURNS: dict[str, Return] = {
    r.name: r
    for r in (
        Return("cin_census", "Children in Need census XML", ("*.xml",),
               ("cs_children", "cs_referrals", "cs_assessments", "cs_factors", "cs_cp_plans")),
        Return("ssda903", "SSDA903 looked-after children CSVs", ("*.csv",), ("cs_looked_after",)),
        Return("marac", "MARAC case-level spreadsheet", ("*.xlsx", "*.csv"), ("marac_cases",),
               mapped=True),
        Return("casework", "casework books", ("*.xlsx", "*.csv"), ("casework",), mapped=True),
        Return("survey", "e-survey export", ("*.csv", "*.xlsx"), ("survey",), mapped=True),
    )
}  # fmt: skip
FAMILIES_FILE = "families.csv"
EXAMPLE_MAPPINGS = PROJECT_ROOT / "config" / "mappings"


def files(folder: str | Path, name: str) -> list[Path]:
    """The return's files in a returns folder, sorted (the census's families file apart)."""
    sub = Path(folder) / name
    found = {p for pattern in RETURNS[name].patterns for p in sub.glob(pattern) if p.is_file()}
    return sorted(p for p in found if p.name != FAMILIES_FILE and not p.name.startswith("~$"))


def families_file(folder: str | Path) -> Path | None:
    path = Path(folder) / "cin_census" / FAMILIES_FILE
    return path if path.is_file() else None


def mapping_file(folder: str | Path, name: str, examples: str | Path = EXAMPLE_MAPPINGS) -> Path:
    """The mapping of a workbook return: the folder's own, else the example in `examples`."""
    own = Path(folder) / "mappings" / f"{name}.yaml"
    return own if own.is_file() else Path(examples) / f"{name}.yaml"


def problems(folder: str | Path) -> list[str]:
    """What a returns folder lacks, one line each; empty when every return has a file."""
    folder = Path(folder)
    if not folder.is_dir():
        return [f"returns folder {folder} does not exist"]
    out = []
    for name, ret in RETURNS.items():
        if not files(folder, name):
            out.append(f"returns folder {folder} has no {ret.description} in {name}/ "
                       f"({' or '.join(ret.patterns)})")  # fmt: skip
        if ret.mapped and not mapping_file(folder, name).is_file():
            out.append(f"no mapping for {name}: {mapping_file(folder, name)} does not exist")
    return out


def read(folder: str | Path, name: str, mapping: str | Path | None = None) -> dict:
    """The return's tables, imported (keys still identifying; see gf_eval.returns)."""
    paths = files(folder, name)
    if name == "cin_census":
        from gf_eval.returns.cin_census import read_census

        return read_census(paths, families=families_file(folder))
    if name == "ssda903":
        from gf_eval.returns.ssda903 import read_ssda903

        return read_ssda903(paths)
    from gf_eval.returns.workbook import read_mapped

    return read_mapped(paths, mapping or mapping_file(folder, name))
