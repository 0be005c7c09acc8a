"""Benchmarks: ``rtseg bench`` measures workloads against the tutorial loop, in the same run.

>>> from rtseg.bench import BenchOptions, BenchRun
>>> report = BenchRun(BenchOptions(workloads=["file-segment"], synthetic_size="160x96",
...                                synthetic_frames=4, repeat=1, warmup=0)).run()  # doctest: +SKIP
>>> report["workloads"]["file-segment"]["rtseg"]["frames_out"]["median"]  # doctest: +SKIP
4.0
"""

from rtseg.bench.options import BenchOptions, Workload
from rtseg.bench.suite import SCHEMA, BenchRun

__all__ = ["SCHEMA", "BenchOptions", "BenchRun", "Workload"]
