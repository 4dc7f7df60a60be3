"""The gf-eval command: one subcommand per workflow step, each usable on its own."""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from pathlib import Path

log = logging.getLogger("gf_eval")


def _setup_logging(path: str | None) -> None:
    # The terminal gets a line a step; the log file also gets each file written.
    console = logging.StreamHandler(sys.stderr)
    console.setLevel(logging.INFO)
    handlers: list[logging.Handler] = [console]
    if path:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        handlers.append(logging.FileHandler(path, mode="w", encoding="utf-8"))
    logging.basicConfig(level=logging.DEBUG, format="%(message)s", handlers=handlers, force=True)
    for noisy in ("matplotlib", "PIL", "fontTools"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def _wrote(paths, prefix: str = "") -> None:
    """Each file written (log file only), then one line for the terminal."""
    paths = [Path(p) for p in paths]
    for path in paths:
        log.debug("%swrote %s", prefix, path)
    folders = sorted({p.parent.as_posix() for p in paths})
    log.info("%swrote %d file%s in %s", prefix, len(paths), "" if len(paths) == 1 else "s",
             ", ".join(folders))  # fmt: skip


def _synth(args: argparse.Namespace) -> int:
    from gf_eval import synth
    from gf_eval.config import load_config, synth_settings

    if args.settings:
        settings = _json_arg(args.settings, "--settings")
    else:
        settings = json.loads(synth_settings(load_config(args.config)))
    log.info("generating synthetic extracts (scenario %s, seed %s, scale %s)",
             settings["synthetic"]["scenario"], settings["seed"], settings["synthetic"]["scale"])
    tables, truth = synth.generate(settings, args.extracts.split(",") if args.extracts else None)
    _wrote(synth.write(tables, truth, args.out))
    return 0


def _parent(text: str) -> tuple[str, str]:
    name, sep, path = text.partition("=")
    if not sep or not name or not path:
        raise argparse.ArgumentTypeError(f"expected NAME=PARQUET, got {text!r}")
    return name, path


def _validate(args: argparse.Namespace) -> int:
    from gf_eval import validation
    from gf_eval.config import Calendar, load_config

    parents = dict(args.parent)
    calendar = Calendar.from_config(load_config(args.config)) if args.config else None
    if args.calendar:
        calendar = Calendar.from_config({"calendar": _json_arg(args.calendar, "--calendar")})
    try:
        report = validation.run(args.extract, args.raw, args.out, args.report, parents, calendar)
    except validation.ValidationFailed as err:
        log.error("%s", err)
        return 1
    log.info("%s: valid, %d rows; wrote %s and %s", args.raw, report["rows"], args.out, args.report)
    return 0


def _its(args: argparse.Namespace) -> int:
    import pandas as pd

    from gf_eval.files import write_text
    from gf_eval.stats.its import ITS, ITSInputError

    try:
        data = pd.read_csv(args.data)
    except (OSError, pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as err:
        log.error("gf-eval its: %s: cannot read the CSV: %s", args.data, err)
        return 2
    try:
        if args.group and args.treated is None:
            raise ITSInputError("--group needs --treated (the treated series' value)")
        treated = args.treated
        if args.group and treated is not None and args.group in data:
            # Match the treated value to the group column's type (numbers stay numbers).
            values = {str(v): v for v in data[args.group].unique()}
            treated = values.get(treated, treated)
        starts = [_number(s, "--start") for s in args.start]  # one --start per interruption
        model = ITS(
            data, args.outcome, args.time, starts[0] if len(starts) == 1 else starts,
            family=args.family,
            offset=args.offset, trials=args.trials, season=args.season, period=args.period,
            harmonics=args.harmonics if args.season and not args.season_dummies else 0,
            season_dummies=args.season_dummies, covariates=args.covariate,
            slope_change=not args.no_slope_change, group=args.group, treated=treated,
            exclude=args.exclude, slope_origin=None if args.slope_origin is None
            else _number(args.slope_origin, "--slope-origin"), allow_gaps=args.allow_gaps,
        )  # fmt: skip
        placebo_starts = [_number(p, "--placebo") for p in args.placebo]
        boot = {"bootstrap": args.bootstrap, "seed": args.seed}
        result = model.fit(se=args.se, lags=args.lags, **boot)
        placebo = model.placebo(placebo_starts, se=args.se, lags=args.lags, **boot)
    except ITSInputError as err:
        log.error("gf-eval its: %s: %s", args.data, err)
        return 2
    print(result.summary())
    if not placebo.empty:
        print("Placebo interruptions (pre-period data only):")
        print(placebo.to_string(index=False))
    if args.json:
        out = result.to_dict()
        out["placebo"] = placebo.to_dict(orient="records")
        write_text(args.json, json.dumps(out, indent=2, sort_keys=True) + "\n")
    return 0


def _power(args: argparse.Namespace) -> int:
    """Plan an ITS study by simulation: from pre-period data (a CSV) or stated volumes."""
    import math

    import pandas as pd

    from gf_eval.files import write_text
    from gf_eval.stats import power as spower
    from gf_eval.stats.its import ITSInputError

    def number(text, option, integer=False):
        try:
            value = float(text)
        except (TypeError, ValueError):
            value = float("nan")
        if not math.isfinite(value) or (integer and not value.is_integer()):
            raise ITSInputError(f"{option} {text!r} is not {'a whole number' if integer else 'a number'}")
        return int(value) if integer else value

    try:
        if (args.data is None) == (args.count_per_month is None):
            raise ITSInputError("give either a CSV of pre-period data or --count-per-month (with "
                                "--months-pre), not both or neither")  # fmt: skip
        n_post = number(args.months_post, "--months-post", integer=True)
        sims = number(args.simulations, "--simulations", integer=True)
        seed = number(args.seed, "--seed", integer=True)
        effect = number(args.effect, "--effect")
        target = number(args.power, "--power")
        max_post = number(args.max_post, "--max-post", integer=True)
        if args.data is not None:
            if not args.outcome or not args.time:
                raise ITSInputError("a CSV needs --outcome and --time")
            try:
                data = pd.read_csv(args.data)
            except (OSError, pd.errors.ParserError, pd.errors.EmptyDataError,
                    UnicodeDecodeError) as err:  # fmt: skip
                raise ITSInputError(f"{args.data}: cannot read the CSV: {err}") from None
            if args.start is not None:
                if args.time not in data.columns:
                    raise ITSInputError(f"column not found: {args.time}")
                start = number(args.start, "--start")
                data = data[pd.to_numeric(data[args.time], errors="coerce") < start]
            fitted = spower.fit_design(
                data, args.outcome, args.time, n_post=n_post, offset=args.offset,
                season=args.season, period=number(args.period, "--period"),
                harmonics=number(args.harmonics, "--harmonics", integer=True) if args.season else 0,
                family=args.family, error=args.error,
            )  # fmt: skip
            design = fitted.design
            source = fitted.summary()
        else:
            if args.months_pre is None:
                raise ITSInputError("--count-per-month needs --months-pre")
            design = spower.Design.from_volumes(
                number(args.count_per_month, "--count-per-month"),
                number(args.months_pre, "--months-pre", integer=True), n_post,
                trend=number(args.trend, "--trend"),
                dispersion=number(args.dispersion, "--dispersion"),
                rho=number(args.rho, "--rho"), noise_sd=number(args.noise_sd, "--noise-sd"),
                season_amplitude=number(args.season_amplitude, "--season-amplitude"),
            )  # fmt: skip
            source = "stated volumes: " + design.summary()
        harmonics = number(args.harmonics, "--harmonics", integer=True)
        kw = dict(seed=seed, simulations=sims, shape=args.shape, family=args.family, se=args.se,
                  harmonics=harmonics if (args.season or args.data is None) else 0)  # fmt: skip
        res = spower.power(design, effect, alternative=args.alternative, **kw)
        mde = spower.minimum_detectable_effect(
            design, target, alternative=args.alternative or ("increase" if effect > 0 else "reduction"), **kw)
        post = spower.post_periods_needed(design, effect, target, max_post=max_post,
                                          alternative=args.alternative, **kw)  # fmt: skip
        sites = spower.sites_needed(res, target)
    except ITSInputError as err:
        log.error("gf-eval power: %s", err)
        return 2
    print(source)
    print(res.summary())
    print(f"power: {res.power:.3f} (MC SE {res.mc_se:.3f}) to detect {effect:+.1%} "
          f"({args.shape}) with {n_post} post months")
    if math.isfinite(mde.mde):
        print(f"minimum detectable effect ({target:.0%} power): {mde.mde:+.1%} (MC SE "
              f"{mde.mc_se:.1%}; 95% [{mde.ci_low:+.1%}, {mde.ci_high:+.1%}])")
    else:
        print(f"minimum detectable effect ({target:.0%} power): none")
    print(f"post months for {target:.0%} power: "
          + (str(post.n_post) if post.n_post else f"none up to {max_post}")
          + f" (highest power {post.best_power:.3f} at {post.best})")
    print(f"sites for {target:.0%} power: {sites if sites else 'none'} (fixed-effect pooling of "
          "comparable independent sites with the same effect: SE_k = SD_1/sqrt(k), SD_1 = "
          f"{res.sd_estimate:.4f} the simulated SD of one site's log estimate)")
    if args.json:
        out = {"power": res.to_dict(), "mde": mde.to_dict(), "post_months": post.n_post,
               "post_curve": post.curve.to_dict(orient="records"), "sites": sites}
        write_text(args.json, json.dumps(out, indent=2, sort_keys=True, default=float) + "\n")
    return 0


def _json_arg(text: str, option: str):
    """An option's JSON: the text itself, or the file it names (as the Snakefile passes it)."""
    from gf_eval.config import ConfigError

    if not text.lstrip().startswith(("{", "[")):
        try:
            text = Path(text).read_text(encoding="utf-8")
        except OSError as err:
            raise ConfigError(f"{option} {text}: cannot read the settings file: "
                              f"{err.strerror}") from None  # fmt: skip
    try:
        return json.loads(text)
    except ValueError as err:
        raise ConfigError(f"{option}: not valid JSON ({err})") from None


def _config(args: argparse.Namespace) -> dict:
    """The workflow config: --settings (JSON, or the settings file the Snakefile writes) or a
    --config file."""
    from gf_eval.config import load_config, validate_config

    if args.settings:
        config = _json_arg(args.settings, "--settings")
        validate_config(config, source=args.settings if len(args.settings) < 200 else "--settings")
        return config
    return load_config(args.config)


def _derive(args: argparse.Namespace) -> int:
    from gf_eval import derive

    _wrote(derive.run(args.interim, args.out, _config(args)))
    return 0


def _models(args: argparse.Namespace) -> int:
    from gf_eval.analysis import write_models

    _wrote(write_models(args.series, args.out, _config(args), args.truth))
    return 0


def _value_for_money(args: argparse.Namespace) -> int:
    from gf_eval.analysis import value_for_money

    config = _config(args)
    vfm = config["value_for_money"]
    try:
        paths = value_for_money.write(args.series, args.out, config,
                                      args.unit_costs or vfm["unit_costs_file"],
                                      args.deflators or vfm["deflators_file"], args.truth)  # fmt: skip
    except value_for_money.UnitCostError as err:
        log.error("%s", err)
        return 1
    _wrote(paths)
    return 0


def _appendix(args: argparse.Namespace) -> int:
    from gf_eval import appendix

    interim, results = Path(args.interim), Path(args.results)
    paths = appendix.write(args.part, args.derived or interim / "derived", interim,
                           args.models or results / "working" / "models",
                           args.tables or results / "tables", args.figures or results / "figures",
                           _config(args))  # fmt: skip
    _wrote(paths)
    return 0


def _report(args: argparse.Namespace) -> int:
    from gf_eval.report import html

    log.info("wrote %s", html.write(args.root, args.out, _config(args)))
    return 0


def _provenance(args: argparse.Namespace) -> int:
    from gf_eval.report import provenance

    run = _json_arg(args.run, "--run") if args.run else None
    _wrote(provenance.write(args.root, _config(args), run))
    return 0


def _audit(args: argparse.Namespace) -> int:
    from gf_eval.report import provenance

    problems, notes = provenance.audit(args.root, args.results, args.config)
    for note in notes:
        log.info("%s", note)
    if problems:
        for problem in problems:
            log.error("%s", problem)
        log.error("gf-eval audit: %d difference%s", len(problems), "s" if len(problems) > 1 else "")
        return 1
    log.info("gf-eval audit: every output matches the manifest, and the raw inputs, config and "
             "code match the provenance record")  # fmt: skip
    return 0


def _site(args: argparse.Namespace) -> int:
    from gf_eval import validation
    from gf_eval.config import site_config
    from gf_eval.derive.site import site_series
    from gf_eval.sites import multisite_sites

    config = _config(args)
    info = multisite_sites(config)[args.site]
    if info["intervention_start"]:
        config = site_config(config, info["intervention_start"])
    try:
        site_series(args.raw, args.out, args.report, config)
    except validation.ValidationFailed as err:
        log.error("site %s: %s", args.site, err)
        return 1
    log.info("site %s: wrote %s and %s", args.site, args.out, args.report)
    return 0


def _site_evaluation(args: argparse.Namespace) -> int:
    """A treated site's whole evaluation: its nine extracts validated, its derived tables, its
    targets (from the series of the multi-site run) and Appendices 5 to 8, all published under
    disclosure control into one folder."""
    import pandas as pd

    from gf_eval import appendix, derive, validation
    from gf_eval.analysis import targets
    from gf_eval.config import site_config
    from gf_eval.appendix import targets_tables
    from gf_eval.appendix.publish import source_note, write_figure, write_tables
    from gf_eval.config import Calendar
    from gf_eval.sites import multisite_sites
    from gf_eval.extracts import EXTRACTS

    config = _config(args)
    site = multisite_sites(config)[args.site]
    if not site["intervention_start"]:
        raise ValueError(f"site {args.site} is a comparison site: it has no programme to assess")
    config = site_config(config, site["intervention_start"])
    raw, interim, out = Path(site["extracts"]), Path(args.interim), Path(args.out)
    paths = []
    for name, extract in EXTRACTS.items():
        parents = {p: interim / f"{p}.parquet" for p in extract.parents}
        try:
            validation.run(name, raw / extract.filename, interim / f"{name}.parquet",
                           out / "validation" / f"{name}.json", parents,
                           Calendar.from_config(config))  # fmt: skip
        except validation.ValidationFailed as err:
            log.error("site %s: %s", args.site, err)
            return 1
        paths.append(interim / f"{name}.parquet")
    paths += derive.run(interim, interim / "derived", config)
    series = pd.read_parquet(args.series)
    fits = targets.run(series, config)
    tables = [targets_tables.targets_table(fits, config), targets_tables.prepost_table(fits, config),
              targets_tables.sensitivity_table(fits)]  # fmt: skip
    paths += write_tables(tables, out / "tables", config)
    for figure in targets_tables.figures(series, fits, config, site=args.site):
        paths += write_figure(figure, out / "figures", source_note(config))
    for part in appendix.SITE_PARTS:
        paths += appendix.write(part, interim / "derived", interim, None, out / "tables",
                                out / "figures", config)  # fmt: skip
    _wrote(paths, f"site {args.site}: ")
    return 0


def _multisite(args: argparse.Namespace) -> int:
    from gf_eval.analysis import multisite
    from gf_eval.sites import multisite_sites

    config = _config(args)
    sites = multisite_sites(config)
    starts = {name: info["intervention_start"] for name, info in sites.items()}
    synthetic = all(info["settings"] is not None for info in sites.values())
    _wrote(multisite.write(args.series, starts, args.out, config, synthetic))
    return 0


def _multisite_figures(args: argparse.Namespace) -> int:
    import pandas as pd

    from gf_eval.appendix import multisite_figures
    from gf_eval.appendix.publish import source_note, write_figure

    from gf_eval.parallel import map_forked

    config = _config(args)
    models = {name: pd.read_csv(Path(args.models) / f"{name}.csv")
              for name in ("site_estimates", "pooled", "methods", "event_study", "sc_paths")}
    figures = multisite_figures.figures(models["site_estimates"], models["pooled"], config,
                                        models["methods"], models["event_study"],
                                        models["sc_paths"])  # fmt: skip
    # Drawing the twelve figures is most of the step: side by side on the cores there are.
    note = source_note(config)
    _wrote([p for paths in map_forked(lambda f: write_figure(f, args.out, note), figures)
            for p in paths])  # fmt: skip
    return 0


def _read_return(folder: str, name: str, mapping: str | None) -> dict:
    """One return's imported tables; an unexpected failure is reported without its text,
    which could quote a cell of the return."""
    from gf_eval.returns import ReturnError, layout

    try:
        return layout.read(folder, name, mapping)
    except (ReturnError, OSError):
        raise
    except Exception as err:  # noqa: BLE001 -- its message may hold a value of the return
        raise ReturnError(f"{name}: reading the return failed ({type(err).__name__}; its "
                          "message is withheld, as it may quote the return)") from None  # fmt: skip


def _import(args: argparse.Namespace) -> int:
    tables = _read_return(args.returns, args.name, args.mapping)
    for name, df in tables.items():
        log.info("%s: %d rows for %s", args.name, len(df), name)
    if args.out:
        # The imported tables still hold the identifying keys: for checking inside the authority.
        out = Path(args.out)
        out.mkdir(parents=True, exist_ok=True)
        paths = []
        for name, df in tables.items():
            path = out / f"{name}.identified.csv"
            df.to_csv(path, index=False, date_format="%Y-%m-%d", lineterminator="\n")
            paths.append(path)
        log.warning("%s: these files carry identifiers; keep them inside the authority",
                    ", ".join(p.name for p in paths))  # fmt: skip
        _wrote(paths)
    return 0


def _pseudonymise(args: argparse.Namespace) -> int:
    from gf_eval.config import Calendar, load_config
    from gf_eval.returns import layout, period
    from gf_eval.returns.pseudonymise import load_key, pseudonymise, write_extract

    key = load_key(args.key_file)  # before any reading: no key, nothing done
    calendar = _json_arg(args.calendar, "--calendar") if args.calendar else None
    cal = Calendar.from_config({"calendar": calendar} if calendar else load_config(args.config))
    names = list(layout.RETURNS) if args.name == "all" else [args.name]
    if args.mapping and len(names) > 1:
        raise ValueError("--mapping names the mapping of one return, not of all")
    tables = {}
    for name in names:
        tables.update(_read_return(args.returns, name, args.mapping))
    extract = pseudonymise(period.as_at(tables, cal), key)
    for name, df in extract.items():
        log.info("%s: %d rows pseudonymised", name, len(df))
    _wrote(write_extract(extract, args.out))
    return 0


def _synth_returns(args: argparse.Namespace) -> int:
    from gf_eval import synth
    from gf_eval.synth.returns import write_returns

    settings = _json_arg(args.settings, "--settings")
    log.info("generating the synthetic raw returns (scenario %s, seed %s, scale %s)",
             settings["synthetic"]["scenario"], settings["seed"], settings["synthetic"]["scale"])
    tables, truth = synth.generate(settings)
    _wrote(write_returns(tables, truth, settings, args.out, args.key_out, args.truth_out))
    return 0


def _number(text: str, option: str) -> float:
    """A finite number from the command line (as an int when whole), or an ITSInputError,
    which `_its` reports in one line with exit status 2."""
    import math

    from gf_eval.stats.its import ITSInputError

    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not math.isfinite(value):
        raise ITSInputError(f"{option} {text!r} is not a number (a value of the time column)")
    return int(value) if value.is_integer() else value


def build_parser() -> argparse.ArgumentParser:
    from gf_eval.extracts import EXTRACTS
    from gf_eval.returns.layout import RETURNS

    parser = argparse.ArgumentParser(prog="gf-eval", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("synth", help="write the synthetic extracts and truth.json")
    p.add_argument("--out", default="data/raw/synthetic", help="output folder")
    p.add_argument("--config", default="config/config.yaml", help="config file to read")
    p.add_argument("--settings", help="the generator's settings as JSON (overrides --config)")
    p.add_argument("--extracts", help="only these extracts, comma-separated (default: all)")
    p.add_argument("--log", help="also write messages to this file")
    p.set_defaults(func=_synth)

    returns = ("all", *RETURNS)
    p = sub.add_parser("import", help="read one return of a returns folder and count its rows "
                       "(inside the authority: the tables keep their identifiers)")
    p.add_argument("name", choices=list(RETURNS), help="which return")
    p.add_argument("--returns", required=True, help="the returns folder (docs/preparing_data.md)")
    p.add_argument("--mapping", help="the YAML mapping of a workbook return (default: the "
                   "folder's mappings/<name>.yaml, else config/mappings/<name>.yaml)")
    p.add_argument("--out", help="also write the imported tables, identifiers and all, here")
    p.add_argument("--log", help="also write messages to this file")
    p.set_defaults(func=_import)

    p = sub.add_parser("pseudonymise", help="import returns and write their pseudonymised "
                       "extracts (run inside the authority)")
    p.add_argument("name", choices=returns, help="which return, or all")
    p.add_argument("--returns", required=True, help="the returns folder (docs/preparing_data.md)")
    p.add_argument("--out", required=True, help="the extract folder to write, e.g. data/raw/doncaster")
    p.add_argument("--mapping", help="the YAML mapping of a workbook return")
    p.add_argument("--key-file", help="the secret key's file (default: $GF_EVAL_KEY_FILE, "
                   "else the key in $GF_EVAL_KEY)")
    p.add_argument("--config", default="config/config.yaml", help="config whose calendar cuts "
                   "the period")
    p.add_argument("--calendar", help="the calendar as JSON (overrides --config)")
    p.add_argument("--log", help="also write messages to this file")
    p.set_defaults(func=_pseudonymise)

    p = sub.add_parser("synth-returns", help="write the synthetic raw returns, with made-up "
                       "identifiers, and their key")
    p.add_argument("--settings", required=True, help="the generator's settings (JSON or a file)")
    p.add_argument("--out", required=True, help="the returns folder to write")
    p.add_argument("--key-out", required=True, help="the key file to write")
    p.add_argument("--truth-out", required=True, help="the generator's truth.json to write")
    p.add_argument("--log", help="also write messages to this file")
    p.set_defaults(func=_synth_returns)

    p = sub.add_parser("validate", help="validate one extract and write its typed table")
    p.add_argument("extract", choices=sorted(EXTRACTS), help="which extract")
    p.add_argument("--raw", required=True, help="the raw CSV file")
    p.add_argument("--out", required=True, help="the typed parquet to write if valid")
    p.add_argument("--report", required=True, help="the JSON validation report to write")
    p.add_argument("--parent", action="append", default=[], metavar="NAME=PARQUET", type=_parent,
                   help="a validated parent table, for the cross-table rules")
    p.add_argument("--config", help="config file whose calendar bounds the dates")
    p.add_argument("--calendar", help="the calendar as JSON (overrides --config)")
    p.add_argument("--log", help="also write messages to this file")
    p.set_defaults(func=_validate)

    p = sub.add_parser("derive", help="derive the cases, episodes, series and cohorts")
    p.add_argument("--interim", default="data/interim/synthetic", help="folder of the typed tables")
    p.add_argument("--out", default="data/interim/synthetic/derived", help="output folder")
    _config_options(p)
    p.set_defaults(func=_derive)

    p = sub.add_parser("models", help="fit the targets' primary and sensitivity models")
    p.add_argument("--series", default="data/interim/synthetic/derived/monthly_series.parquet")
    p.add_argument("--out", default="results/synthetic/working/models", help="output folder")
    p.add_argument("--truth", help="the synthetic generator's truth.json, to compare with")
    _config_options(p)
    p.set_defaults(func=_models)

    p = sub.add_parser("value-for-money",
                       help="value the avoided events against the programme's cost")
    p.add_argument("--series", default="data/interim/synthetic/derived/monthly_series.parquet")
    p.add_argument("--unit-costs", help="unit-cost CSV (default: config value_for_money)")
    p.add_argument("--deflators", help="GDP deflator CSV (default: config value_for_money)")
    p.add_argument("--out", default="results/synthetic/working/value_for_money",
                   help="output folder")  # fmt: skip
    p.add_argument("--truth", help="the synthetic generator's truth.json, to compare with")
    _config_options(p)
    p.set_defaults(func=_value_for_money)

    p = sub.add_parser("appendix", help="write one part's published tables and figures")
    p.add_argument("part", choices=["targets", "5", "6", "7", "8", "vfm"],
                   help="the targets, appendix 5, 6, 7 or 8, or the value for money (vfm)")
    p.add_argument("--interim", default="data/interim/synthetic", help="typed tables folder")
    p.add_argument("--results", default="results/synthetic",
                   help="the source's results folder: models in working/models, tables and "
                   "figures written to tables/ and figures/")
    p.add_argument("--derived", help="derived tables folder (default: <interim>/derived)")
    p.add_argument("--models", help="model outputs folder (default: <results>/working/models)")
    p.add_argument("--tables", help="published tables folder (default: <results>/tables)")
    p.add_argument("--figures", help="published figures folder (default: <results>/figures)")
    _config_options(p)
    p.set_defaults(func=_appendix)

    p = sub.add_parser("report", help="write the self-contained HTML report")
    p.add_argument("--root", default=".", help="the project folder")
    p.add_argument("--out", default="results/synthetic/report.html", help="the report file")
    _config_options(p)
    p.set_defaults(func=_report)

    p = sub.add_parser("provenance", help="write the run's provenance.json and its manifest")
    p.add_argument("--root", default=".", help="the project folder")
    p.add_argument("--run", help="how the run was configured: JSON or its file (config files "
                   "and command-line overrides)")
    _config_options(p)
    p.set_defaults(func=_provenance)

    p = sub.add_parser("audit", help="re-verify a results folder against its manifest, the raw "
                       "inputs, the config and the code")  # fmt: skip
    p.add_argument("--root", default=".", help="the project folder")
    p.add_argument("--results", default="results/synthetic",
                   help="the run's results folder, relative to --root (default: "
                   "results/synthetic; results/<folder name> for real extracts)")
    p.add_argument("--config", action="append",
                   help="config files to compare with, in order (default: the files the run "
                   "recorded); the run's command-line overrides are applied on top")
    p.add_argument("--log", help="also write messages to this file")
    p.set_defaults(func=_audit)

    p = sub.add_parser("site", help="validate one site's series extracts and derive its series")
    p.add_argument("site", help="the site's name in the config's multisite section")
    p.add_argument("--raw", required=True, help="the site's extract folder")
    p.add_argument("--out", required=True, help="the monthly series parquet to write")
    p.add_argument("--report", required=True, help="the site's validation report (JSON)")
    _config_options(p)
    p.set_defaults(func=_site)

    p = sub.add_parser("site-evaluation", help="one treated site's whole evaluation: its "
                       "targets and Appendices 5 to 8")
    p.add_argument("site", help="a treated site's name in the config's multisite section")
    p.add_argument("--series", required=True, help="the site's monthly series parquet")
    p.add_argument("--interim", required=True, help="folder for the site's typed and derived "
                   "tables")
    p.add_argument("--out", required=True, help="folder for the site's published tables")
    _config_options(p)
    p.set_defaults(func=_site_evaluation)

    p = sub.add_parser("multisite", help="single-site, controlled and pooled models of all sites")
    p.add_argument("--series", default="data/interim/multisite/sites", help="folder of <site>.parquet")
    p.add_argument("--out", default="results/multisite", help="output folder")
    _config_options(p)
    p.set_defaults(func=_multisite)

    p = sub.add_parser("multisite-figures", help="forest plots of the site and pooled estimates")
    p.add_argument("--models", default="results/multisite",
                   help="folder of site_estimates.csv and pooled.csv")
    p.add_argument("--out", default="results/multisite/figures", help="output folder")
    _config_options(p)
    p.set_defaults(func=_multisite_figures)

    p = sub.add_parser("its", help="fit an interrupted time series to any CSV and print it")
    p.add_argument("data", help="a CSV with one row per period (and per series with --group)")
    p.add_argument("--outcome", required=True, help="the outcome column")
    p.add_argument("--time", required=True, help="the numeric, equally spaced time column "
                   "(one row per period and series)")
    p.add_argument("--start", required=True, action="append",
                   help="the time value of the first post period; repeat it, in increasing "
                   "order, for each further interruption (its own level and slope change)")
    p.add_argument("--family", default="gaussian",
                   choices=["gaussian", "poisson", "quasipoisson", "negbin", "binomial"])
    p.add_argument("--offset", help="column whose log is the offset (population or cases)")
    p.add_argument("--trials", help="the binomial denominator column")
    p.add_argument("--season", help="the season column (for example the calendar month)")
    p.add_argument("--period", type=float, default=12, help="the seasonal period (default 12)")
    p.add_argument("--harmonics", type=int, default=1, help="Fourier pairs (default 1)")
    p.add_argument("--season-dummies", action="store_true", help="season indicators instead")
    p.add_argument("--covariate", action="append", default=[], help="a further numeric column")
    p.add_argument("--no-slope-change", action="store_true", help="level change only")
    p.add_argument("--slope-origin", help="time value where the slope-change term is 0 "
                   "(default: --start, as Linden's itsa)")
    p.add_argument("--se", default="model", choices=["model", "newey", "prais", "ar1", "bootstrap"],
                   help="standard errors: model-based, Newey-West, Prais-Winsten, ar1 (AR(1) "
                   "plus white noise by REML, sandwich) or bootstrap (parametric, from that "
                   "error model; needs --seed)")  # fmt: skip
    p.add_argument("--bootstrap", type=int, default=499, help="bootstrap replications "
                   "(default 499)")  # fmt: skip
    p.add_argument("--seed", type=int, help="the bootstrap's random seed (required with "
                   "--se bootstrap)")  # fmt: skip
    p.add_argument("--lags", type=int, help="Newey-West lag (default: the suggested lag)")
    p.add_argument("--group", help="the series column, for a controlled ITS")
    p.add_argument("--treated", help="the treated series' value in --group")
    p.add_argument("--exclude", type=int, default=0, help="phase-in periods left out from start")
    p.add_argument("--allow-gaps", action="store_true", help="accept missing periods in the "
                   "time column (times a whole number of steps apart)")
    p.add_argument("--placebo", nargs="*", default=[], help="placebo start times (pre-period)")
    p.add_argument("--json", help="also write the results as JSON (link scale)")
    p.set_defaults(func=_its)

    p = sub.add_parser("power", help="power, minimum detectable effect, post months and sites "
                       "for an ITS, by simulation, from pre-period data or stated volumes")
    p.add_argument("data", nargs="?", help="a CSV of pre-period data (one row per period)")
    p.add_argument("--outcome", help="the count column (with a CSV)")
    p.add_argument("--time", help="the numeric, equally spaced time column (with a CSV)")
    p.add_argument("--start", help="use only the rows before this time value (the pre period)")
    p.add_argument("--offset", help="column whose log is the offset (population or cases)")
    p.add_argument("--season", help="the season column (advancing by one per period)")
    p.add_argument("--period", default="12", help="the seasonal period (default 12)")
    p.add_argument("--harmonics", default="1", help="Fourier pairs (default 1)")
    p.add_argument("--error", default="auto", help="error model from the pre-period residuals: "
                   "auto, reml, moments or counts (default auto)")
    p.add_argument("--count-per-month", help="stated volumes: expected count per month")
    p.add_argument("--months-pre", help="stated volumes: pre-period months")
    p.add_argument("--trend", default="0", help="stated volumes: log-rate trend per month")
    p.add_argument("--dispersion", default="1", help="stated volumes: count dispersion")
    p.add_argument("--rho", default="0", help="stated volumes: AR(1) rho of the log-rate noise")
    p.add_argument("--noise-sd", default="0", help="stated volumes: SD of the log-rate noise")
    p.add_argument("--season-amplitude", default="0", help="stated volumes: seasonal amplitude")
    p.add_argument("--effect", default="-0.25", help="target relative change (default -0.25)")
    p.add_argument("--shape", default="step", choices=["step", "ramp"])
    p.add_argument("--months-post", default="18", help="post-intervention months (default 18)")
    p.add_argument("--power", default="0.8", help="power wanted (default 0.8)")
    p.add_argument("--max-post", default="60", help="longest post period searched (default 60)")
    p.add_argument("--family", default="quasipoisson", choices=["poisson", "quasipoisson", "negbin"])
    p.add_argument("--se", default="model", help="standard errors, as gf-eval its (default model)")
    p.add_argument("--alternative", choices=["reduction", "increase", "two-sided"],
                   help="default: the effect's direction (the verdict rule: 95%% upper limit < 0)")
    p.add_argument("--simulations", default="500", help="simulations (default 500)")
    p.add_argument("--seed", default="20150901", help="seed (default 20150901)")
    p.add_argument("--json", help="also write the results as JSON")
    p.set_defaults(func=_power)
    return parser


def _config_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", default="config/config.yaml", help="config file to read")
    p.add_argument("--settings", help="the whole config as JSON (overrides --config)")
    p.add_argument("--log", help="also write messages to this file")


def main(argv: list[str] | None = None) -> int:
    """`gf-eval ARGV` in this process; without ARGV, the command line as `gf-eval` runs it
    (`gf_eval.command`: through a workflow run's fork server when one answers)."""
    if argv is None:
        from gf_eval.command import main as command

        return command()
    return run(argv)


def run(argv: list[str]) -> int:
    """Parse ARGV and run the subcommand here, with its log."""
    args = build_parser().parse_args(argv)
    _setup_logging(getattr(args, "log", None))
    try:
        return args.func(args)
    except Exception as err:  # a clear one-line error, not a traceback, for any other failure
        from gf_eval.config import ConfigError

        if isinstance(err, (ConfigError, ValueError, OSError)):
            log.error("gf-eval %s: %s", args.command, err)
            return 2
        raise


if __name__ == "__main__":
    sys.exit(main())
