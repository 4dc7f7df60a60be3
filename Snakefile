# gf-eval workflow: raw extracts -> validation -> typed interim tables -> derived series and
# cohorts -> models -> appendix tables and figures.
# A thin map of the data flow; every step is a `gf-eval` subcommand.
# It imports only light modules (the standard library and PyYAML), so that a no-op or a dry
# run costs what Snakemake costs; the steps import what they use.
from snakemake.utils import min_version, update_config
from gf_eval.config import (
    SYNTHETIC_DIR,
    SYNTHETIC_RETURNS_DIR,
    SYNTHETIC_RETURNS_KEY,
    SYNTHETIC_RETURNS_TRUTH,
    extract_dir,
    interim_dir,
    load_schema,
    results_dir,
    returns_dir,
    source_name,
    truth_path,
    validate_config,
)
from gf_eval.extracts import EXTRACTS
from gf_eval.returns import layout as return_layout
from gf_eval.layout import (
    DERIVE_INPUTS,
    DERIVED,
    MODEL_FILES,
    MULTISITE_FIGURES,
    MULTISITE_FILES,
    PART_FIGURES,
    PARTS,
    SITE_PARTS,
    SERIES_EXTRACTS,
    VALUE_FILES,
    part_files,
)
from gf_eval.sites import multisite_sites
from gf_eval import forkserver, preflight
from gf_eval.files import tree_sha256
import os
import sys

min_version("8.0")


configfile: "config/config.yaml"


# `--config a='{b: 1}'` reaches us as strings; type them as the schema says, then check.
SCHEMA = f"{workflow.basedir}/config/config.schema.yaml"
update_config(
    config,
    preflight.typed_overrides(
        workflow.config_settings.overwrite_config, load_schema(SCHEMA)
    ),
)
# The config schema and the rules it cannot express.
preflight.or_exit(validate_config, config, "config", SCHEMA)
# Stop before any job when the extracts are missing, naming each missing file.
preflight.or_exit(preflight.check_extracts, config)
# A killed run leaves its locks behind; a plain `snakemake` recovers from it.
preflight.clear_stale_locks()


envvars:
    "PATH",


# Jobs find the `gf-eval` command of the environment that runs Snakemake, activated or not.
os.environ["PATH"] = os.pathsep.join(
    [os.path.dirname(sys.executable), os.environ["PATH"]]
)
# A local run's jobs run in processes forked from one server that has imported the heavy
# libraries once (`gf_eval.forkserver`); `snakemake --no-hooks` runs each job on its own.
SERVER = {}


onstart:
    if workflow.local_exec:
        SERVER["proc"], SERVER["address"] = forkserver.start()
        os.environ[forkserver.ENV] = SERVER["address"]
    # Snakemake's process hashes params without importing pandas.
    preflight.params_without_pandas(workflow.persistence)
    # One re-scheduling timer at a time, not a chain for every job that ended.
    preflight.one_reevaluation_timer(workflow.scheduler)


onsuccess:
    if SERVER:
        forkserver.stop(SERVER["proc"], SERVER["address"])
    preflight.cancel_scheduler_timers()
    # No last garbage collection of Snakemake's heap at exit.
    preflight.skip_final_collection()


onerror:
    if SERVER:
        forkserver.stop(SERVER["proc"], SERVER["address"])
    preflight.cancel_scheduler_timers()
    # No last garbage collection of Snakemake's heap at exit.
    preflight.skip_final_collection()


RAW = extract_dir(config)
# A run from an authority's returns imports and pseudonymises them into RAW first.
RETURNS = returns_dir(config)
TRUTH = truth_path(config)
# Each extract source has its own output trees, so that sources never mix.
SOURCE = source_name(config)
INTERIM = interim_dir(config)
RESULTS = results_dir(config)
LOGS = f"logs/{SOURCE}"
# The settings each step reads, as files rewritten only when they change, so that a change
# reruns just the steps that read it and no command line carries the whole config.
SETTINGS_DIR = f".snakemake/gf-eval/{SOURCE}/settings"
preflight.write_settings(
    SETTINGS_DIR, preflight.settings_texts(config, workflow.config_settings)
)
# The package's code as a parameter of every rule: a change to it reruns what it affects.
CODE = tree_sha256(os.path.dirname(preflight.__file__))


