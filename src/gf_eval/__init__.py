"""gf-eval: a reproducible re-run of the Growing Futures quantitative evaluation.

Stages, each importing only those before it:
codes, extracts, config, files, layout, sites -> synth and returns (raw extracts) -> validation
(typed interim tables) -> derive -> analysis -> appendix -> report.
`stats` is the generic statistics engine (ITS, pre/post, verdicts): it imports no other stage.
`layout` (the files each step writes) and `sites` (a multi-site run's sites) import only the
standard library and the config, as the Snakefile reads them on every `snakemake` call.
`cli` sits on top and calls them all; `forkserver` runs its commands for a workflow run.
"""

__version__ = "0.1.0"
