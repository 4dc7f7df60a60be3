# The multi-site run (snakemake --configfile config/multisite.yaml): every per-site step runs
# once per site; the last step fits single-site and controlled models and pools them.


wildcard_constraints:
    site="|".join(MULTISITE),


# A synthetic panel site's extracts, from its own generator settings: a treated site's nine,
# a comparison site's series extracts only (no step reads its casework books or survey).
rule panel_synthesise:
    input:
        lambda wc: settings(f"panel_{wc.site}"),
    output:
        expand("data/raw/panel/{{site}}/{extract}.csv", extract=EXTRACTS),
        truth="data/raw/panel/{site}/truth.json",
    log:
        f"{LOGS}/panel/{{site}}.log",
    wildcard_constraints:
        site="|".join(TREATED),
    conda:
        "../environment.yml"
    params:
        code=CODE,
        out=lambda wc, output: os.path.dirname(output.truth),
    message:
        "Generating panel site {wildcards.site}"
    shell:
        "gf-eval synth --out {params.out} --settings {input} --log {log}"


rule panel_synthesise_comparison:
    input:
        lambda wc: settings(f"panel_{wc.site}"),
    output:
        expand("data/raw/panel/{{site}}/{extract}.csv", extract=SERIES_EXTRACTS),
        truth="data/raw/panel/{site}/truth.json",
    log:
        f"{LOGS}/panel/{{site}}.log",
    wildcard_constraints:
        site="|".join(s for s in MULTISITE if s not in TREATED),
    conda:
        "../environment.yml"
    params:
        code=CODE,
        out=lambda wc, output: os.path.dirname(output.truth),
        extracts=",".join(SERIES_EXTRACTS),
    message:
        "Generating comparison site {wildcards.site} (its series extracts)"
    shell:
        "gf-eval synth --out {params.out} --settings {input} --extracts {params.extracts}"
        " --log {log}"


# Validate the extracts behind the series, then derive the site's monthly series.
rule site_series:
    input:
        raw=lambda wc: [
            f"{MULTISITE[wc.site]['extracts']}/{EXTRACTS[e].filename}"
            for e in SERIES_EXTRACTS
        ],
        settings=settings("config"),
    output:
        f"{INTERIM}/sites/{{site}}.parquet",
    log:
        report=f"{RESULTS}/validation/sites/{{site}}.json",
        messages=f"{LOGS}/sites/{{site}}.log",
    conda:
        "../environment.yml"
    params:
        code=CODE,
        raw=lambda wc: MULTISITE[wc.site]["extracts"],
    message:
        "Validating site {wildcards.site} and deriving its series"
    shell:
        "gf-eval site {wildcards.site} --raw {params.raw} --out {output}"
        " --report {log.report} --settings {input.settings} --log {log.messages}"


rule multisite:
    input:
        series=expand("{dir}/sites/{site}.parquet", dir=INTERIM, site=MULTISITE),
        settings=settings("config"),
    output:
        MULTISITE_OUTPUTS,
    log:
        f"{LOGS}/multisite.log",
    conda:
        "../environment.yml"
    params:
        code=CODE,
        interim=lambda wc: INTERIM,
        out=lambda wc, output: os.path.dirname(output[0]),
    message:
        "Fitting the single-site, controlled and pooled models"
    shell:
        "gf-eval multisite --series {params.interim}/sites --out {params.out}"
        " --settings {input.settings} --log {log}"


rule multisite_figures:
    input:
        models=MULTISITE_OUTPUTS,
        settings=settings("config"),
    output:
        FOREST_FILES,
    log:
        f"{LOGS}/multisite_figures.log",
    conda:
        "../environment.yml"
    params:
        code=CODE,
        models=lambda wc, input: os.path.dirname(input.models[0]),
        out=lambda wc, output: os.path.dirname(output[0]),
    message:
        "Drawing the forest plots"
    shell:
        "gf-eval multisite-figures --models {params.models} --out {params.out}"
        " --settings {input.settings} --log {log}"


# Each treated site's whole evaluation: its nine extracts validated and derived, its targets
# tables and figures, and Appendices 5 to 8, all under disclosure control.
rule site_evaluation:
    input:
        raw=lambda wc: [
            f"{MULTISITE[wc.site]['extracts']}/{e.filename}" for e in EXTRACTS.values()
        ],
        series=f"{INTERIM}/sites/{{site}}.parquet",
        settings=settings("config"),
    output:
        expand("{dir}/sites/{{site}}/{file}", dir=RESULTS, file=SITE_FILES),
    log:
        f"{LOGS}/site_evaluation/{{site}}.log",
    conda:
        "../environment.yml"
    params:
        code=CODE,
        interim=lambda wc: f"{INTERIM}/sites/{wc.site}",
        out=lambda wc, output: os.path.dirname(os.path.dirname(output[0])),
    message:
        "Evaluating treated site {wildcards.site}: targets and Appendices 5 to 8"
    shell:
        "gf-eval site-evaluation {wildcards.site} --series {input.series}"
        " --interim {params.interim} --out {params.out} --settings {input.settings}"
        " --log {log}"
