# gf-eval workflow: raw extracts -> validation -> typed interim tables -> derived series and
# cohorts -> models -> appendix tables and figures.
# A thin map of the data flow; every step is a `gf-eval` subcommand.
from snakemake.utils import min_version, validate
from gf_eval.config import SYNTHETIC_DIR, check_config, extract_dir, synth_settings
from gf_eval.extracts import EXTRACTS
from gf_eval.derive import DERIVED, INPUTS
from gf_eval.derive.site import SERIES_EXTRACTS, multisite_sites
from gf_eval.analysis import MODEL_FILES
from gf_eval import appendix
from gf_eval.appendix import multisite_figures
from gf_eval.appendix.targets_tables import FIGURES as TARGET_FIGURES
from gf_eval.files import tree_sha256
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
# The whole config, for the steps after validation; a change to it reruns them.
SETTINGS = json.dumps(config, sort_keys=True, separators=(",", ":"))
# The package's code as a parameter of every rule: a change to it reruns what it affects.
CODE = tree_sha256(os.path.dirname(os.path.dirname(appendix.__file__)))


wildcard_constraints:
    extract="|".join(EXTRACTS),


include: "rules/common.smk"


# Everything the report and the audit trail are made from.
OUTPUTS = [
    *expand("data/interim/{extract}.parquet", extract=EXTRACTS),
    *expand("data/interim/derived/{name}.parquet", name=DERIVED),
    *expand("results/working/models/{file}", file=MODEL_FILES),
    *[f for part in appendix.PARTS for f in published(part)],
]


# With config/multisite.yaml the run covers many sites; without it, the single site.
MULTISITE = multisite_sites(config)
PANEL = bool(MULTISITE) and not config["multisite"].get("sites")
MULTISITE_OUTPUTS = [
    f"results/multisite/{name}.csv"
    for name in ("site_estimates", "pooled", *(["truth_check"] if PANEL else []))
]
SITE_TABLES = ("targets", "target_prepost", "target_sensitivity")
TREATED = [s for s, info in MULTISITE.items() if info["intervention_start"]]
# Each treated site's own tables and figures, and the forest plots across sites.
SITE_FILES = [
    *[f"{t}.{ext}" for t in SITE_TABLES for ext in ("csv", "json")],
    *[f"{f}.{ext}" for f in TARGET_FIGURES for ext in ("png", "svg", "json")],
]
FOREST_FILES = expand(
    "results/multisite/figures/{figure}.{ext}",
    figure=multisite_figures.FIGURES,
    ext=("png", "svg", "json"),
)
# What the provenance record and the manifest are written after.
FINAL = (
    MULTISITE_OUTPUTS
    + FOREST_FILES
    + ["results/multisite/report.html"]
    + expand("results/multisite/sites/{site}/{file}", site=TREATED, file=SITE_FILES)
    if MULTISITE
    else OUTPUTS + ["results/report.html"]
)


rule all:
    input:
        "results/provenance.json",
        "results/MANIFEST.sha256",


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
        code=CODE,
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
        code=CODE,
        parents=lambda wc, input: " ".join(
            f"--parent {p}={input[p]}" for p in EXTRACTS[wc.extract].parents
        ),
        calendar=CALENDAR,
    shell:
        "gf-eval validate {wildcards.extract} --raw {input.raw} --out {output}"
        " --report {log.report} {params.parents} --calendar {params.calendar:q}"
        " --log {log.messages}"


rule derive:
    input:
        expand("data/interim/{extract}.parquet", extract=INPUTS),
    output:
        expand("data/interim/derived/{name}.parquet", name=DERIVED),
    log:
        "logs/derive.log",
    conda:
        "environment.yml"
    params:
        code=CODE,
        settings=SETTINGS,
        out=lambda wc, output: os.path.dirname(output[0]),
    shell:
        "gf-eval derive --interim data/interim --out {params.out}"
        " --settings {params.settings:q} --log {log}"


rule models:
    input:
        series="data/interim/derived/monthly_series.parquet",
        # On synthetic data the true effects are compared with the estimates.
        truth=[f"{SYNTHETIC_DIR}/truth.json"] if RAW == SYNTHETIC_DIR else [],
    output:
        expand("results/working/models/{file}", file=MODEL_FILES),
    log:
        "logs/models.log",
    conda:
        "environment.yml"
    params:
        code=CODE,
        settings=SETTINGS,
        out=lambda wc, output: os.path.dirname(output[0]),
    shell:
        "gf-eval models --series {input.series} --out {params.out}"
        " --settings {params.settings:q} --log {log}"
        + (" --truth {input.truth}" if RAW == SYNTHETIC_DIR else "")


rule targets:
    input:
        "data/interim/derived/monthly_series.parquet",
        expand("results/working/models/{file}", file=MODEL_FILES),
    output:
        published("targets"),
    log:
        "logs/appendix/targets.log",
    conda:
        "environment.yml"
    params:
        code=CODE,
        settings=SETTINGS,
    shell:
        "gf-eval appendix targets --settings {params.settings:q} --log {log}"


rule appendix5:
    input:
        "data/interim/derived/marac_cases.parquet",
    output:
        published("5"),
    log:
        "logs/appendix/appendix5.log",
    conda:
        "environment.yml"
    params:
        code=CODE,
        settings=SETTINGS,
    shell:
        "gf-eval appendix 5 --settings {params.settings:q} --log {log}"


rule appendix6:
    input:
        expand("data/interim/derived/{name}.parquet", name=DERIVED),
        expand("data/interim/{extract}.parquet", extract=INPUTS),
    output:
        published("6"),
    log:
        "logs/appendix/appendix6.log",
    conda:
        "environment.yml"
    params:
        code=CODE,
        settings=SETTINGS,
    shell:
        "gf-eval appendix 6 --settings {params.settings:q} --log {log}"


rule appendix7:
    input:
        "data/interim/casework.parquet",
    output:
        published("7"),
    log:
        "logs/appendix/appendix7.log",
    conda:
        "environment.yml"
    params:
        code=CODE,
        settings=SETTINGS,
    shell:
        "gf-eval appendix 7 --settings {params.settings:q} --log {log}"


rule appendix8:
    input:
        "data/interim/survey.parquet",
    output:
        published("8"),
    log:
        "logs/appendix/appendix8.log",
    conda:
        "environment.yml"
    params:
        code=CODE,
        settings=SETTINGS,
    shell:
        "gf-eval appendix 8 --settings {params.settings:q} --log {log}"


rule report:
    input:
        OUTPUTS,
    output:
        "results/report.html",
    log:
        "logs/report.log",
    conda:
        "environment.yml"
    params:
        code=CODE,
        settings=SETTINGS,
    shell:
        "gf-eval report --out {output} --settings {params.settings:q} --log {log}"


# Last: the provenance record and the manifest of every output, report included.
rule provenance:
    input:
        FINAL,
    output:
        provenance="results/provenance.json",
        manifest="results/MANIFEST.sha256",
    log:
        "logs/provenance.log",
    conda:
        "environment.yml"
    params:
        code=CODE,
        settings=SETTINGS,
    shell:
        "gf-eval provenance --settings {params.settings:q} --log {log}"


if MULTISITE:

    include: "rules/multisite.smk"
