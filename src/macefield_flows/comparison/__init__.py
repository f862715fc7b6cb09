"""Prediction vs DFPT comparison: metrics, maggma builder, parity plots, Markdown report.

Public entry points: :func:`macefield_flows.comparison.report.run_compare`,
:class:`macefield_flows.comparison.builder.ComparisonBuilder`,
:mod:`macefield_flows.comparison.metrics`, and the CLI command
:func:`macefield_flows.comparison.cli.compare_command` (``macefield compare``).
Imported lazily by callers: nothing heavy here.
"""
