# gf-eval workflow: raw extracts -> validation -> typed interim tables.
# A thin map of the data flow; every step is a `gf-eval` subcommand.
from snakemake.utils import min_version, validate
from gf_eval.config import SYNTHETIC_DIR, check_config, extract_dir, synth_settings
from gf_eval.extracts import EXTRACTS
import json
import os
import sys

min_version("8.0")


configfile: "config/config.yaml"


validate(config, "config/config.schema.yaml")
check_config(config)


envvars:
    "PATH",


# Jobs find the `gf-eval` command of the environment that runs Snakemake, activated or not.
os.environ["PATH"] = os.pathsep.join(
    [os.path.dirname(sys.executable), os.environ["PATH"]]
)
RAW = extract_dir(config)
CALENDAR = json.dumps(config["calendar"], sort_keys=True)


wildcard_constraints:
    extract="|".join(EXTRACTS),


def parent_tables(wildcards):
    return {p: f"data/interim/{p}.parquet" for p in EXTRACTS[wildcards.extract].parents}


rule all:
    input:
        expand("data/interim/{extract}.parquet", extract=EXTRACTS),


# The embedded default: writes the synthetic extracts only when extracts=synthetic needs them.
rule synthesise:
    output:
        expand("{dir}/{extract}.csv", dir=SYNTHETIC_DIR, extract=EXTRACTS),
        truth=f"{SYNTHETIC_DIR}/truth.json",
    log:
        "logs/synthesise.log",
    conda:
        "environment.yml"
    params:
        settings=synth_settings(config),
        out=lambda wc, output: os.path.dirname(output.truth),
    shell:
        "gf-eval synth --out {params.out} --settings {params.settings:q} --log {log}"


# One job per extract; a table's parents are validated first, for the cross-table rules.
# The report is declared as a log so that it survives a failed validation.
rule validate:
    input:
        unpack(lambda wc: {"raw": f"{RAW}/{wc.extract}.csv", **parent_tables(wc)}),
    output:
        "data/interim/{extract}.parquet",
    log:
        report="results/validation/{extract}.json",
        messages="logs/validate/{extract}.log",
    conda:
        "environment.yml"
    params:
        parents=lambda wc, input: " ".join(
            f"--parent {p}={input[p]}" for p in EXTRACTS[wc.extract].parents
        ),
        calendar=CALENDAR,
    shell:
        "gf-eval validate {wildcards.extract} --raw {input.raw} --out {output}"
        " --report {log.report} {params.parents} --calendar {params.calendar:q}"
        " --log {log.messages}"
