# The multi-site run (snakemake --configfile config/multisite.yaml): every per-site step runs
# once per site; the last step fits single-site and controlled models and pools them.


wildcard_constraints:
    site="|".join(MULTISITE),


# A synthetic panel site's extracts, from its own generator settings.
rule panel_synthesise:
    output:
        expand("data/raw/panel/{{site}}/{extract}.csv", extract=EXTRACTS),
        truth="data/raw/panel/{site}/truth.json",
    log:
        "logs/panel/{site}.log",
    conda:
        "../environment.yml"
    params:
        code=CODE,
        settings=lambda wc: json.dumps(MULTISITE[wc.site]["settings"], sort_keys=True),
        out=lambda wc, output: os.path.dirname(output.truth),
    shell:
        "gf-eval synth --out {params.out} --settings {params.settings:q} --log {log}"


# Validate the extracts behind the series, then derive the site's monthly series.
rule site_series:
    input:
        lambda wc: [
            f"{MULTISITE[wc.site]['extracts']}/{EXTRACTS[e].filename}"
            for e in SERIES_EXTRACTS
        ],
    output:
        "data/interim/sites/{site}.parquet",
    log:
        report="results/validation/sites/{site}.json",
        messages="logs/sites/{site}.log",
    conda:
        "../environment.yml"
    params:
        code=CODE,
        settings=SETTINGS,
        raw=lambda wc: MULTISITE[wc.site]["extracts"],
    shell:
        "gf-eval site {wildcards.site} --raw {params.raw} --out {output}"
        " --report {log.report} --settings {params.settings:q} --log {log.messages}"


rule multisite:
    input:
        expand("data/interim/sites/{site}.parquet", site=MULTISITE),
    output:
        MULTISITE_OUTPUTS,
    log:
        "logs/multisite.log",
    conda:
        "../environment.yml"
    params:
        code=CODE,
        settings=SETTINGS,
        out=lambda wc, output: os.path.dirname(output[0]),
    shell:
        "gf-eval multisite --series data/interim/sites --out {params.out}"
        " --settings {params.settings:q} --log {log}"


rule multisite_figures:
    input:
        MULTISITE_OUTPUTS,
    output:
        FOREST_FILES,
    log:
        "logs/multisite_figures.log",
    conda:
        "../environment.yml"
    params:
        code=CODE,
        settings=SETTINGS,
        models=lambda wc, input: os.path.dirname(input[0]),
        out=lambda wc, output: os.path.dirname(output[0]),
    shell:
        "gf-eval multisite-figures --models {params.models} --out {params.out}"
        " --settings {params.settings:q} --log {log}"


# Each treated site's own results: its targets table, pre/post and sensitivity analyses and a
# figure per target, all under disclosure control.
rule site_targets:
    input:
        "data/interim/sites/{site}.parquet",
    output:
        expand("results/multisite/sites/{{site}}/{file}", file=SITE_FILES),
    log:
        "logs/site_targets/{site}.log",
    conda:
        "../environment.yml"
    params:
        code=CODE,
        settings=SETTINGS,
        out=lambda wc, output: os.path.dirname(output[0]),
    shell:
        "gf-eval site-targets {wildcards.site} --series {input} --out {params.out}"
        " --settings {params.settings:q} --log {log}"


# The multi-site report: pooled estimates, forest plots, each treated site's own results.
rule multisite_report:
    input:
        MULTISITE_OUTPUTS,
        FOREST_FILES,
        expand("results/multisite/sites/{site}/{file}", site=TREATED, file=SITE_FILES),
    output:
        "results/multisite/report.html",
    log:
        "logs/multisite_report.log",
    conda:
        "../environment.yml"
    params:
        code=CODE,
        settings=SETTINGS,
    shell:
        "gf-eval report --out {output} --settings {params.settings:q} --log {log}"
