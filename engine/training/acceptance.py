"""Is a new embedding better than the current one on the user's own faces?  Measured on a
per-person held-out split: verification error (balanced pairs, 10-fold, the `eval lfw`
code) and recognition error (each held-out face named by the vote of its 5 nearest
training faces, as the app names faces).

The rule (`judge`): accepted when the new model is better with evidence and worse on
nothing.  Both models answer the same held-out questions, so each pair (and each face) it
got wrong before and right after is a fix, the other way round a break, and only those
flips speak: an exact one-sided sign test on them says whether the fixes outnumber the
breaks beyond chance (p <= ALPHA).  One measure, or the flips of all of them together, must
improve so; none may get worse: a model that breaks more faces (or pairs) than it fixes is
never accepted, however the other measures moved.  A third measure joins where the user
said faces are not someone: held-out such faces that the vote names as that person.  When the current model makes so few mistakes on the
held-out faces that no result could pass the test (fewer than 5: 1/2^5 = 0.031), the
verdict says so and names the people to label more.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from engine.evaluation.verification import fold_mistakes, verification_report
from engine.training.data import FaceSet
from engine.training.trainer import validation_pairs
from engine.wording import names_in_words

Embed = Callable[[np.ndarray], np.ndarray]  # chips -> embeddings (any length; compared as given)


ALPHA = 0.05  # one-sided: the chance that fixes outnumber breaks this much if the models were equal
NEIGHBOURS = 5  # the app's vote (engine.library.identities.recognition.NEIGHBOURS)


@dataclass(frozen=True)
class HeldOutErrors:
    verification_error: float
    recognition_error: float
    pairs: int
    queries: int
    # Which questions it got wrong (indices into the held-out pairs and faces, the same for
    # both models), and who was involved in each mistake: (the person, who they were taken for).
    wrong_pairs: tuple[int, ...] = ()
    wrong_queries: tuple[int, ...] = ()
    confusions: tuple[tuple[str, ...], ...] = ()
    # Held-out faces known not to be some people (KnownNegatives): each named by the same
    # vote, wrong when it names someone the face is known not to be.
    negative_queries: int = 0
    wrong_negatives: tuple[int, ...] = ()

    @property
    def mistakes(self) -> int:
        return len(self.wrong_pairs) + len(self.wrong_queries) + len(self.wrong_negatives)


def sign_test(fixed: int, broken: int) -> float:
    """One-sided exact sign test: P(X >= fixed) for X ~ Binomial(fixed + broken, 1/2), the
    chance of this many fixes or more among the flips if neither model were better."""
    flips = fixed + broken
    if flips == 0:
        return 1.0
    return sum(math.comb(flips, k) for k in range(fixed, flips + 1)) / 2**flips


@dataclass(frozen=True)
class Change:
    """Flips between two models on the same questions."""

    fixed: int  # wrong before, right after
    broken: int  # right before, wrong after

    @property
    def p_value(self) -> float:
        return sign_test(self.fixed, self.broken)

    @property
    def better(self) -> bool:
        return self.fixed > self.broken and self.p_value <= ALPHA

    @property
    def worse(self) -> bool:
        return self.broken > self.fixed


@dataclass(frozen=True)
class Verdict:
    accepted: bool
    reason: str  # 'better', 'no mistakes', 'too few mistakes', 'not sure', 'worse'
    verification: Change
    recognition: Change
    label_more: tuple[str, ...] = field(default=())  # people whose faces would tell more
    mistakes_before: int = 0  # the current model's wrong pairs and faces
    negatives: Change = Change(0, 0)  # faces known not to be someone, named as them

    def explanation(self) -> str:
        """Why, in plain words (a line of the report)."""
        v, r, n = self.verification, self.recognition, self.negatives
        flips = (f"pairs: {v.fixed} fixed, {v.broken} broken (p = {v.p_value:.3f}); "
                 f"faces: {r.fixed} fixed, {r.broken} broken (p = {r.p_value:.3f})")
        if n.fixed or n.broken:
            flips += f"; faces known not to be someone: {n.fixed} fixed, {n.broken} broken (p = {n.p_value:.3f})"
        people = f"; label more faces of {names_in_words(self.label_more)}" if self.label_more else ""
        if self.reason == "better":
            return f"better beyond chance and worse on nothing ({flips}): it can be applied"
        if self.reason == "no mistakes":
            return ("the current model already makes no mistake on these held-out faces, so no new model can "
                    f"be better{people or ': label more faces'}, and try again")
        if self.reason == "too few mistakes":
            return (f"too few mistakes to tell: the current model makes only {self.mistakes_before} on these "
                    f"held-out faces, so no result could show a real improvement ({flips}){people}")
        if self.reason == "worse":
            return f"it breaks more than it fixes ({flips}): the current model stays"
        return f"perhaps better, but that could be chance ({flips}): the current model stays{people}"


def judge(before: HeldOutErrors, after: HeldOutErrors, faces_per_person: dict[str, int] | None = None,
          people_to_name: int = 3) -> Verdict:
    """The acceptance rule (see the module docstring).  `faces_per_person`: labelled faces of
    each person, to name the least-labelled people when the mistakes name nobody."""
    verification = _change(before.wrong_pairs, after.wrong_pairs)
    recognition = _change(before.wrong_queries, after.wrong_queries)
    negatives = _change(before.wrong_negatives, after.wrong_negatives)
    measures = (verification, recognition, negatives)
    label_more = _label_more(before, faces_per_person or {}, people_to_name)
    fixed, broken = sum(m.fixed for m in measures), sum(m.broken for m in measures)
    if (any(m.better for m in measures) or Change(fixed, broken).better) and not any(m.worse for m in measures):
        return Verdict(True, "better", verification, recognition, (), before.mistakes, negatives)
    if before.mistakes == 0:
        reason = "no mistakes"
    elif any(m.worse for m in measures) or fixed < broken:
        reason = "worse"
    elif not could_show_improvement(before):
        reason = "too few mistakes"
    elif fixed == broken:
        reason = "worse"  # not better: as many broken as fixed, or nothing changed
    else:
        reason = "not sure"
    return Verdict(False, reason, verification, recognition, label_more if reason != "worse" else (), before.mistakes,
                   negatives)


def could_show_improvement(before: HeldOutErrors) -> bool:
    """Whether any new model could pass the rule: only if fixing every mistake would be beyond
    chance (at least 5 of them).  Otherwise the verdict is known before training."""
    return sign_test(before.mistakes, 0) <= ALPHA


def _change(before: tuple[int, ...], after: tuple[int, ...]) -> Change:
    wrong_before, wrong_after = set(before), set(after)
    return Change(fixed=len(wrong_before - wrong_after), broken=len(wrong_after - wrong_before))


def _label_more(before: HeldOutErrors, faces_per_person: dict[str, int], count: int) -> tuple[str, ...]:
    """The people in the current model's mistakes, most often first; else the least labelled."""
    involved = Counter(name for pair in before.confusions for name in pair)
    if involved:
        return tuple(name for name, _ in sorted(involved.items(), key=lambda kv: (-kv[1], kv[0]))[:count])
    return tuple(name for name, _ in sorted(faces_per_person.items(), key=lambda kv: (kv[1], kv[0]))[:count])