wildcard_constraints:
    extract="|".join(EXTRACTS),


include: "rules/common.smk"


if RETURNS:
    RETURN_LAYOUT = return_layout.RETURNS
    KEY_ID = preflight.key_id(config)
    KEY_OPTION = (
        f" --key-file {SYNTHETIC_RETURNS_KEY}"
        if config["returns"] == "synthetic"
        else ""
    )

    include: "rules/returns.smk"


# Everything the report and the audit trail are made from.
OUTPUTS = [
    *expand("{dir}/{extract}.parquet", dir=INTERIM, extract=EXTRACTS),
    *expand("{dir}/derived/{name}.parquet", dir=INTERIM, name=DERIVED),
    *expand("{dir}/working/models/{file}", dir=RESULTS, file=MODEL_FILES),
    *expand("{dir}/working/value_for_money/{file}", dir=RESULTS, file=VALUE_FILES),
    *[f for part in PARTS for f in published(part)],
]


# With config/multisite.yaml the run covers many sites; without it, the single site.
MULTISITE = multisite_sites(config)
PANEL = bool(MULTISITE) and not config["multisite"].get("sites")
MULTISITE_OUTPUTS = [
    f"{RESULTS}/{name}.csv"
    for name in (*MULTISITE_FILES, *(["truth_check"] if PANEL else []))
]
SITE_TABLES = ("targets", "target_prepost", "target_sensitivity")
TREATED = [s for s, info in MULTISITE.items() if info["intervention_start"]]
# Each treated site's own tables and figures (targets and Appendices 5 to 8), and the forest
# plots across sites.
SITE_FILES = [
    *[f"tables/{t}.{ext}" for t in SITE_TABLES for ext in ("csv", "json")],
    *[
        f"figures/{f}.{ext}"
        for f in PART_FIGURES["targets"]
        for ext in ("png", "svg", "json")
    ],
    *[
        f"{kind}/{f}"
        for part in SITE_PARTS
        for kind in ("tables", "figures")
        for f in part_files(part)[kind]
    ],
]
FOREST_FILES = expand(
    "{dir}/figures/{figure}.{ext}",
    dir=RESULTS,
    figure=MULTISITE_FIGURES,
    ext=("png", "svg", "json"),
)
# What the report is made from: the single site's outputs, or the multi-site ones.
REPORTED = (
    MULTISITE_OUTPUTS
    + FOREST_FILES
    + expand("{dir}/sites/{site}/{file}", dir=RESULTS, site=TREATED, file=SITE_FILES)
    if MULTISITE
    else OUTPUTS
)


rule all:
    input:
        f"{RESULTS}/provenance.json",
        f"{RESULTS}/MANIFEST.sha256",


# The embedded default: writes the synthetic extracts only when extracts=synthetic needs them.
rule synthesise:
    input:
        settings("synth"),
    output:
        expand("{dir}/{extract}.csv", dir=SYNTHETIC_DIR, extract=EXTRACTS),
        truth=f"{SYNTHETIC_DIR}/truth.json",
    log:
        f"{LOGS}/synthesise.log",
    conda:
        "environment.yml"
    params:
        code=CODE,
        out=lambda wc, output: os.path.dirname(output.truth),
    message:
        "Generating the synthetic extracts"
    shell:
        "gf-eval synth --out {params.out} --settings {input} --log {log}"


