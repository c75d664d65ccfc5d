"""`lanewatch bench`: how fast the detector and the pipeline are, each figure a command's output.

Each kind of benchmark is a module of `services.tools.bench` with `register(sub)` adding its parser:

- `model`: the bare engine, images/s and ms per batch for each batch size (the ceiling);
- `batching`: the dynamic batcher's (max_batch, max_delay_ms) sweep, throughput and p99 latency;
- `pipeline`: the whole embedded stack end to end, against the naive one-frame-at-a-time baseline;
- `pareto`: the speed-accuracy frontier over detector input sizes, lanewatch against the baseline;
- `console`: alert published to alert visible in the operators' browsers, with many consoles and lanes.
- `fuzz`: every decoder and schema at the door under Hypothesis: inputs tried, rejections with reasons, crashes (must be 0).
- `faults`: the embedded stack through kills, a crash hook, Redis and broker outages and a rebalance: lost, duplicated, recovery.
"""

from __future__ import annotations

import argparse
import importlib

__all__ = ["register"]

KINDS = ("model", "batching", "pipeline", "pareto", "console", "fuzz", "faults")


def register(sub: argparse._SubParsersAction) -> None:
    """Add the `bench` command and its kinds."""
    p = sub.add_parser(
        "bench",
        help="benchmarks: bare engine, batching sweep, end-to-end pipeline, speed-accuracy frontier",
        description="Measure speed (and, for pareto, accuracy) and print the figures; every kind can write JSON "
                    "and plots. Benchmarks share the machine with nothing else you run: close other work first.",
        epilog="example: lanewatch bench model --runtime onnxruntime --batch 1,2,4,8",
    )
    kinds = p.add_subparsers(dest="kind", required=True, metavar="KIND")
    for name in KINDS:
        importlib.import_module(f"services.tools.bench.{name}").register(kinds)
