"""Fine-tuning an embedding on the user's own named faces, judged on faces it never saw.

The network starts from the current model's weights; by default only the later stages and
the head train.  Those early layers never change, so their output for every view of every
chip (the parent version's views, the only augmentation) is computed once; the current
model's embeddings then cost only its head, and the training steps run only the late
stages: about ten times faster on a CPU than full forward passes, which is what makes
1,000 faces fit in a few minutes.  Cancelling returns None and writes nothing.
"""

from __future__ import annotations

import copy
import time
from dataclasses import asdict, dataclass, field

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from engine.faces.alignment import chip_views, combine_views
from engine.faces.precision import Precision, choose_precision, computing_in
from engine.evaluation.verification import verification_report
from engine.jobs import CancelToken, Progress, ProgressCallback, no_progress
from engine.training.acceptance import HeldOutErrors, Verdict, could_show_improvement, errors_from_vectors, judge
from engine.wording import names_in_words
from engine.training.data import FaceSet, IdentityBatches, KnownNegatives, LookalikeBatches
from engine.training.models import ArchConfig, chips_to_input, set_trainable
from engine.training.trainer import validation_pairs
from engine.training.triplet import DEFAULT_MARGIN, mine_semi_hard, triplet_loss


@dataclass(frozen=True)
class FinetuneSettings:
    trainable: str = "late"  # or "all"
    # 500: on degraded look-alikes (1,000 faces, 3 splits) both test errors fall 30-41% except
    # verification on one split (29.7%); 400 left that split at 27%, 600 left another's
    # recognition at 27%.  On sharp look-alikes no accepted model breaks more than it fixes.
    steps: int = 500
    # The dlib weights are tiny (mean |w| 0.002-0.008 in the late blocks): Adam at 1e-4 wrecks
    # them within a few hundred steps.  Without the drift penalty 1e-5 was the best of
    # 1e-6..1e-4 on LFW look-alikes; with it and look-alike batches, 2e-5 for 400 steps did
    # as well as 1e-5 for 800.
    lr: float = 2e-5
    # 15 (was 10): more look-alikes per batch for the semi-hard mining.  On degraded look-alikes
    # (1,000 faces, 10 splits) the test errors fall 34.5% (verification) and 37.6% (5-nearest
    # recognition) pooled, one split of ten under 30% on one measure; 10 people per batch left
    # two of five short; 1.4x the time (137-181 s).
    people_per_batch: int = 15
    faces_per_person: int = 4
    # "lookalike": each batch is a person and their nearest people under the current model
    # (LookalikeBatches); "random": random people.  On 60 LFW look-alike people (1,000
    # faces) the test verification error fell 31% (two seeds), against 10% with random people
    # (at 1e-5, the previous default).
    batches: str = "lookalike"
    margin: float = DEFAULT_MARGIN
    fallback: str = "hardest"  # anchor-positive pairs without a semi-hard negative (or "skip")
    # Weight of a penalty on how far each training face moves from its current embedding
    # (squared distance).  Without it the triplet loss also moves the faces it already gets
    # right and spreads the space: on LFW look-alikes the test verification error rose 20-30%;
    # with 1.0 it fell 8-18% (two seeds; 10.0 and a lower margin were no better).
    drift_penalty: float = 1.0
    held_out_share: float = 0.3
    seed: int = 0
    # With too few mistakes on the held-out faces no model can pass the rule, so the run stops
    # after measuring the current model (seconds, where training takes minutes).  True trains
    # anyway, to see what training does (the result is refused all the same).
    train_anyway: bool = False
    # Faces the user corrected one by one are drawn this many times more often than faces
    # named with their group: they are where the model was unsure.
    correction_weight: float = 3.0
    # Known negatives (data.KnownNegatives) added to each batch: faces known not to be one of
    # the batch's people, at most this many.
    negatives_per_batch: int = 12