# One job per extract; a table's parents are validated first, for the cross-table rules.
# The report is declared as a log so that it survives a failed validation. Validation and
# derivation are on the way to the models, the longest job: they go before the appendices.
rule validate:
    input:
        unpack(
            lambda wc: {
                "raw": f"{RAW}/{wc.extract}.csv",
                "calendar": settings("calendar"),
                **parent_tables(wc),
            }
        ),
    output:
        f"{INTERIM}/{{extract}}.parquet",
    log:
        report=f"{RESULTS}/validation/{{extract}}.json",
        messages=f"{LOGS}/validate/{{extract}}.log",
    priority: 10
    conda:
        "environment.yml"
    params:
        code=CODE,
        parents=lambda wc, input: " ".join(
            f"--parent {p}={input[p]}" for p in EXTRACTS[wc.extract].parents
        ),
    message:
        "Validating {input.raw}"
    shell:
        "gf-eval validate {wildcards.extract} --raw {input.raw} --out {output}"
        " --report {log.report} {params.parents} --calendar {input.calendar}"
        " --log {log.messages}"


rule derive:
    input:
        tables=expand("{dir}/{extract}.parquet", dir=INTERIM, extract=DERIVE_INPUTS),
        settings=settings("config"),
    output:
        expand("{dir}/derived/{name}.parquet", dir=INTERIM, name=DERIVED),
    log:
        f"{LOGS}/derive.log",
    priority: 10
    conda:
        "environment.yml"
    params:
        code=CODE,
        interim=lambda wc: INTERIM,
        out=lambda wc, output: os.path.dirname(output[0]),
    message:
        "Deriving the cases, episodes, monthly series and status cohort"
    shell:
        "gf-eval derive --interim {params.interim} --out {params.out}"
        " --settings {input.settings} --log {log}"


# The longest job and on the way to the report: started before the others it could wait for.
rule models:
    input:
        series=f"{INTERIM}/derived/monthly_series.parquet",
        settings=settings("config"),
        # On synthetic data the true effects are compared with the estimates.
        truth=[TRUTH] if TRUTH else [],
    output:
        expand("{dir}/working/models/{file}", dir=RESULTS, file=MODEL_FILES),
    log:
        f"{LOGS}/models.log",
    priority: 10
    conda:
        "environment.yml"
    params:
        code=CODE,
        out=lambda wc, output: os.path.dirname(output[0]),
        truth=lambda wc, input: f" --truth {input.truth}" if input.truth else "",
    message:
        "Fitting the targets' primary, sensitivity and placebo models"
    shell:
        "gf-eval models --series {input.series} --out {params.out}"
        " --settings {input.settings} --log {log}{params.truth}"


# The events the primary models say were avoided, valued at public unit costs, against the
# programme's cost.
rule value_for_money:
    input:
        series=f"{INTERIM}/derived/monthly_series.parquet",
        unit_costs=config["value_for_money"]["unit_costs_file"],
        deflators=config["value_for_money"]["deflators_file"],
        settings=settings("config"),
        truth=[TRUTH] if TRUTH else [],
    output:
        expand("{dir}/working/value_for_money/{file}", dir=RESULTS, file=VALUE_FILES),
    log:
        f"{LOGS}/value_for_money.log",
    conda:
        "environment.yml"
    params:
        code=CODE,
        out=lambda wc, output: os.path.dirname(output[0]),
        truth=lambda wc, input: f" --truth {input.truth}" if input.truth else "",
    message:
        "Valuing the avoided events against the programme's cost"
    shell:
        "gf-eval value-for-money --series {input.series} --unit-costs {input.unit_costs}"
        " --deflators {input.deflators} --out {params.out} --settings {input.settings}"
        " --log {log}{params.truth}"


rule appendix_vfm:
    input:
        expand("{dir}/working/value_for_money/{file}", dir=RESULTS, file=VALUE_FILES),
        settings=settings("config"),
    output:
        published("vfm"),
    log:
        f"{LOGS}/appendix/vfm.log",
    conda:
        "environment.yml"
    params:
        code=CODE,
        interim=lambda wc: INTERIM,
        results=lambda wc: RESULTS,
    message:
        "Writing the value-for-money tables and figure"
    shell:
        "gf-eval appendix vfm --interim {params.interim} --results {params.results} --settings {input.settings} --log {log}"


