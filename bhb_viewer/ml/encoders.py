"""The spectrum encoder (segment self-attention + VGG-19 in 1-D) and the image encoder (SE block +
torchvision ResNet-50), paper §4.1–4.2. Both turn one modality into tokens of width d; so does the
photometry encoder (not in the paper) for the catalogue colours, as one token."""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import nn
from torchvision.models.resnet import Bottleneck, ResNet

from bhb_viewer.core.grid import BANDS, N_SEGMENTS, SEGMENT_LENGTH
from bhb_viewer.ml.layers import SEBlock, SegmentSelfAttention, segment_weights
from bhb_viewer.ml.photometry import N_FEATURES


@dataclass
class Encoded:
    """One modality after its encoder: tokens (B, k, d), their mean (B, d), and what to explain."""

    tokens: torch.Tensor
    pooled: torch.Tensor
    extras: dict = field(default_factory=dict)


class PairMax(nn.Module):
    """Max-pool of size and stride 2 along the last axis, odd lengths rounded up (ceil mode, so short
    inputs such as the fused 2d-long vector of the VGG1D fusion never vanish).

    The maximum of the even and odd slices is ~3× faster on CPU than ``MaxPool2d((1, 2))`` on
    these 1×L maps (measured), and has no parameters, so checkpoints do not see it.
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[-1] % 2:
            x = F.pad(x, (0, 1), value=float("-inf"))
        return torch.maximum(x[..., 0::2], x[..., 1::2])


class VGG1D(nn.Module):
    """VGG-19's layout with kernel-3 1-D convolutions (BatchNorm + ReLU), a max-pool after each stage.

    ``widths``/``depths`` per stage; VGG-19 is widths (64, 128, 256, 512, 512), depths (2, 2, 4, 4, 4).
    The 1-D convolutions are run as 1×3 2-D convolutions on a (B, C, 1, L) channels-last tensor:
    the same arithmetic, but oneDNN runs it ~8× faster on CPU than ``conv1d`` (measured).
    """

    def __init__(self, widths: tuple[int, ...], depths: tuple[int, ...], in_channels: int = 1) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        channels = in_channels
        for width, depth in zip(widths, depths, strict=True):
            for _ in range(depth):
                layers += [
                    nn.Conv2d(channels, width, (1, 3), padding=(0, 1), bias=False),
                    nn.BatchNorm2d(width),
                    nn.ReLU(inplace=True),
                ]
                channels = width
            layers.append(PairMax())
        self.features = nn.Sequential(*layers)
        self.out_channels = channels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x (B, C_in, L) -> (B, C_out, ~L/32)."""
        x = x.unsqueeze(2).contiguous(memory_format=torch.channels_last)
        return self.features(x).squeeze(2)


class SpectrumEncoder(nn.Module):
    """Spectrum (B, 3522) -> k_s spectral tokens of width d, with the 7 segment weights when attending."""

    def __init__(
        self, widths: tuple[int, ...], depths: tuple[int, ...], d_model: int, k_s: int, d_k: int, self_attention: bool,
        segment_norm: bool = False,
    ) -> None:
        super().__init__()
        self.attention = SegmentSelfAttention(d_k, normalise=segment_norm) if self_attention else None
        self.vgg = VGG1D(widths, depths)
        self.pool = nn.AdaptiveAvgPool1d(k_s)
        self.proj = nn.Linear(self.vgg.out_channels, d_model)

    def forward(self, spectrum: torch.Tensor) -> Encoded:
        extras = {}
        if self.attention is not None:
            sequence, s_w = self.attention(spectrum)
            extras["segment_weights"] = segment_weights(s_w)
        else:
            sequence = spectrum[:, : N_SEGMENTS * SEGMENT_LENGTH]  # the same 3521 pixels either way
        features = self.pool(self.vgg(sequence.unsqueeze(1)))
        tokens = self.proj(features.transpose(1, 2))
        return Encoded(tokens, tokens.mean(dim=1), extras)