@dataclass
class FinetuneReport:
    before: HeldOutErrors
    after: HeldOutErrors
    verdict: Verdict
    people: int
    train_faces: int
    held_out_faces: int
    steps: int
    seconds: float
    threshold_before: float  # best-accuracy verification threshold on the held-out pairs
    threshold_after: float
    settings: dict
    # Held-out faces the user corrected one by one, and how many of them each model names wrong.
    corrections_held_out: int = 0
    corrections_wrong_before: int = 0
    corrections_wrong_after: int = 0
    known_negatives: int = 0
    # Distances below which IMPOSTOR_SHARES of the held-out different-person pairs lie, for
    # each model: the new model's levels are set where the same share of strangers falls.
    impostors_before: list[float] = field(default_factory=list)
    impostors_after: list[float] = field(default_factory=list)

    @property
    def accepted(self) -> bool:
        return self.verdict.accepted

    def to_dict(self) -> dict:
        return {**asdict(self), "accepted": self.accepted}

    @staticmethod
    def mistakes(errors: HeldOutErrors) -> int:
        """Wrong same/different decisions on the held-out pairs plus wrong names of held-out faces."""
        return errors.mistakes

    def headline(self) -> str:
        """The one sentence the user reads first."""
        fewer = self.mistakes(self.before) - self.mistakes(self.after)
        more = f" Label more faces of {names_in_words(self.verdict.label_more)}." if self.verdict.label_more else ""
        reason = self.verdict.reason
        if self.accepted:
            faces, what = self.held_out_faces, "you named"
            if self.before.negative_queries:
                faces, what = faces + self.before.negative_queries, "you named or corrected"
            return (f"Better on your faces: {fewer} fewer {'mistake' if fewer == 1 else 'mistakes'} on "
                    f"{faces} faces {what} that it had not seen. Apply?")
        if reason == "no mistakes":
            return "Your current model already makes no mistake on the faces you named; nothing was changed."
        if reason == "too few mistakes":
            return f"Too few mistakes on the faces you named to tell whether it is better; nothing was changed.{more}"
        if reason == "not sure":
            return f"Perhaps better on your faces, but that could be chance; nothing was changed.{more}"
        return "Not better on your faces; nothing was changed."

    def plain_counts(self) -> str:
        """The headline's mistakes, counted the way a person reads them (the details give the
        same counts with their rates and tests)."""
        b, a = self.before, self.after
        names = f"Naming {self.held_out_faces} faces: {len(b.wrong_queries)} wrong"
        pairs = f"telling two faces apart ({b.pairs:,} comparisons): {len(b.wrong_pairs)} wrong"
        if self.steps == 0:
            return f"{names}; {pairs}."
        said = f"{names} before, {len(a.wrong_queries)} after; {pairs} before, {len(a.wrong_pairs)} after."
        if b.negative_queries:
            said += (f" Of {b.negative_queries} faces you said are not someone, {len(b.wrong_negatives)} "
                     f"{_were(len(b.wrong_negatives))} taken for them before, {len(a.wrong_negatives)} after.")
        if self.corrections_held_out:
            said += (f" Of the {self.corrections_held_out} faces you corrected, {self.corrections_wrong_before} "
                     f"{_were(self.corrections_wrong_before)} named wrong before, {self.corrections_wrong_after} after.")
        return said

    def lines(self) -> list[str]:
        b, a = self.before, self.after
        if self.steps == 0:  # stopped before training: no result could have been accepted
            return [
                f"{self.people} people: {self.train_faces} faces to train on, {self.held_out_faces} held out "
                f"({b.pairs} verification pairs, {b.queries} recognition queries); not trained, measured in {self.seconds:.0f} s",
                f"verification error of the current model: {b.verification_error:.2%}",
                f"recognition error of the current model:  {b.recognition_error:.2%}",
                self.verdict.explanation(),
            ]
        return [
            f"{self.people} people: {self.train_faces} faces trained on, {self.held_out_faces} held out "
            f"({b.pairs} verification pairs, {b.queries} recognition queries); {self.steps} steps in {self.seconds:.0f} s",
            f"verification error: {b.verification_error:.2%} before, {a.verification_error:.2%} after "
            f"({len(b.wrong_pairs)} and {len(a.wrong_pairs)} of {b.pairs} pairs wrong)",
            f"recognition error:  {b.recognition_error:.2%} before, {a.recognition_error:.2%} after "
            f"({len(b.wrong_queries)} and {len(a.wrong_queries)} of {b.queries} faces wrong)",
            *([f"faces known not to be someone, held out: {len(b.wrong_negatives)} and {len(a.wrong_negatives)} of "
               f"{b.negative_queries} taken for them"] if b.negative_queries else []),
            *([f"faces you corrected, held out: {self.corrections_wrong_before} of {self.corrections_held_out} named wrong "
               f"before, {self.corrections_wrong_after} after"] if self.corrections_held_out else []),
            *([f"trained with {self.known_negatives} faces known not to be someone (your rejections, and the other "
               "faces of their photos); only rejections are held out to judge by"] if self.known_negatives else []),
            self.verdict.explanation(),
        ]


