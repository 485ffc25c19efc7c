"""Probability models fitted on 0..1 quality labels (logistic regression, scikit-learn)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

FloatArray = NDArray[np.float64]


@dataclass(frozen=True, slots=True)
class Constant:
    """A probability that does not depend on the features (all labels were alike)."""

    p: float

    def predict_proba(self, x: Any) -> FloatArray:
        """scikit-learn's shape: columns P(0), P(1)."""
        n = x.shape[0]
        return np.column_stack([np.full(n, 1.0 - self.p), np.full(n, self.p)])


@contextmanager
def one_thread() -> Iterator[None]:
    """Run BLAS/OpenMP single-threaded: these fits are small, and on a busy machine
    their thread pools cost far more than they save (300 ms instead of 16 ms a fit)."""
    from threadpoolctl import threadpool_limits  # type: ignore[import-untyped]

    with threadpool_limits(limits=1):
        yield


def fit_probability(x: Any, quality: FloatArray, *, c: float = 1.0) -> Any:
    """Fit P(answer is good | features) on labels in 0..1.

    A fractional label q counts as a good example with weight q and a bad one with weight
    1 - q. Returns a fitted `LogisticRegression`, or a `Constant` when the labels leave
    nothing to learn.
    """
    from sklearn.linear_model import LogisticRegression

    q = np.clip(np.asarray(quality, dtype=np.float64), 0.0, 1.0)
    if q.size == 0 or (np.all(q == q[0]) and q[0] in (0.0, 1.0)):
        return Constant(float(q[0]) if q.size else 0.5)
    n = q.size
    labels = np.concatenate([np.ones(n), np.zeros(n)])
    weights = np.concatenate([q, 1.0 - q])
    keep = weights > 0
    if hasattr(x, "tocsr"):
        import scipy.sparse as sp

        both = sp.vstack([x, x]).tocsr()[keep]
    else:
        both = np.vstack([x, x])[keep]
    model = LogisticRegression(C=c, solver="liblinear", max_iter=1000)
    model.fit(both, labels[keep], sample_weight=weights[keep])
    return model


def probability(model: Any, x: Any) -> FloatArray:
    """P(good) per row of `x`."""
    if x.shape[0] == 0:
        return np.zeros(0)
    return np.asarray(model.predict_proba(x)[:, 1], dtype=np.float64)
