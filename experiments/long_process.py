"""A long-running process: many fits of distinct widths in one Python process, as a notebook
exploring architectures runs them. Prints the memory maps and resident memory it gained, the
compiled programs jaxmlp holds and the seconds per fit.

    python experiments/long_process.py [--estimators 200] [--fits 100] [--limit N] [--write]

Each width compiles new programs; jaxmlp keeps at most ``jaxmlp.programs.program_limit()`` of
them (``--limit`` sets it), so the maps and memory level off instead of growing with every
fit (unbounded, a process reaches Linux's ``vm.max_map_count`` and crashes inside the compiler).
With ``--write`` the table also goes to experiments/results/long_process.md, which the
documentation's page on long-running processes shows.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import warnings
from pathlib import Path

import jax
import numpy as np

import jaxmlp
from jaxmlp import programs
from jaxmlp.io.atomic import write_text
from jaxmlp.sklearn import MLPClassifier


def maps() -> int:
    """Memory maps the process holds (Linux)."""
    with open("/proc/self/maps", "rb") as f:
        return f.read().count(b"\n")


def resident_mb() -> float:
    """The process's resident memory now, in MB (Linux)."""
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--estimators", type=int, default=200, help="MLPClassifier fits")
    parser.add_argument("--fits", type=int, default=100, help="jaxmlp.fit calls")
    parser.add_argument("--limit", type=int, default=None, help="jaxmlp's program limit")
    parser.add_argument(
        "--write", action="store_true", help="write experiments/results/long_process.md"
    )
    args = parser.parse_args()
    if args.limit is not None:
        programs.set_program_limit(args.limit)
    warnings.filterwarnings("ignore")  # max_iter=1 does not converge: the point is the loop
    rng = np.random.default_rng(0)
    x = rng.normal(size=(300, 10)).astype(np.float32)
    y = (x[:, 0] > 0).astype(np.int64)
    # the first fit of each kind loads the runtime: measure from after it
    MLPClassifier(hidden_layer_sizes=(4,), max_iter=1).fit(x, y)
    net0 = jaxmlp.MLP((10, 4, 2), output_activation="softmax", loss="cross_entropy")
    jaxmlp.fit(net0, net0.init(jax.random.key(0)), x, y, steps=20, learning_rate=0.1)
    maps0, mb0, t0 = maps(), resident_mb(), time.perf_counter()
    peak_maps = 0
    lines = [
        "| fits | of which estimators | maps gained | resident MB gained | programs held | s a fit |",
        "|---:|---:|---:|---:|---:|---:|",
    ]
    print("\n".join(lines))
    done = 0

    def row() -> None:
        seconds = (time.perf_counter() - t0) / max(done, 1)
        lines.append(
            f"| {done} | {min(done, args.estimators)} | {maps() - maps0:+,} | "
            f"{resident_mb() - mb0:+,.0f} | {programs.live_programs()} | {seconds:.2f} |"
        )
        print(lines[-1], flush=True)

    for i in range(args.estimators):
        MLPClassifier(hidden_layer_sizes=(5 + i,), max_iter=1).fit(x, y)
        done += 1
        peak_maps = max(peak_maps, maps() - maps0)
        if done % 50 == 0:
            row()
    for i in range(args.fits):
        net = jaxmlp.MLP((10, 5 + i, 2), output_activation="softmax", loss="cross_entropy")
        jaxmlp.fit(net, net.init(jax.random.key(i)), x, y, steps=20, learning_rate=0.1)
        done += 1
        peak_maps = max(peak_maps, maps() - maps0)
        if done % 50 == 0:
            row()
    if done % 50:
        row()
    summary = (
        f"{done} fits ran to the end; at most {peak_maps:+,} maps over the start, "
        f"program limit {programs.program_limit()}"
    )
    print(f"\n{summary}")
    if args.write:
        text = "\n".join(lines) + f"\n\n{summary} (`{' '.join(sys.argv[1:])}`).\n"
        write_text(Path(__file__).parent / "results" / "long_process.md", text)


if __name__ == "__main__":
    main()