def _were(count: int) -> str:
    return "was" if count == 1 else "were"


class SplitNetwork:
    """A network as a frozen trunk (run once per chip) and a trainable head.  The trunk runs in
    the app's precision for this processor (bfloat16 on bf16 units), as the embedder that will
    use the fine-tuned model does; the head trains in float32 on its output."""

    def __init__(self, network: nn.Module, config: ArchConfig, trainable: str, precision: Precision | None = None) -> None:
        self.network = network
        self.config = config
        self.precision = precision or choose_precision()
        backbone = getattr(network, "backbone", None)
        self.head_start = 0
        if config.arch == "resnet" and backbone is not None:
            if trainable == "late":
                self.head_start = len(backbone.blocks) * 2 // 3  # the blocks late_parameters trains
            elif trainable == "head":
                self.head_start = len(backbone.blocks)

    def trunk(self, chips: np.ndarray) -> torch.Tensor:
        x = chips_to_input(chips, self.config)
        if self.head_start == 0:
            return x
        backbone = self.network.backbone
        with torch.inference_mode(), computing_in(self.precision):
            x = F.max_pool2d(F.relu(backbone.stem(x)), 3, 2)
            return backbone.blocks[: self.head_start](x).float()

    def head(self, features: torch.Tensor) -> torch.Tensor:
        if self.head_start == 0:
            return self.network(features)
        backbone = self.network.backbone
        x = backbone.blocks[self.head_start :](features)
        return F.normalize(backbone.fc(x.mean(dim=(2, 3))), dim=1)


def trunk_features(split: SplitNetwork, chips: np.ndarray, rotations: tuple[float, ...] = (), batch: int = 32) -> torch.Tensor:
    """(N, views, ...) trunk output of every view of every chip (chip + mirror when no
    rotations): the fine-tuned model is measured and used with its parent's views."""
    parts = []
    for start in range(0, len(chips), batch):
        views = chip_views(chips[start : start + batch], rotations)
        out = split.trunk(np.concatenate(views))
        parts.append(torch.stack(out.chunk(len(views)), dim=1))
    return torch.cat(parts)


def views_average(split: SplitNetwork, features: torch.Tensor, batch: int = 64) -> np.ndarray:
    """The app's recipe: 2 x the mean of the views' unit vectors (for chip + mirror, their sum)."""
    split.network.eval()
    out = []
    views = features.shape[1]
    with torch.inference_mode():
        for start in range(0, len(features), batch):
            part = features[start : start + batch]
            out.append(combine_views(np.stack([split.head(part[:, view]).numpy() for view in range(views)])))
    return np.concatenate(out)


def _faces_per_person(*parts: FaceSet) -> dict[str, int]:
    counts: dict[str, int] = {}
    for part in parts:
        for label in part.labels.tolist():
            counts[part.names[label]] = counts.get(part.names[label], 0) + 1
    return counts


# Shares of different-person pairs; the smallest still holds about 20 pairs among 150 faces.
IMPOSTOR_SHARES = (0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5)
MAX_IMPOSTOR_FACES = 2000  # enough pairs for the shares; the distance matrix stays small


def impostor_distances(vectors: np.ndarray, labels: np.ndarray, seed: int = 0) -> list[float]:
    """The distance below which each of IMPOSTOR_SHARES of the pairs of different people lie.
    Empty when there are too few such pairs to say."""
    if len(labels) > MAX_IMPOSTOR_FACES:
        keep = np.sort(np.random.default_rng([seed, 2]).choice(len(labels), MAX_IMPOSTOR_FACES, replace=False))
        vectors, labels = vectors[keep], labels[keep]
    vectors = vectors.astype(np.float64)
    squared = (vectors**2).sum(axis=1)
    distances = np.sqrt(np.maximum(squared[:, None] + squared[None, :] - 2 * vectors @ vectors.T, 0.0))
    upper = np.triu(np.ones(distances.shape, dtype=bool), 1) & (labels[:, None] != labels[None, :])
    different = distances[upper]
    if len(different) * IMPOSTOR_SHARES[0] < 10:
        return []
    return np.quantile(different, IMPOSTOR_SHARES).tolist()


