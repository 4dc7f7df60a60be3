# From the returns an authority holds (config `returns`): each return is imported and
# pseudonymised in one job, so no table with identifiers is ever written, and its extracts go
# to data/raw/<source>, where validation takes over as for any extract folder.


if config["returns"] == "synthetic":

    # The generator's raw returns, with made-up identifiers and a key made from the seed.
    rule synthesise_returns:
        input:
            settings("synth"),
        output:
            returns=directory(SYNTHETIC_RETURNS_DIR),
            key=SYNTHETIC_RETURNS_KEY,
            truth=SYNTHETIC_RETURNS_TRUTH,
        log:
            f"{LOGS}/synthesise_returns.log",
        conda:
            "../environment.yml"
        params:
            code=CODE,
        message:
            "Writing the synthetic raw returns, with made-up identifiers"
        shell:
            "gf-eval synth-returns --settings {input} --out {output.returns}"
            " --key-out {output.key} --truth-out {output.truth} --log {log}"


for name, ret in RETURN_LAYOUT.items():

    rule:
        name:
            f"import_{name}"
        input:
            **return_files(name),
            calendar=settings("calendar"),
        output:
            expand("{dir}/{extract}.csv", dir=RAW, extract=ret.extracts),
        log:
            f"{LOGS}/import/{name}.log",
        conda:
            "../environment.yml"
        params:
            code=CODE,
            # A new key gives new pseudonyms: every import reruns, so the links hold.
            key=KEY_ID,
            folder=lambda wc: RETURNS,
            name=name,
            out=lambda wc, output: os.path.dirname(output[0]),
            key_file=KEY_OPTION,
            mapping=lambda wc, input: (
                f" --mapping {input.mapping}" if input.mapping else ""
            ),
        message:
            f"Importing and pseudonymising the {ret.description}"
        shell:
            "gf-eval pseudonymise {params.name} --returns {params.folder} --out {params.out}"
            " --calendar {input.calendar}{params.mapping}{params.key_file} --log {log}"
