"""Model files: a trained network plus what the app needs to use it (architecture, input,
embedding size, calibrated threshold, what it was trained on).  Saved with torch.save as
plain tensors and plain values only, so they load with `weights_only=True`.

A raw Inception-ResNet-v1 state dict (the public FaceNet checkpoints' format) is accepted
too; it has no calibrated threshold, so a default is used until `facenet eval lfw` is run.
"""

from __future__ import annotations

import hashlib
import io
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from engine.errors import ModelFileError
from engine.faces.precision import Precision, choose_precision, computing_in
from engine.model_versions import ModelVersion
from engine.paths import atomic_write_bytes
from engine.training.models import ArchConfig, build_network, default_config, embed_chips

FORMAT = "facenet-desktop-model"
FORMAT_VERSION = 1
UNCALIBRATED_THRESHOLD = 1.1  # unit vectors; the FaceNet paper's operating point


@dataclass
class LoadedModel:
    network: nn.Module
    config: ArchConfig
    metadata: dict
    version: ModelVersion


def save_model_file(path: str | Path, network: nn.Module, config: ArchConfig, metadata: dict) -> None:
    state = {k: v.detach().cpu().clone() for k, v in network.state_dict().items()}
    payload = {"format": FORMAT, "format_version": FORMAT_VERSION, "config": config.to_dict(), "metadata": metadata,
               "state_dict": state}
    buffer = io.BytesIO()
    torch.save(payload, buffer)
    atomic_write_bytes(Path(path), buffer.getvalue())


def _version(name: str, config: ArchConfig, threshold: float, calibration: str) -> ModelVersion:
    """The people levels keep dlib-resnet-v1's measured ratios to the verification threshold
    (0.50 / 0.8365^2, 0.55 / 0.8365, 0.65 / 0.8365; the group level views6's) until measured
    for this model."""
    return ModelVersion(
        name=name,
        architecture=config.arch,
        embedding_size=config.embedding_size,
        l2_normalize=True,
        threshold=threshold,
        calibration=calibration,
        subpixel_landmarks=True,
        flip_average=False,
        cluster_linkage=threshold**2 * 0.7,
        auto_assign_distance=threshold * 0.66,
        suggest_distance=threshold * 0.78,
        group_suggest_linkage=threshold**2 * 0.8,  # dlib-resnet-v1-views6: 0.55 / 0.8255^2
    )


def load_model_file(path: str | Path) -> LoadedModel:
    path = Path(path)
    try:
        data = path.read_bytes()
        payload = torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
    except FileNotFoundError as exc:
        raise ModelFileError(path, "file not found") from exc
    except Exception as exc:  # torch raises many kinds for a damaged or foreign file
        raise ModelFileError(path, f"not a model file this app can read ({type(exc).__name__}: {exc})") from exc
    digest = hashlib.sha256(data).hexdigest()[:12]
    if isinstance(payload, dict) and payload.get("format") == FORMAT:
        config = ArchConfig.from_dict(payload["config"])
        network = build_network(config, pretrained=False)
        try:
            network.load_state_dict(payload["state_dict"])
        except RuntimeError as exc:
            raise ModelFileError(path, f"weights do not fit the {config.arch} architecture: {exc}") from exc
        metadata = dict(payload.get("metadata", {}))
        threshold = float(metadata.get("threshold", UNCALIBRATED_THRESHOLD))
        name = metadata.get("name") or f"{config.arch}-{digest}"
        if "model_version" in metadata:  # fine-tuned in a library: its own recalibrated version
            version = ModelVersion(**metadata["model_version"])
        else:
            version = _version(name, config, threshold, metadata.get("calibration", "from the model file"))
        network.eval()
        return LoadedModel(network, config, metadata, version)
    if isinstance(payload, dict) and "conv2d_1a.conv.weight" in payload:
        config = default_config("inception-resnet-v1")
        network = build_network(config)
        try:
            network.load_checkpoint_state(payload)
        except RuntimeError as exc:
            raise ModelFileError(path, f"not an Inception-ResNet-v1 state dict: {exc}") from exc
        network.eval()
        version = _version(f"inception-resnet-v1-{digest}", config, UNCALIBRATED_THRESHOLD,
                           "uncalibrated default for unit vectors; run `facenet eval lfw --model` to measure")
        return LoadedModel(network, config, {"source": str(path)}, version)
    raise ModelFileError(path, "neither a facenet-desktop model file nor an Inception-ResNet-v1 state dict")


class ModelFileEmbedder:
    """The pipeline's embedder for a model file (same interface as FaceEmbedder), in the
    precision the app chose for this processor, as FaceEmbedder is: on bf16 units a fine-tuned
    model re-embeds a library 1.6 times as fast as in float32 (benchmarks/finetune_time.py)."""

    def __init__(self, loaded: LoadedModel, batch_size: int = 32, precision: Precision | None = None) -> None:
        self.loaded = loaded
        self.batch_size = batch_size
        self.precision = precision or choose_precision()

    @property
    def model_version(self) -> ModelVersion:
        return self.loaded.version

    def embed(self, chips: np.ndarray) -> np.ndarray:
        with computing_in(self.precision):  # embed_chips returns float32 whatever ran inside
            return embed_chips(self.loaded.network, self.loaded.config, np.asarray(chips), self.batch_size)