def split_per_person(faces: FaceSet, held_out_share: float = 0.3, seed: int = 0) -> tuple[FaceSet, FaceSet]:
    """Each person's faces split: about `held_out_share` held out (at least one), the rest
    for training; both parts keep every person.  The share is taken apart from the faces the
    user corrected and from the others, so the held-out faces hold their share of the
    corrections: the faces where the model needed asking, where a better model can show."""
    rng = np.random.default_rng(seed)
    corrected = faces.correction_mask()
    held = np.zeros(len(faces.labels), dtype=bool)
    for person in np.unique(faces.labels):
        members = np.flatnonzero(faces.labels == person)
        take = min(max(1, int(round(len(members) * held_out_share))), len(members) - 1)
        fixes, others = members[corrected[members]], members[~corrected[members]]
        from_fixes = min(len(fixes), int(round(take * len(fixes) / len(members))))
        held[rng.choice(fixes, size=from_fixes, replace=False)] = True
        held[rng.choice(others, size=min(take - from_fixes, len(others)), replace=False)] = True
    return faces.subset(~held), faces.subset(held)


def held_out_errors(embed: Embed, train: FaceSet, held_out: FaceSet, seed: int = 0) -> HeldOutErrors:
    return errors_from_vectors(embed(held_out.chips), embed(train.chips), train, held_out, seed)


