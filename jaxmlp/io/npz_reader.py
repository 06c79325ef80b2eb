"""NumPy ``.npz`` data sets (arrays ``x`` ``(n, features)`` and ``y`` ``(n,)``), read without
pickle into a ``pyarrow.Table`` with columns ``x0, x1, ...`` and ``y``."""

from __future__ import annotations

from pathlib import Path

import numpy as np

__all__ = ["SUFFIX", "read_npz_table"]

SUFFIX = ".npz"


def read_npz_table(path: Path):
    """The ``.npz`` file ``path`` as a ``pyarrow.Table``."""
    import pyarrow as pa

    try:
        with np.load(path, allow_pickle=False) as z:
            if "x" not in z.files or "y" not in z.files:
                raise ValueError(
                    f"{path}: an .npz data set needs arrays 'x' and 'y', got {z.files}"
                )
            x, y = z["x"], z["y"]
    except (OSError, EOFError) as e:
        raise ValueError(f"{path} is not a readable .npz file: {e}") from None
    if x.ndim != 2 or y.ndim not in (1, 2) or y.shape[0] != x.shape[0]:
        raise ValueError(
            f"{path}: x must be (n, features) and y (n,) with the same n, got {x.shape} and {y.shape}"
        )
    if y.ndim == 2 and y.shape[1] != 1:
        raise ValueError(f"{path}: y must hold one target per row, got shape {y.shape}")
    cols = {f"x{j}": x[:, j] for j in range(x.shape[1])}
    cols["y"] = y.reshape(-1)
    return pa.table(cols)
