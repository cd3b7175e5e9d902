"""``nc3d bench``: datasets × codecs × settings → ``results.jsonl`` → curves, tables, renders, HTML.

>>> from nc3d.bench import run_bench, write_report
>>> run_bench("meshes/", "out/", codecs=["implicit", "draco"], quick=True)
>>> write_report("out/")        # out/report.html
"""

from .machine import machine_info
from .report import aggregate, best_under_budget, default_budget, write_report
from .runner import RESULTS_NAME, find_inputs, read_results, run_bench, select_codecs

__all__ = [
    "run_bench",
    "write_report",
    "read_results",
    "find_inputs",
    "select_codecs",
    "aggregate",
    "best_under_budget",
    "default_budget",
    "machine_info",
    "RESULTS_NAME",
]
