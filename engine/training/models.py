"""The trainable embedding networks by name, and how a 150x150 face chip becomes their input."""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from engine.dlib.resnet import load_dlib_resnet
from engine.training import ARCHITECTURES  # noqa: F401 - the one list, also read without torch
from engine.training.inception_facenet import InceptionFaceNet
from engine.training.inception_resnet_v1 import INPUT_SIZE as IRV1_INPUT
from engine.training.inception_resnet_v1 import InceptionResnetV1


@dataclass(frozen=True)
class ArchConfig:
    """Everything needed to rebuild a network (stored in model files)."""

    arch: str
    input_size: int
    embedding_size: int
    width: float = 1.0
    means: tuple[float, float, float] = (127.5, 127.5, 127.5)  # subtracted from 0..255 pixels
    scale: float = 127.5  # then divided by this

    def to_dict(self) -> dict:
        return asdict(self)

    @staticmethod
    def from_dict(data: dict) -> ArchConfig:
        values = dict(data)
        values["means"] = tuple(float(m) for m in values.get("means", (127.5, 127.5, 127.5)))
        return ArchConfig(**values)


class UnitResNet(nn.Module):
    """dlib's ResNet with an L2-normalised output, so it trains under the triplet loss."""

    def __init__(self, backbone: nn.Module) -> None:
        super().__init__()
        self.backbone = backbone

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.normalize(self.backbone(x), dim=1)


def default_config(arch: str, input_size: int | None = None, width: float | None = None) -> ArchConfig:
    if arch == "inception":
        return ArchConfig("inception", input_size or 96, 128, width if width is not None else 0.5)
    if arch == "resnet":
        from engine.dlib.model_files import default_model_files

        _, means = load_dlib_resnet(default_model_files().recognition)
        return ArchConfig("resnet", 150, 128, 1.0, tuple(float(m) for m in means), 256.0)
    if arch == "inception-resnet-v1":
        return ArchConfig("inception-resnet-v1", IRV1_INPUT, 512, 1.0, (127.5, 127.5, 127.5), 128.0)
    raise ValueError(f"unknown architecture {arch!r} (choose from {', '.join(ARCHITECTURES)})")


def build_network(config: ArchConfig, pretrained: bool = True) -> nn.Module:
    """A fresh network; the ResNet starts from the dlib weights when `pretrained`."""
    if config.arch == "inception":
        return InceptionFaceNet(config.width, config.embedding_size)
    if config.arch == "resnet":
        from engine.dlib.model_files import default_model_files

        backbone, _ = load_dlib_resnet(default_model_files().recognition)
        if not pretrained:
            for module in backbone.modules():
                if isinstance(module, (nn.Conv2d, nn.Linear)):
                    module.reset_parameters()
        return UnitResNet(backbone)
    if config.arch == "inception-resnet-v1":
        return InceptionResnetV1()
    raise ValueError(f"unknown architecture {config.arch!r}")


def chips_to_input(chips: np.ndarray | torch.Tensor, config: ArchConfig) -> torch.Tensor:
    """(N, 150, 150, 3) uint8 chips -> (N, 3, S, S) float input for the network."""
    x = torch.as_tensor(np.asarray(chips) if not isinstance(chips, torch.Tensor) else chips)
    x = x.permute(0, 3, 1, 2).float()
    if x.shape[-1] != config.input_size:
        x = F.interpolate(x, size=(config.input_size, config.input_size), mode="bilinear", align_corners=False, antialias=True)
    means = torch.tensor(config.means, dtype=torch.float32).view(1, 3, 1, 1)
    return (x - means) / config.scale


def embed_chips(network: nn.Module, config: ArchConfig, chips: np.ndarray, batch: int = 64) -> np.ndarray:
    """(N, 150, 150, 3) uint8 chips -> (N, embedding_size) float32, in eval mode, batched."""
    network.eval()
    out = np.empty((len(chips), config.embedding_size), dtype=np.float32)
    with torch.inference_mode():
        for start in range(0, len(chips), batch):
            part = chips_to_input(chips[start : start + batch], config)
            out[start : start + len(part)] = network(part).float().numpy()  # bf16 under autocast
    return out


def late_parameters(network: nn.Module, config: ArchConfig) -> list[nn.Parameter]:
    """The later stages and the head: what fine-tuning on a few hundred faces should move
    (the early layers' generic features stay as they are)."""
    if config.arch == "resnet":
        blocks = list(network.backbone.blocks)
        modules = [*blocks[len(blocks) * 2 // 3 :], network.backbone.fc]
    elif config.arch == "inception":
        modules = [network.inception.get_submodule(n) for n in ("4e", "5a", "5b")]
        modules += [network.embedding, network.embedding_norm]
    elif config.arch == "inception-resnet-v1":
        modules = [network.repeat_3, network.block8, network.last_linear, network.last_bn]
    else:
        raise ValueError(f"unknown architecture {config.arch!r}")
    return [p for m in modules for p in m.parameters()]


def set_trainable(network: nn.Module, config: ArchConfig, scope: str) -> list[nn.Parameter]:
    """Freeze everything outside `scope` ("all", "late", or "head": the resnet's last
    linear layer only); returns the parameters to train."""
    if scope == "all":
        chosen = list(network.parameters())
    elif scope == "late":
        chosen = late_parameters(network, config)
    elif scope == "head" and config.arch == "resnet":
        chosen = list(network.backbone.fc.parameters())
    else:
        raise ValueError(f"unknown trainable scope {scope!r} (all, late, or head for the resnet)")
    keep = {id(p) for p in chosen}
    for p in network.parameters():
        p.requires_grad_(id(p) in keep)
    return chosen
