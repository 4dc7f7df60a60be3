"""The generic statistics engine: interrupted time series, pre/post comparisons, verdicts.

It knows nothing of Growing Futures and works on any data; it imports no other gf_eval stage.
"""
