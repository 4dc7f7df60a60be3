# Helpers of the Snakefile: which files a step reads or writes.


def published(part):
    """The tables and figures one appendix part writes."""
    out = appendix.outputs(part)
    return [f"{RESULTS}/tables/{f}" for f in out["tables"]] + [
        f"{RESULTS}/figures/{f}" for f in out["figures"]
    ]


def parent_tables(wildcards):
    return {p: f"{INTERIM}/{p}.parquet" for p in EXTRACTS[wildcards.extract].parents}


def settings(name):
    """The settings file a step reads (written when the workflow is built)."""
    return f"{SETTINGS_DIR}/{name}.json"
