"""gf-eval: a reproducible re-run of the Growing Futures quantitative evaluation.

Stages, each importing only those before it:
codes, extracts, config, files -> synth (raw extracts) -> validation (typed interim tables).
`stats` is the generic statistics engine (ITS, pre/post, verdicts): it imports no other stage.
`cli` sits on top and calls them all.
"""

__version__ = "0.1.0"