# After the models and before the report: it goes first when the models end.
rule targets:
    input:
        f"{INTERIM}/derived/monthly_series.parquet",
        expand("{dir}/working/models/{file}", dir=RESULTS, file=MODEL_FILES),
        settings=settings("config"),
    output:
        published("targets"),
    log:
        f"{LOGS}/appendix/targets.log",
    priority: 10
    conda:
        "environment.yml"
    params:
        code=CODE,
        interim=lambda wc: INTERIM,
        results=lambda wc: RESULTS,
    message:
        "Writing the targets' tables and figures"
    shell:
        "gf-eval appendix targets --interim {params.interim} --results {params.results} --settings {input.settings} --log {log}"


rule appendix5:
    input:
        f"{INTERIM}/derived/marac_cases.parquet",
        settings=settings("config"),
    output:
        published("5"),
    log:
        f"{LOGS}/appendix/appendix5.log",
    conda:
        "environment.yml"
    params:
        code=CODE,
        interim=lambda wc: INTERIM,
        results=lambda wc: RESULTS,
    message:
        "Writing Appendix 5 (MARAC data)"
    shell:
        "gf-eval appendix 5 --interim {params.interim} --results {params.results} --settings {input.settings} --log {log}"


rule appendix6:
    input:
        expand("{dir}/derived/{name}.parquet", dir=INTERIM, name=DERIVED),
        expand("{dir}/{extract}.parquet", dir=INTERIM, extract=DERIVE_INPUTS),
        settings=settings("config"),
    output:
        published("6"),
    log:
        f"{LOGS}/appendix/appendix6.log",
    conda:
        "environment.yml"
    params:
        code=CODE,
        interim=lambda wc: INTERIM,
        results=lambda wc: RESULTS,
    message:
        "Writing Appendix 6 (social care data)"
    shell:
        "gf-eval appendix 6 --interim {params.interim} --results {params.results} --settings {input.settings} --log {log}"


rule appendix7:
    input:
        f"{INTERIM}/casework.parquet",
        settings=settings("config"),
    output:
        published("7"),
    log:
        f"{LOGS}/appendix/appendix7.log",
    conda:
        "environment.yml"
    params:
        code=CODE,
        interim=lambda wc: INTERIM,
        results=lambda wc: RESULTS,
    message:
        "Writing Appendix 7 (casework books)"
    shell:
        "gf-eval appendix 7 --interim {params.interim} --results {params.results} --settings {input.settings} --log {log}"


rule appendix8:
    input:
        f"{INTERIM}/survey.parquet",
        settings=settings("config"),
    output:
        published("8"),
    log:
        f"{LOGS}/appendix/appendix8.log",
    conda:
        "environment.yml"
    params:
        code=CODE,
        interim=lambda wc: INTERIM,
        results=lambda wc: RESULTS,
    message:
        "Writing Appendix 8 (e-survey)"
    shell:
        "gf-eval appendix 8 --interim {params.interim} --results {params.results} --settings {input.settings} --log {log}"


# The single-site or the multi-site report, as the config says.
rule report:
    input:
        REPORTED,
        settings=settings("config"),
    output:
        f"{RESULTS}/report.html",
    log:
        f"{LOGS}/report.log",
    conda:
        "environment.yml"
    params:
        code=CODE,
    message:
        "Writing the report {output}"
    shell:
        "gf-eval report --out {output} --settings {input.settings} --log {log}"


# Last: the provenance record and the manifest of every output, report included.
rule provenance:
    input:
        REPORTED,
        f"{RESULTS}/report.html",
        settings=settings("config"),
        run=settings("run"),
    output:
        provenance=f"{RESULTS}/provenance.json",
        manifest=f"{RESULTS}/MANIFEST.sha256",
    log:
        f"{LOGS}/provenance.log",
    conda:
        "environment.yml"
    params:
        code=CODE,
    message:
        "Writing the provenance record and the manifest"
    shell:
        "gf-eval provenance --settings {input.settings} --run {input.run} --log {log}"


if MULTISITE:

    include: "rules/multisite.smk"
