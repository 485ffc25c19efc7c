"""Evidence from recorded answers: code agreement between called models (text tasks)."""

from __future__ import annotations

import pickle
import random

import numpy as np

from modelroute.offline.cascade import TaskVerifier
from modelroute.offline.evidence import (
    AGREEMENT_FEATURES,
    CODE_FACTS,
    ParsedAnswers,
    candidates,
    code_agreement,
    letter_log_priors,
    parse_answers,
)
from modelroute.offline.plans import TaskData, search_task
from modelroute.offline.probability import fit_probability

SHARED = "Here it is:\n```python\ndef add(a, b):\n    return a + b\n```"
SAME_CODE_OTHER_PROSE = "Sure.\n```python\ndef add(a, b):\n    return a + b\n```\nDone."
OTHER = "```python\ndef total(items):\n    s = 0\n    for x in items:\n        s += x\n```"
MODELS = ("cheap-a", "cheap-b", "strong")


def test_code_agreement_is_the_similarity_of_code_token_sets() -> None:
    parsed = parse_answers([[SHARED, SAME_CODE_OTHER_PROSE, OTHER]])
    first = code_agreement(parsed, [0, 1, 2], 0)[0]
    last = code_agreement(parsed, [0, 1, 2], 2)[0]
    assert first[1] == 1.0  # the same code, whatever the prose around it
    assert 0.0 < first[0] < 1.0  # mean over the two others: one equal, one different
    assert last[1] < 0.5 and last[0] < first[0]


def test_a_model_alone_or_hand_built_answers_have_no_agreement() -> None:
    parsed = parse_answers([[SHARED, SHARED, OTHER]])
    assert not code_agreement(parsed, [1], 0).any()
    bare = ParsedAnswers(parsed.choice, parsed.code, parsed.names, parsed.log_length)
    assert not code_agreement(bare, [0, 1], 0).any()
    assert bare.take(np.array([0])).similarity is None


def test_text_candidates_carry_agreement_unless_asked_not_to() -> None:
    parsed = parse_answers([[SHARED, SHARED, OTHER]] * 3)
    priors = letter_log_priors(parsed)
    new = candidates("text", parsed, [0, 1], priors)
    old = candidates("text", parsed, [0, 1], priors, agreement=False)
    assert old.features.shape == (6, 2 + len(CODE_FACTS) + 2)
    assert new.features.shape == (6, old.features.shape[1] + AGREEMENT_FEATURES)
    np.testing.assert_array_equal(new.features[:, : old.features.shape[1]], old.features)
    assert new.features[:, -1].tolist() == [1.0] * 6  # both wrote the same code


def _code_task(n: int = 160, seed: int = 0) -> TaskData:
    """Every answer is tidy Python; an answer is right exactly when it is the code the
    other right answers also wrote (wrong answers are each model's own variant)."""
    rng = random.Random(seed)
    texts, quality = [], []
    for i in range(n):
        row, q = [], []
        for k, right_rate in enumerate((0.6, 0.6, 0.9)):
            right = rng.random() < right_rate
            body = f"return x + {i}" if right else f"return x * {i + 7 * k + 1} - {k}"
            row.append(f"```python\ndef f{i}(x):\n    {body}\n```")
            q.append(float(right))
        texts.append(row)
        quality.append(q)
    cost = np.tile([0.05, 0.05, 1.0], (n, 1))
    return TaskData("code", parse_answers(texts), np.asarray(quality), cost, MODELS, 2)


def test_the_learned_verifier_trusts_code_another_model_also_wrote() -> None:
    task = _code_task()
    _, verifier = search_task(task, folds=4, seed=0, max_cheap=2, max_cost_share=0.25)
    assert verifier.kind == "text" and verifier.uses_agreement
    index = {m: j for j, m in enumerate(MODELS)}
    agree = parse_answers([[SHARED, SAME_CODE_OTHER_PROSE, ""]])
    differ = parse_answers([[SHARED, OTHER, ""]])
    p_agree, _ = verifier.best(agree, ("cheap-a", "cheap-b"), index)
    p_differ, _ = verifier.best(differ, ("cheap-a", "cheap-b"), index)
    assert p_agree[0] > p_differ[0] + 0.2


def test_a_verifier_pickled_before_agreement_still_scores() -> None:
    task = _code_task(60)
    priors = letter_log_priors(task.parsed)
    old_feats = candidates("text", task.parsed, [0, 1], priors, agreement=False)
    labels = task.quality[old_feats.row, old_feats.model]
    acceptor = fit_probability(old_feats.features, labels)
    # a verifier saved before the `agreement` field existed pickles without that slot
    old = TaskVerifier("text", priors, {("cheap-a", "cheap-b"): acceptor})
    del old.agreement
    loaded = pickle.loads(pickle.dumps(old))
    assert not hasattr(loaded, "agreement")
    assert not loaded.uses_agreement
    index = {m: j for j, m in enumerate(MODELS)}
    p, model = loaded.best(task.parsed, ("cheap-a", "cheap-b"), index)
    assert p.shape == (60,) and set(model.tolist()) <= {0, 1}
