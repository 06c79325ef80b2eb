"""The benchmark's report: every row as a Markdown table per workload, with the ratios the benchmarks page quotes."""

from __future__ import annotations

from collections.abc import Sequence

__all__ = ["markdown", "ratios"]


# Each workload's columns: (row key, header, format).
_COLUMNS = {
    "W1": [
        ("seconds_per_10k_steps", "s / 10k steps", "{:.4g}"),
        ("ns_per_step", "ns / step", "{:,.0f}"),
        ("compile_seconds", "compile s", "{:.3f}"),
        ("final_loss", "final E", "{:.13g}"),
    ],
    "W2": [
        ("seconds", "s", "{:.3f}"),
        ("gflops", "GFLOP/s", "{:.1f}"),
        ("pct_of_jax_matmul_peak", "% of JAX matmul peak", "{:.0f}%"),
        ("compile_seconds", "compile s", "{:.2f}"),
        ("final_loss", "final loss", "{:.6g}"),
    ],
    "W3": [
        ("seconds", "s", "{:.3f}"),
        ("net_steps_per_second", "net-steps / s", "{:,.0f}"),
        ("final_loss", "mean final E", "{:.6g}"),
    ],
    "W4": [("seconds", "s (whole process)", "{:.2f}")],
    "W5": [("n", "n", "{:,}"), ("us_per_step", "us / step", "{:,.1f}")],
    "W6": [("seconds", "s", "{:.2f}"), ("peak_mb", "peak MB", "{:,.0f}")],
    "W7": [
        ("us_eager", "us / call outside jit", "{:,.1f}"),
        ("us_jitted", "us / call, jitted pure function", "{:,.1f}"),
        ("ratio", "ratio", "{:.2f}x"),
    ],
    "W8": [("seconds", "s to train", "{:.2f}"), ("test_accuracy", "test accuracy", "{:.2%}")],
    "W10": [
        ("peak_gb", "peak GB", "{:.2f}"),
        ("rows_per_second", "rows / s", "{:,.0f}"),
        ("wall_seconds", "s, whole process", "{:.1f}"),
    ],
    "W11": [
        ("first_fit_seconds", "s, first fit in a new process", "{:.2f}"),
        ("later_fit_seconds", "s, later fits", "{:.2f}"),
        ("test_accuracy", "test accuracy", "{:.2%}"),
    ],
    "W12": [
        ("seconds", "s", "{:.4g}"),
        ("records", "records", "{:,}"),
        ("hvps", "Hessian-vector products", "{:,}"),
        ("vs_unmonitored", "x unmonitored", "{:.3f}"),
        ("vs_budget", "x budget", "{:.3f}"),
    ],
    "W13": [
        ("seconds", "s, whole search", "{:.1f}"),
        ("gflops", "useful GFLOP/s", "{:.1f}"),
        ("best_score", "best mean accuracy", "{:.4f}"),
    ],
    "W14": [
        ("score", "score (accuracy or R^2)", "{:.3f}"),
        ("trivial", "trivial baseline", "{:.3f}"),
        ("seconds", "s, train + predict (jaxmlp: whole processes)", "{:.1f}"),
    ],
    "W9": [
        ("us_per_product", "us / product", "{:,.2f}"),
        ("vs_one_gradient", "x one gradient", "{:.2f}"),
        ("vs_autodiff", "x autodiff HVP", "{:.2f}"),
    ],
}


def markdown(report: dict) -> str:
    """The report as Markdown: the machine, the peaks, one table per workload and its ratios."""
    m = report["machine"]
    lines = [
        f"Machine: {m['device']}, {m['cpu']}; Python {m['python']}, jax {m['jax']}, numpy {m['numpy']}, torch {m['torch']}.",
        "",
    ]
    peak = report.get("matmul_peak_gflops")
    if peak:
        lines += _peak_lines(peak, report.get("matmul_peak_sizes"))
    groups: dict[str, list[dict]] = {}
    for r in report["rows"]:
        groups.setdefault(r["workload"], []).append(r)
    for name, rows in groups.items():
        lines += _table(name, rows, _COLUMNS[name.split()[0]])
        ratio = ratios(name, rows, (peak or {}).get("jax"))
        if ratio:
            lines += [ratio, ""]
    return "\n".join(lines)


