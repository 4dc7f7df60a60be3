# Helpers of the Snakefile: which files a step reads or writes.


def published(part):
    """The tables and figures one appendix part writes."""
    out = part_files(part)
    return [f"{RESULTS}/tables/{f}" for f in out["tables"]] + [
        f"{RESULTS}/figures/{f}" for f in out["figures"]
    ]


def parent_tables(wildcards):
    return {p: f"{INTERIM}/{p}.parquet" for p in EXTRACTS[wildcards.extract].parents}


def settings(name):
    """The settings file a step reads (written when the workflow is built)."""
    return f"{SETTINGS_DIR}/{name}.json"


def return_files(name):
    """A return's files (with the census's families file) and a workbook's mapping: the
    folder's own, else the example in config/mappings. The synthetic returns are one folder,
    written by one rule with their key."""
    ret = return_layout.RETURNS[name]
    mapping = (
        [str(return_layout.mapping_file(RETURNS, name, "config/mappings"))]
        if ret.mapped
        else []
    )
    if config["returns"] == "synthetic":
        return {"returns": [RETURNS, SYNTHETIC_RETURNS_KEY], "mapping": mapping}
    files = [str(p) for p in return_layout.files(RETURNS, name)]
    if name == "cin_census" and return_layout.families_file(RETURNS):
        files.append(str(return_layout.families_file(RETURNS)))
    return {"returns": files, "mapping": mapping}
