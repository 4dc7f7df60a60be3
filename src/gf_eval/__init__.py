"""gf-eval: a reproducible re-run of the Growing Futures quantitative evaluation.

Stages, each importing only those before it:
codes, extracts, config, files -> synth (raw extracts) -> validation (typed interim tables).
"""

__version__ = "0.1.0"