def held_out_threshold(vectors: np.ndarray, labels: np.ndarray, seed: int = 0) -> float:
    i, j = validation_pairs(labels, seed)
    distances = np.linalg.norm(vectors[i] - vectors[j], axis=1)
    folds = np.random.default_rng(seed).permutation(len(i)) % 10
    return float(verification_report(distances, labels[i] == labels[j], folds).threshold_mean)


class NegativeFeed:
    """Known negatives for the batches: for the people in a batch, up to
    `negatives_per_batch` faces known not to be one of them, each with a label of its own
    and a negative only for the people it is known not to be."""

    def __init__(self, split: SplitNetwork, negatives: KnownNegatives, names: list[str],
                 rotations: tuple[float, ...], settings: FinetuneSettings) -> None:
        self.split, self.limit = split, settings.negatives_per_batch
        self.not_people = negatives.for_people(names)
        self.features = trunk_features(split, negatives.chips, rotations)
        self.of_person: dict[int, list[int]] = {}
        for k, nots in enumerate(self.not_people):
            for person in nots:
                self.of_person.setdefault(person, []).append(k)
        self.current: torch.Tensor | None = None

    def measure_current(self) -> None:
        """The current model's view vectors: the drift penalty's targets."""
        self.split.network.eval()
        with torch.inference_mode():
            self.current = torch.stack([self.split.head(self.features[:, v]) for v in range(self.features.shape[1])], dim=1)

    def extend(self, features: torch.Tensor, targets: torch.Tensor, labels: torch.Tensor,
               generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor | None]:
        people = set(labels.tolist())
        candidates = sorted({k for person in people for k in self.of_person.get(person, ())})
        if not candidates or self.limit <= 0:
            return features, targets, labels, None
        order = torch.randperm(len(candidates), generator=generator)[: self.limit]
        chosen = torch.tensor(candidates)[order]
        view = torch.randint(0, self.features.shape[1], (len(chosen),), generator=generator)
        own_labels = -1 - torch.arange(len(chosen))
        allowed = torch.ones(len(labels) + len(chosen), len(labels) + len(chosen), dtype=torch.bool)
        for column, k in enumerate(chosen.tolist()):
            allowed[: len(labels), len(labels) + column] = torch.tensor([p in self.not_people[k] for p in labels.tolist()])
        return (torch.cat([features, self.features[chosen, view]]), torch.cat([targets, self.current[chosen, view]]),
                torch.cat([labels, own_labels]), allowed)


