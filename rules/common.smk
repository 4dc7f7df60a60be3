# Helpers of the Snakefile: which files a step reads or writes.


def published(part):
    """The tables and figures one appendix part writes."""
    out = appendix.outputs(part)
    return [f"results/tables/{f}" for f in out["tables"]] + [
        f"results/figures/{f}" for f in out["figures"]
    ]


def parent_tables(wildcards):
    return {p: f"data/interim/{p}.parquet" for p in EXTRACTS[wildcards.extract].parents}
