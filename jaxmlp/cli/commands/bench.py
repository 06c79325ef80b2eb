"""``jaxmlp bench``: the benchmark against its peers."""

from __future__ import annotations

import json

from jaxmlp.cli.process import emit

__all__ = ["cmd_bench"]

# --- bench ---------------------------------------------------------------------------


def cmd_bench(args) -> int:
    """``jaxmlp bench``: jaxmlp against its peers (see :mod:`jaxmlp.bench`)."""
    from jaxmlp import bench

    report = bench.run(args.quick, args.device)
    emit(json.dumps(report, indent=2) if args.json else bench.markdown(report))
    return 0