def errors_from_vectors(
    queries: np.ndarray, references: np.ndarray, train: FaceSet, held_out: FaceSet, seed: int = 0,
    negatives: np.ndarray | None = None, not_people: list[frozenset[str]] | None = None,
) -> HeldOutErrors:
    """`queries` embed the held-out faces, `references` the training faces; `negatives` the
    held-out faces known not to be `not_people` (names)."""
    i, j = validation_pairs(held_out.labels, seed)
    distances = np.linalg.norm(queries[i] - queries[j], axis=1)
    same = held_out.labels[i] == held_out.labels[j]
    folds = np.random.default_rng(seed).permutation(len(i)) % 10
    verification = 1.0 - verification_report(distances, same, folds).accuracy_mean
    wrong_pairs = np.flatnonzero(fold_mistakes(distances, same, folds))
    voted = nearest_vote(queries, references, train)
    query_names = [held_out.names[k] for k in held_out.labels]
    wrong_queries = [q for q, name in enumerate(voted) if name != query_names[q]]
    confusions = [(held_out.names[held_out.labels[i[k]]], held_out.names[held_out.labels[j[k]]]) for k in wrong_pairs]
    confusions += [(query_names[q], voted[q]) for q in wrong_queries]
    wrong_negatives: list[int] = []
    if negatives is not None and len(negatives):
        named = nearest_vote(negatives, references, train)
        wrong_negatives = [k for k, name in enumerate(named) if name in not_people[k]]
        confusions += [(named[k],) for k in wrong_negatives]
    return HeldOutErrors(float(verification), len(wrong_queries) / max(len(queries), 1), int(len(i)), int(len(queries)),
                         tuple(int(k) for k in wrong_pairs), tuple(wrong_queries), tuple(confusions),
                         0 if negatives is None else len(negatives), tuple(wrong_negatives))


def misrecognised(
    queries: np.ndarray, references: np.ndarray, train: FaceSet, held_out: FaceSet, neighbours: int = NEIGHBOURS
) -> np.ndarray:
    """Per held-out face: does the vote of its `neighbours` nearest training faces name someone else?"""
    query_names = [held_out.names[k] for k in held_out.labels]
    voted = nearest_vote(queries, references, train, neighbours)
    return np.array([v != q for v, q in zip(voted, query_names, strict=True)], dtype=bool)


def nearest_vote(queries: np.ndarray, references: np.ndarray, train: FaceSet, neighbours: int = NEIGHBOURS) -> list[str]:
    """The name each query's `neighbours` nearest training faces vote for (most votes; ties:
    the nearest face).  1 is 1-NN; the app votes with 5 (recognition.py).  Names, not label
    numbers: two subsets number their people independently."""
    reference_names = np.array([train.names[k] for k in train.labels])
    d = np.linalg.norm(queries[:, None, :] - references[None, :, :], axis=2)
    nearest = np.argsort(d, axis=1, kind="stable")[:, :neighbours]
    out = []
    for row in nearest:
        votes: dict[str, int] = {}
        for reference in row:  # nearest first, so the first name to reach the top count is the nearer
            votes[reference_names[reference]] = votes.get(reference_names[reference], 0) + 1
        out.append(str(max(votes, key=votes.__getitem__)))  # max keeps the first of equal counts
    return out
