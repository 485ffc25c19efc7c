"""A trained prompt-only router used online as a strategy.

Wraps a `modelroute.offline.classifier.PromptClassifier` (made by `modelroute train
--kind classifier`): for each request it predicts every known model's chance of a good
answer from the prompt and its task, and ranks the route's models by
`P(good) - lam * mean cost` (cost relative to the baseline's, as learned from the
training data). The top model is tried first; the rest stay as fallbacks in that order;
route models the router was not trained on go last, in route order. Needs the `ml`
extra (scikit-learn); loading the file unpickles it, so load only routers you trust.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import TYPE_CHECKING

from modelroute.catalog import Catalog
from modelroute.errors import ConfigError
from modelroute.strategies.base import Ranking
from modelroute.types import Request

if TYPE_CHECKING:
    from modelroute.offline.artifact import TrainedRouter as RouterFile
    from modelroute.offline.classifier import PromptClassifier


def load_router_file(path: str | os.PathLike[str]) -> RouterFile:
    """The trained router (classifier or cascade) saved at `path`. Raises `ConfigError`
    naming `path` when the file is missing or unreadable, `RouterFileError` when it is
    not a router file (both `ModelRouteError`s and `ValueError`s)."""
    from modelroute.offline.artifact import load_router

    try:
        return load_router(path)
    except OSError as exc:
        why = exc.strerror or type(exc).__name__
        raise ConfigError("", f"cannot read router file {os.fspath(path)!r}: {why}") from None


@dataclass(frozen=True, slots=True)
class TrainedRouter:
    """Rank by a trained classifier. `lam` overrides the calibrated price of cost.

    The ranking's `score` is the chosen model's predicted P(good), `threshold` the price
    of cost used, `tier` the chosen model. Pure and thread-safe (read-only model).
    """

    classifier: PromptClassifier
    lam: float | None = None
    name: str = "trained"

    @classmethod
    def load(cls, path: str | os.PathLike[str], lam: float | None = None) -> TrainedRouter:
        """Load a classifier router file saved by `modelroute train --kind classifier`.
        Raises `ConfigError` (naming `path`) for a missing or unreadable file and for a
        cascade file (load that with `LearnedCascade.load`), `RouterFileError` (a
        `ModelRouteError`) for a file that is not a router."""
        from modelroute.offline.classifier import PromptClassifier

        router = load_router_file(path)
        if not isinstance(router, PromptClassifier):
            raise ConfigError(
                "",
                f"{path}: a {router.kind} router, not a classifier; use a classifier here, or "
                "load a cascade with modelroute.strategies.learned_cascade.LearnedCascade.load",
            )
        return cls(router, lam)

    def rank(self, request: Request, models: tuple[str, ...], catalog: Catalog) -> Ranking:
        """Known models by utility, then unknown ones in route order."""
        clf = self.classifier
        prompt = "\n".join(m.text for m in request.messages)
        probs = clf.predict([prompt], [request.task])[0]
        lam = clf.lam if self.lam is None else self.lam
        utility = clf.utility(probs[None, :], lam)[0]
        index = {m: j for j, m in enumerate(clf.models)}
        known = sorted((m for m in models if m in index), key=lambda m: -utility[index[m]])
        unknown = [m for m in models if m not in index]
        if not known:
            return Ranking(models, reason="no route model is known to the trained router")
        top = known[0]
        p = float(probs[index[top]])
        return Ranking(
            (*known, *unknown),
            reason=f"P(good)={p:.3f} at price {lam:.3g}: {top}",
            score=p,
            threshold=float(lam),
            tier=top,
        )
