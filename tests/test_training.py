"""Networks, model files and real training runs on ORL."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
import torch

from engine.errors import Cancelled, ModelFileError
from engine.jobs import CancelToken
from engine.training.inception_resnet_v1 import InceptionResnetV1
from engine.training.model_file import ModelFileEmbedder, load_model_file, save_model_file
from engine.training.models import build_network, chips_to_input, default_config, embed_chips
from engine.training.trainer import TrainConfig, train
from engine.training.triplet import Triplets, triplet_loss


def random_chips(n: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, size=(n, 150, 150, 3), dtype=np.uint8)


@pytest.mark.parametrize(("width", "size"), [(1.0, 224), (0.5, 96), (0.25, 64)])
def test_inception_outputs_unit_vectors(width: float, size: int) -> None:
    config = default_config("inception", size, width)
    network = build_network(config).eval()
    with torch.no_grad():
        out = network(chips_to_input(random_chips(3), config))
    assert out.shape == (3, 128)
    assert torch.allclose(out.norm(dim=1), torch.ones(3), atol=1e-5)


def test_nn2_has_the_papers_size() -> None:
    params = sum(p.numel() for p in build_network(default_config("inception", 224, 1.0)).parameters())
    assert 7.0e6 < params < 8.0e6  # Schroff et al.: NN2 has 7.5M parameters


def _saved_small_model(tmp_path, seed: int):  # noqa: ANN202 - (network, config, the file loaded)
    config = default_config("inception", 64, 0.25)
    torch.manual_seed(seed)
    network = build_network(config).eval()
    save_model_file(tmp_path / "m.pt", network, config, {"threshold": 0.9, "name": "test-model"})
    return network, config, load_model_file(tmp_path / "m.pt")


def test_model_file_reloads_to_identical_embeddings(tmp_path) -> None:
    network, config, loaded = _saved_small_model(tmp_path, 1)
    chips = random_chips(4)
    assert np.array_equal(ModelFileEmbedder(loaded).embed(chips), embed_chips(network, config, chips))
    assert loaded.version.threshold == 0.9 and loaded.version.name == "test-model" and loaded.version.l2_normalize


def test_inception_resnet_v1_state_dict_round_trip(tmp_path) -> None:
    torch.manual_seed(2)
    reference = InceptionResnetV1().eval()
    state = reference.state_dict()
    state["logits.weight"] = torch.randn(10, 512)  # checkpoints carry a classifier head; ignored
    torch.save(state, tmp_path / "20180402-114759-vggface2.pt")
    loaded = load_model_file(tmp_path / "20180402-114759-vggface2.pt")
    chips = random_chips(2)
    with torch.no_grad():
        expected = reference(chips_to_input(chips, loaded.config)).numpy()
    got = ModelFileEmbedder(loaded).embed(chips)
    assert got.shape == (2, 512)
    assert np.array_equal(got, expected)


def test_damaged_or_foreign_model_files_are_clear_errors(tmp_path) -> None:
    (tmp_path / "junk.pt").write_bytes(b"not a model")
    with pytest.raises(ModelFileError, match="not a model file"):
        load_model_file(tmp_path / "junk.pt")
    torch.save({"some": torch.zeros(3)}, tmp_path / "other.pt")
    with pytest.raises(ModelFileError, match="neither"):
        load_model_file(tmp_path / "other.pt")
    with pytest.raises(ModelFileError, match="not found"):
        load_model_file(tmp_path / "missing.pt")


@pytest.mark.slow
def test_verify_with_a_model_file(tmp_path, faces_dir, capsys) -> None:
    from engine.cli import main as facenet

    config = default_config("inception", 64, 0.25)
    save_model_file(tmp_path / "m.pt", build_network(config).eval(), config, {"threshold": 0.5})
    images = sorted((faces_dir / "lfw_deepfunneled" / "Colin_Powell").glob("*.jpg"))[:2]
    assert facenet(["verify", str(images[0]), str(images[1]), "--model", str(tmp_path / "m.pt"), "--json"]) == 0
    assert '"threshold": 0.5' in capsys.readouterr().out


@pytest.fixture(scope="module")
def orl_faces(faces_dir, pipeline):
    from engine.training.data import prepare_faces

    faces = prepare_faces(faces_dir / "orl_att", lambda: pipeline)
    assert faces.summary()["people"] == 40 and faces.summary()["faces"] == 400
    return faces


def fixed_triplet_loss(network, config, faces, seed: int = 0) -> float:  # noqa: ANN001
    """Mean triplet loss over fixed random triplets of training faces (comparable over time)."""
    rng = np.random.default_rng(seed)
    anchors, positives, negatives = [], [], []
    for _ in range(300):
        a = rng.integers(len(faces.labels))
        same = np.flatnonzero((faces.labels == faces.labels[a]) & (np.arange(len(faces.labels)) != a))
        other = np.flatnonzero(faces.labels != faces.labels[a])
        anchors.append(a), positives.append(rng.choice(same)), negatives.append(rng.choice(other))
    emb = torch.from_numpy(embed_chips(network, config, faces.chips))
    loss, _ = triplet_loss(emb, Triplets(torch.tensor(anchors), torch.tensor(positives), torch.tensor(negatives)))
    return float(loss)


@pytest.mark.slow
def test_real_training_on_orl_learns(orl_faces, tmp_path) -> None:
    """30 people train, 10 held out, 4 epochs of 50 steps; about 40 s on 2 cores."""
    from engine.training.trainer import split_people

    config = TrainConfig(data="orl", out=str(tmp_path / "run"), arch="inception", input_size=64, width=0.25,
                         epochs=4, steps_per_epoch=50, val_people=10)
    result = train(config, faces=orl_faces)
    train_set, _ = split_people(orl_faces, 10, 0)
    arch = default_config("inception", 64, 0.25)
    torch.manual_seed(0)
    untrained = build_network(arch)
    trained = load_model_file(result.model_path)
    before = fixed_triplet_loss(untrained, arch, train_set)
    after = fixed_triplet_loss(trained.network, arch, train_set)
    print(result.initial_accuracy, [(h.loss, h.val_accuracy) for h in result.history], before, after)
    # Reached (2026-12-02): held-out accuracy 0.72 -> 0.84 (0.84 after 6 epochs too); the
    # training-set triplet loss 0.20 -> 0.01; the epoch loss 0.17 -> 0.07.
    assert after < 0.6 * before
    # The epoch loss is over the triplets mined in that epoch (fewer and harder as the model
    # learns), so its ratio varies with the processor's arithmetic: 0.41 on one machine,
    # 0.56 on another (2026-12-07) with the same accuracies; the fixed-triplet loss above is
    # the measure of learning, this one only says the mined loss fell clearly.
    assert result.history[-1].loss < 0.65 * result.history[0].loss
    assert result.best_accuracy >= result.initial_accuracy + 0.08
    assert trained.metadata["validation_accuracy"] == result.best_accuracy
    assert trained.metadata["training_data"]["people"] == 30


@pytest.mark.slow
def test_training_resumes_and_cancels(orl_faces, tmp_path) -> None:
    out = tmp_path / "run"
    base = dict(data="orl", out=str(out), arch="inception", input_size=64, width=0.25, steps_per_epoch=5, val_people=10)
    first = train(TrainConfig(epochs=1, **base), faces=orl_faces)
    assert [h.epoch for h in first.history] == [1]
    second = train(TrainConfig(epochs=2, **base), faces=orl_faces)
    assert second.resumed_from_epoch == 1 and [h.epoch for h in second.history] == [1, 2]
    # A straight two-epoch run gives the same second epoch: the resume restored everything.
    straight = train(TrainConfig(epochs=2, **{**base, "out": str(tmp_path / "straight")}), faces=orl_faces)
    assert straight.history[1].loss == pytest.approx(second.history[1].loss, rel=1e-4)
    token = CancelToken()
    shutil.copy(out / "checkpoint.pt", tmp_path / "before.pt")
    token.cancel()
    with pytest.raises(Cancelled) as stopped:
        train(TrainConfig(epochs=3, **base), faces=orl_faces, cancel=token)
    assert [h.epoch for h in stopped.value.partial.history] == [1, 2]  # what the checkpoint holds; epoch 3 never began
    assert (out / "checkpoint.pt").read_bytes() == (tmp_path / "before.pt").read_bytes()


@pytest.mark.slow
def test_train_command_end_to_end(tmp_path, faces_dir, capsys) -> None:
    from engine.cli import main as facenet

    data = tmp_path / "people"
    for person in sorted((faces_dir / "orl_att").glob("s*"))[:8]:
        (data / person.name).mkdir(parents=True)
        for image in sorted(person.glob("*"))[:6]:
            (data / person.name / image.name).symlink_to(image)
    out = tmp_path / "run"
    args = ["train", "--data", str(data), "--out", str(out), "--input-size", "64", "--width", "0.25",
            "--epochs", "1", "--steps-per-epoch", "3", "--val-people", "3", "--people-per-batch", "4", "--quiet"]
    assert facenet(args) == 0
    text = capsys.readouterr().out
    assert "held-out verification accuracy before training" in text and "best model" in text
    assert (out / "model.pt").exists() and (out / "checkpoint.pt").exists()
    args[args.index("--epochs") + 1] = "2"
    assert facenet(args) == 0
    assert "resumed after epoch 1" in capsys.readouterr().out
    photo = next((faces_dir / "lfw_deepfunneled" / "Colin_Powell").glob("*.jpg"))
    assert facenet(["faces", str(photo), "--model", str(out / "model.pt"), "--json"]) == 0


def test_resnet_backbone_is_dlibs_network_with_unit_output_and_trains(model_files) -> None:
    from engine.faces.embedder import FaceEmbedder

    config = default_config("resnet")
    network = build_network(config)
    chips = random_chips(3, seed=5)
    reference = FaceEmbedder(model_files.recognition).embed(chips)
    network.eval()
    with torch.no_grad():
        unit_out = network(chips_to_input(chips, config)).numpy()
    expected = reference / np.linalg.norm(reference, axis=1, keepdims=True)
    assert np.abs(unit_out - expected).max() < 1e-5
    network.train()
    out = network(chips_to_input(chips, config))
    loss, _ = triplet_loss(out, Triplets(torch.tensor([0]), torch.tensor([1]), torch.tensor([2])), margin=4.0)
    loss.backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in network.parameters())


@pytest.mark.parametrize(("arch", "size", "width"), [("inception", 64, 0.25), ("inception-resnet-v1", None, None)])
def test_late_scope_trains_only_the_later_stages(arch, size, width) -> None:
    from engine.training.models import set_trainable

    config = default_config(arch, size, width)
    network = build_network(config)
    before = {k: v.clone() for k, v in network.state_dict().items()}
    chosen = set_trainable(network, config, "late")
    assert 0 < sum(p.numel() for p in chosen) < sum(p.numel() for p in network.parameters())
    optimizer = torch.optim.SGD(chosen, lr=0.1)
    network.train()
    out = network(chips_to_input(random_chips(4), config))
    loss, _ = triplet_loss(out, Triplets(torch.tensor([0, 1]), torch.tensor([2, 3]), torch.tensor([3, 2])), margin=4.0)
    loss.backward()
    optimizer.step()
    after = network.state_dict()
    first_conv = next(k for k in before if k.endswith("weight") and after[k].dim() == 4)
    assert torch.equal(before[first_conv], after[first_conv])  # early layers frozen
    head = [k for k in before if k.startswith(("embedding.", "last_linear."))]
    assert head and all(not torch.equal(before[k], after[k]) for k in head)  # the head moved


def test_prepare_faces_takes_the_central_or_the_largest_face(tmp_path, faces_dir, pipeline) -> None:
    """Two real people in one picture: a larger face at the left, the folder's person in the
    middle (as in LFW images).  `pick="central"` takes the person in the middle."""
    from PIL import Image

    from engine.training.data import prepare_faces

    side = faces_dir / "lfw_deepfunneled" / "George_W_Bush" / "George_W_Bush_0001.jpg"
    middle = faces_dir / "lfw_deepfunneled" / "Colin_Powell" / "Colin_Powell_0001.jpg"
    canvas = Image.new("RGB", (1000, 400), (128, 128, 128))
    canvas.paste(Image.open(side).convert("RGB").resize((360, 360)), (0, 20))
    canvas.paste(Image.open(middle).convert("RGB"), (375, 75))
    (tmp_path / "people" / "Colin_Powell").mkdir(parents=True)
    canvas.save(tmp_path / "people" / "Colin_Powell" / "together.jpg", quality=95)

    def own_face(path):  # noqa: ANN001, ANN202 - the person alone, as the reference
        found = pipeline.analyze(path)
        assert len(found.faces) == 1
        return found.faces[0].embedding

    central = prepare_faces(tmp_path / "people", lambda: pipeline, pick="central")
    largest = prepare_faces(tmp_path / "people", lambda: pipeline, pick="largest")
    threshold = pipeline.model_version.threshold
    central_vector, largest_vector = pipeline.embed_chips(np.concatenate([central.chips, largest.chips]))
    assert np.linalg.norm(central_vector - own_face(middle)) < threshold < np.linalg.norm(central_vector - own_face(side))
    assert np.linalg.norm(largest_vector - own_face(side)) < threshold < np.linalg.norm(largest_vector - own_face(middle))
    with pytest.raises(ValueError, match="unknown face pick"):
        prepare_faces(tmp_path / "people", lambda: pipeline, pick="smallest")


def test_a_model_file_embeds_in_the_chosen_precision(tmp_path) -> None:
    """A fine-tuned model runs where the app's embedder runs: in bfloat16 on processors with
    bf16 units (there it re-embeds a library about 1.6 times as fast), float32 elsewhere.
    Forced bf16 here (emulated where the units are missing) against float32: close, not equal."""
    from engine.faces.precision import FP32, Precision

    network, config, loaded = _saved_small_model(tmp_path, 3)
    chips = random_chips(4)
    exact = ModelFileEmbedder(loaded, precision=FP32).embed(chips)
    reduced = ModelFileEmbedder(loaded, precision=Precision("bf16", "forced in a test")).embed(chips)
    assert np.array_equal(exact, embed_chips(network, config, chips))
    assert reduced.dtype == np.float32 and reduced.shape == exact.shape
    assert not np.array_equal(reduced, exact)  # it did run in bfloat16
    cosine = np.sum(reduced * exact, axis=1) / np.linalg.norm(reduced, axis=1) / np.linalg.norm(exact, axis=1)
    assert cosine.min() > 0.99