def _peak_lines(peak: dict, sizes: Sequence[int] | None) -> list[str]:
    """The paragraph on the float32 matrix-multiply peak, and the blank line after it."""
    best = ", ".join(f"{k} {v:,.1f}" for k, v in peak.items())
    how = (
        f"n = {', '.join(map(str, sizes))}"
        if sizes
        else "n = 1024..4096, and 2048 round-robin with W2's JAX peers"
    )
    return [
        f"float32 matrix-multiply peak, the fastest n x n product seen in this run ({how}): "
        f"{best} GFLOP/s."
        + (
            ""
            if sizes
            else " W2's percentages are each peer's fastest run against JAX's peak (best "
            "against best); its times and GFLOP/s are medians."
        ),
        "",
    ]


def _table(name: str, rows: list[dict], cols: list[tuple[str, str, str]]) -> list[str]:
    """A workload's title and Markdown table: one line per row, ``-`` where a row lacks a column."""
    lines = [f"**{name}**", ""]
    lines.append("| peer | " + " | ".join(c[1] for c in cols) + " | note |")
    lines.append("|---|" + "---|" * (len(cols) + 1))
    for r in rows:
        cells = [c[2].format(r[c[0]]) if r.get(c[0]) is not None else "-" for c in cols]
        lines.append(f"| {r['peer']} | " + " | ".join(cells) + f" | {r.get('note', '')} |")
    lines.append("")
    return lines


def ratios(name: str, rows: list[dict], peak: float | None = None) -> str:
    """The sentence of ratios under a workload's table (the figures the targets speak of);
    ``peak``: the float32 matmul peak of the same run (GFLOP/s), where measured."""
    by = {r["peer"]: r for r in rows if "note" not in r or not r["note"].startswith("skipped")}
    if name.startswith("W13"):
        from jaxmlp.bench.search import ratios as search_ratios

        return search_ratios(rows, peak)
    if name.startswith("W10"):
        from jaxmlp.bench.streaming import ratios as streaming_ratios

        return streaming_ratios(rows)
    if name.startswith("W11"):
        from jaxmlp.bench.estimators import ratios as estimator_ratios

        return estimator_ratios(rows)
    if name.startswith("W12"):
        from jaxmlp.bench.monitoring import ratios as monitor_ratios

        return monitor_ratios(rows)
    if name.startswith("W1 "):
        j = by["jaxmlp fit, backprop"]
        a, bare = by["jaxmlp fit, autodiff"], by["bare JAX (grad + scan, inline)"]
        parts = []
        for peer, key in (
            ("PyTorch eager (autograd + optim.SGD)", "PyTorch eager"),
            ("pure Python (lists, math.exp)", "pure Python"),
        ):
            if peer in by:
                parts.append(
                    f"jaxmlp (backprop) is {by[peer]['seconds_per_10k_steps'] / j['seconds_per_10k_steps']:,.0f}x faster than {key}"
                )
        over = lambda r: (
            f"{100 * (r['seconds_per_10k_steps'] / bare['seconds_per_10k_steps'] - 1):+.0f}%"
        )
        parts.append(
            f"overhead over bare JAX: autodiff {over(a)}, backprop {over(j)}; with history=False: "
            f"autodiff {over(by['jaxmlp fit, autodiff, history=False'])}, backprop {over(by['jaxmlp fit, backprop, history=False'])}"
        )
        parts.append(
            f"backprop vs autodiff {100 * (j['seconds_per_10k_steps'] / a['seconds_per_10k_steps'] - 1):+.0f}%"
        )
        return "; ".join(parts) + "."
    if name.startswith("W2"):
        t = next((r for p, r in by.items() if p.startswith("PyTorch")), None)
        pair = [by[p] for p in ("jaxmlp fit, autodiff", "jaxmlp fit, backprop")]
        return (
            f"jaxmlp vs PyTorch eager: {t['seconds'] / pair[0]['seconds']:.2f}x (autodiff), {t['seconds'] / pair[1]['seconds']:.2f}x (backprop)."
            if t
            else ""
        )
    if name.startswith(("W5", "W6", "W7", "W8")):
        from jaxmlp.bench.real_data import ratios as real_data_ratios

        return real_data_ratios(name, rows)
    if name.startswith("W3"):
        t = next((r for p, r in by.items() if p.startswith("PyTorch")), None)
        j = by["jaxmlp sweep"]
        multi = next((r for p, r in by.items() if p.startswith("jaxmlp sweep, devices=")), None)
        if t is None:
            return ""
        text = f"jaxmlp sweep vs PyTorch batched: {j['net_steps_per_second'] / t['net_steps_per_second']:.1f}x on one device"
        if multi:
            text += f", {multi['net_steps_per_second'] / t['net_steps_per_second']:.1f}x split over {multi['peer'].split('=')[1]} devices"
        return text + "."
    return ""