def finetune(
    network: nn.Module,
    config: ArchConfig,
    train: FaceSet,
    held_out: FaceSet,
    settings: FinetuneSettings = FinetuneSettings(),
    progress: ProgressCallback = no_progress,
    cancel: CancelToken | None = None,
    rotations: tuple[float, ...] = (),
    negatives: KnownNegatives | None = None,
    held_out_negatives: KnownNegatives | None = None,
) -> tuple[nn.Module, FinetuneReport]:
    """Train a copy of `network` on `train`; compare it with `network` itself on `held_out`.
    Raises Cancelled when cancelled.  `rotations`: the parent version's extra views; both models are
    measured with them (the current one then gives exactly what the app stores for it), and
    the new one trains on a random view of each face per step.  `negatives`: faces known not
    to be some of the people, each a negative only for those (KnownNegatives);
    `held_out_negatives`: more of them, to judge by (named as someone they are not: a mistake)."""
    cancel = cancel or CancelToken()
    started = time.monotonic()
    torch.manual_seed(settings.seed)
    network = copy.deepcopy(network)
    split = SplitNetwork(network, config, settings.trainable)
    parameters = set_trainable(network, config, settings.trainable)
    total = settings.steps + 4
    progress(Progress("fine-tuning", 0, total, "preparing features"))
    train_features = trunk_features(split, train.chips, rotations)
    held_features = trunk_features(split, held_out.chips, rotations)
    extra = NegativeFeed(split, negatives, train.names, rotations, settings) if negatives is not None and len(negatives) else None
    judged = held_out_negatives if held_out_negatives is not None and len(held_out_negatives) else None
    judged_features = trunk_features(split, judged.chips, rotations) if judged is not None else None
    not_people = judged.not_people if judged is not None else None
    cancel.stop_if_cancelled()
    progress(Progress("fine-tuning", 1, total, "measuring the current model"))
    # The frozen trunk is shared, so the current model's embeddings cost only its head; they
    # are also the drift penalty's targets (every view of every training face).
    before_vectors = views_average(split, held_features)
    network.eval()
    with torch.inference_mode():
        current = torch.stack([split.head(train_features[:, v]) for v in range(train_features.shape[1])], dim=1)
    before_train = combine_views(current.numpy().transpose(1, 0, 2))
    before = errors_from_vectors(before_vectors, before_train, train, held_out, settings.seed,
                                 None if judged is None else views_average(split, judged_features), not_people)
    corrected = set(np.flatnonzero(held_out.correction_mask()).tolist())
    if extra is not None:
        extra.measure_current()
    cancel.stop_if_cancelled()
    threshold_before = held_out_threshold(before_vectors, held_out.labels, settings.seed)
    impostors_before = impostor_distances(before_vectors, held_out.labels, settings.seed)

    def finished(after: HeldOutErrors, threshold_after: float, steps: int, message: str,
                 impostors_after: list[float] = impostors_before) -> tuple[nn.Module, FinetuneReport]:
        for p in network.parameters():
            p.requires_grad_(True)
        report = FinetuneReport(
            before=before,
            after=after,
            verdict=judge(before, after, _faces_per_person(train, held_out)),
            people=len(set(train.names) | set(held_out.names)),
            train_faces=len(train.labels),
            held_out_faces=len(held_out.labels),
            steps=steps,
            seconds=time.monotonic() - started,
            threshold_before=threshold_before,
            threshold_after=threshold_after,
            settings=asdict(settings),
            corrections_held_out=len(corrected),
            corrections_wrong_before=len(corrected & set(before.wrong_queries)),
            corrections_wrong_after=len(corrected & set(after.wrong_queries)),
            known_negatives=0 if negatives is None else len(negatives),
            impostors_before=impostors_before,
            impostors_after=impostors_after,
        )
        progress(Progress("fine-tuning", total, total, message))
        return network, report

    if not settings.train_anyway and not could_show_improvement(before):
        # No model could pass the rule on these held-out faces: say so now, not after minutes
        # of training whose result would be refused whatever it is.
        return finished(before, threshold_before, 0, "done: nothing to train for")
    optimizer = torch.optim.Adam(parameters, lr=settings.lr)
    weights = 1.0 + settings.correction_weight * train.correction_mask()
    if settings.batches == "lookalike":
        batches = LookalikeBatches(train.labels, before_train, settings.people_per_batch, settings.faces_per_person,
                                   settings.seed, weights)
    else:
        batches = IdentityBatches(train.labels, settings.people_per_batch, settings.faces_per_person, settings.seed, weights)
    generator = torch.Generator().manual_seed(settings.seed)
    labels_all = torch.from_numpy(train.labels)
    training_started = time.monotonic()
    for step in range(settings.steps):
        cancel.stop_if_cancelled()
        network.train()
        index = torch.from_numpy(batches.next_batch())
        view = torch.randint(0, train_features.shape[1], (len(index),), generator=generator)
        features, targets, labels, allowed = train_features[index, view], current[index, view], labels_all[index], None
        if extra is not None:
            features, targets, labels, allowed = extra.extend(features, targets, labels, generator)
        embeddings = split.head(features)
        triplets = mine_semi_hard(embeddings.detach(), labels, settings.margin, settings.fallback, generator, allowed)
        loss, active = triplet_loss(embeddings, triplets, settings.margin)
        if settings.drift_penalty:
            loss = loss + settings.drift_penalty * (embeddings - targets).pow(2).sum(dim=1).mean()
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        per_step = (time.monotonic() - training_started) / (step + 1)
        progress(Progress("fine-tuning", step + 2, total, f"loss {float(loss.detach()):.4f} active {active:.2f}",
                          eta_seconds=per_step * (settings.steps - step - 1)))
    network.eval()
    progress(Progress("fine-tuning", settings.steps + 2, total, "measuring the new model"))
    held_vectors = views_average(split, held_features)
    train_vectors = views_average(split, train_features)
    after = errors_from_vectors(held_vectors, train_vectors, train, held_out, settings.seed,
                                None if judged is None else views_average(split, judged_features), not_people)
    return finished(after, held_out_threshold(held_vectors, held_out.labels, settings.seed), settings.steps, "done",
                    impostor_distances(held_vectors, held_out.labels, settings.seed))
