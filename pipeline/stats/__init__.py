"""Experiment statistics on sufficient statistics (counts, sums, sums of squares).

SQL produces the small frozen dataclasses of `sufficient`; the modules here do the maths with
numpy and scipy only, so the readout never needs per-user rows in Python. Degenerate input
(an empty group, no conversions, zero variance) gives a result carrying a message code, never
an exception or a NaN verdict.
"""