class ResNet50Backbone(ResNet):
    """torchvision's ResNet-50 (Bottleneck, [3, 4, 6, 3]) with a C-band stem and optional width scaling.

    The stem keeps the 7×7 stride-2 convolution but drops the max-pool, so a 64² cutout ends on a
    4×4 map (16 image tokens) instead of 2×2. ``width`` = 64 is ResNet-50 exactly (parameter names
    match torchvision's, so user-supplied weights load, stem aside); smaller widths scale every
    stage alike for the lite sizes. Blocks per stage are configurable for the tiny test size only.
    """

    def __init__(self, in_channels: int = len(BANDS), width: int = 64, blocks: tuple[int, ...] = (3, 4, 6, 3)) -> None:
        nn.Module.__init__(self)  # ResNet.__init__ hard-codes widths 64…512; rebuild with its own helpers
        self._norm_layer = nn.BatchNorm2d
        self.dilation, self.groups, self.base_width = 1, 1, 64
        self.inplanes = width
        self.conv1 = nn.Conv2d(in_channels, width, kernel_size=7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.Identity()
        self.layer1 = self._make_layer(Bottleneck, width, blocks[0])
        self.layer2 = self._make_layer(Bottleneck, width * 2, blocks[1], stride=2)
        self.layer3 = self._make_layer(Bottleneck, width * 4, blocks[2], stride=2)
        self.layer4 = self._make_layer(Bottleneck, width * 8, blocks[3], stride=2)
        self.out_channels = width * 8 * Bottleneck.expansion
        for m in self.modules():
            if not isinstance(m, (nn.Conv2d, nn.BatchNorm2d)) or m.weight.is_meta:
                continue  # nothing to initialise (and slow to fake) when only counting on the meta device
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x (B, C, S, S) -> last feature map (B, 2048·width/64, ~S/16, ~S/16)."""
        x = self.relu(self.bn1(self.conv1(x)))
        return self.layer4(self.layer3(self.layer2(self.layer1(x))))


def image_grid(cutout_size: int) -> tuple[int, int]:
    """(h, w) of the backbone's last map for an S×S cutout: four stride-2 steps, each ceil(n/2)."""
    n = cutout_size
    for _ in range(4):  # stem, layer2, layer3, layer4
        n = (n + 1) // 2
    return n, n


class ImageEncoder(nn.Module):
    """Cutout (B, 5, S, S) -> h·w image tokens of width d, with the 5 band weights when using SE."""

    def __init__(self, width: int, blocks: tuple[int, ...], d_model: int, se: bool, se_hidden: int) -> None:
        super().__init__()
        self.se = SEBlock(len(BANDS), se_hidden) if se else None
        self.backbone = ResNet50Backbone(len(BANDS), width, blocks)
        self.proj = nn.Linear(self.backbone.out_channels, d_model)

    def forward(self, image: torch.Tensor) -> Encoded:
        extras = {}
        if self.se is not None:
            image, weights = self.se(image)
            weights = weights.float()
            extras["band_weights"] = weights / weights.sum(dim=1, keepdim=True)
        features = self.backbone(image.contiguous(memory_format=torch.channels_last))
        extras["image_grid"] = tuple(features.shape[-2:])
        tokens = self.proj(features.flatten(2).transpose(1, 2))
        return Encoded(tokens, tokens.mean(dim=1), extras)


class PhotometryEncoder(nn.Module):
    """Colour features (B, 12) (ml.photometry) -> one token (B, 1, d): a two-layer MLP.

    Twelve numbers need no more; it is a fusion-stage module (trained with the fusion Transformer,
    not in an encoder stage of its own), so it learns what the spectral tokens lack, the Balmer jump.
    """

    def __init__(self, d_model: int, n_features: int = N_FEATURES) -> None:
        super().__init__()
        self.mlp = nn.Sequential(nn.Linear(n_features, d_model), nn.GELU(), nn.Linear(d_model, d_model))

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return self.mlp(features).unsqueeze(1)
