"""BATMM and every model of the paper's Tables 6–8, built by name and size from one registry.

All models share one call: ``model(spectrum (B, 3522), image (B, 5, S, S), stage="full") -> dict``
with ``"logits"`` (B, 2) plus whatever the model can explain (segment/band weights, attention).
A fusion Transformer built with ``Arch.photometry`` also reads ``photometry=`` (B, 12) colour
features (ml.photometry) as one more token, and then scores a candidate without cutouts too
(``image=None``): the Balmer jump its spectrum lacks is in u−g. One built with ``Arch.diagnostics``
also reads ``diagnostics=`` (B, 8) Balmer-line features (ml.diagnostics) in a branch of its own,
trained in a stage of its own after the fusion; its full pass averages the two P(BHB).
Models with both encoders also answer ``stage="spectrum"`` and ``stage="image"`` through linear
heads on each encoder's pooled tokens: steps 1–2 of the spec's transfer-learning recipe.
Step 3 (``"fusion"``) trains everything but the encoders; ``"full"`` fine-tunes all of it.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import asdict, dataclass, fields

import torch
from torch import nn

from bhb_viewer.core.grid import BANDS, CUTOUT_SIZE, NPIX
from bhb_viewer.ml.diagnostics import N_DIAGNOSTIC_FEATURES
from bhb_viewer.ml.encoders import VGG1D, Encoded, ImageEncoder, PhotometryEncoder, SpectrumEncoder, image_grid
from bhb_viewer.ml.layers import FusionLayer
from bhb_viewer.ml.photometry import N_FEATURES

N_CLASSES = 2
# Bump when a change to the model code would make old weights mean something else: checkpoints
# record it and loading refuses another value.
MODEL_CODE_VERSION = 1
SIZE_NAMES = ("paper", "lite", "tiny")
ENCODER_STAGES = ("spectrum", "image")
DIAGNOSTICS_STAGE = "diagnostics"  # trains only the Balmer-diagnostics branch (Arch.diagnostics)
# Rows of the fusion Transformer's semantic embedding (Sem_S, Sem_I of Eq. 5–6, then the colours' own):
# the first two keep their meaning in every checkpoint, and only a photometry model has the third.
SEM_SPECTRUM, SEM_IMAGE, SEM_PHOTOMETRY = 0, 1, 2


@dataclass(frozen=True)
class Arch:
    """Every architecture knob; a size is a set of defaults, a checkpoint stores the full dict."""

    vgg_widths: tuple[int, ...]
    vgg_depths: tuple[int, ...]
    resnet_width: int
    resnet_blocks: tuple[int, ...]
    d_model: int
    n_layers: int
    n_heads: int
    ffn_dim: int
    k_s: int
    d_k: int
    se_hidden: int
    cutout_size: int = CUTOUT_SIZE
    dropout: float = 0.1
    positional: bool = False
    photometry: bool = False  # a token of catalogue colours (fusion Transformers); not the paper's input
    segment_norm: bool = False  # LayerNorm on the segments before the segment attention's W_Q, W_K; not the paper's
    diagnostics: bool = False  # a branch on Balmer diagnostics + colours averaged with the fusion; not the paper's

    def __post_init__(self) -> None:
        for f in fields(self):  # JSON brings tuples back as lists
            if isinstance(getattr(self, f.name), list):
                object.__setattr__(self, f.name, tuple(getattr(self, f.name)))

    def to_dict(self) -> dict:
        """The knobs as a checkpoint stores them; ``segment_norm`` and ``diagnostics`` only when on, so a
        checkpoint that does not use them stays readable by code older than the options."""
        knobs = asdict(self)
        for optional in ("segment_norm", "diagnostics"):
            if not knobs[optional]:
                del knobs[optional]
        return knobs


SIZES: dict[str, dict] = {
    # The spec's widths: VGG-19 1-D, ResNet-50, 8 fusion layers × 8 heads, d = 512.
    "paper": dict(vgg_widths=(64, 128, 256, 512, 512), vgg_depths=(2, 2, 4, 4, 4), resnet_width=64,
                  resnet_blocks=(3, 4, 6, 3), d_model=512, n_layers=8, n_heads=8, ffn_dim=2048, k_s=16, d_k=64,
                  se_hidden=16),
    # Same topology with 1/16 of the widths, d = 64 and 2 fusion layers: ≥ 500 candidates/s and an
    # epoch in well under a minute on a 2-core CPU (1/8 of the widths scored ~250/s per core).
    "lite": dict(vgg_widths=(4, 8, 16, 32, 32), vgg_depths=(2, 2, 4, 4, 4), resnet_width=4,
                 resnet_blocks=(3, 4, 6, 3), d_model=64, n_layers=2, n_heads=4, ffn_dim=128, k_s=16, d_k=32,
                 se_hidden=16),
    # For unit tests only: one block per stage.
    "tiny": dict(vgg_widths=(4, 4, 8, 8, 8), vgg_depths=(1, 1, 1, 1, 1), resnet_width=4,
                 resnet_blocks=(1, 1, 1, 1), d_model=16, n_layers=1, n_heads=2, ffn_dim=32, k_s=4, d_k=8,
                 se_hidden=8),
}


def make_arch(size: str, **overrides) -> Arch:
    """The size's defaults with ``overrides`` applied; unknown sizes or knobs raise ValueError."""
    if size not in SIZES:
        raise ValueError(f"unknown size {size!r}; choose one of {', '.join(SIZE_NAMES)}")
    known = {f.name for f in fields(Arch)}
    unknown = set(overrides) - known
    if unknown:
        raise ValueError(f"unknown architecture argument(s) {sorted(unknown)}; known: {sorted(known)}")
    return Arch(**{**SIZES[size], **overrides})


class BhbModel(nn.Module):
    """What every registered model shares: stages, parameter groups for the trainer, freezing.

    Subclasses set ``spectrum_encoder`` / ``image_encoder`` (None when unused) and, with both
    encoders, ``aux_heads`` (linear heads for the encoder stages); everything else is "fusion".
    """

    name: str = ""
    size: str = ""
    arch: Arch

    def __init__(self) -> None:
        super().__init__()
        self.spectrum_encoder: SpectrumEncoder | None = None
        self.image_encoder: ImageEncoder | None = None
        self.aux_heads = nn.ModuleDict()
        self.diagnostics_head: nn.Module | None = None
        self._frozen: list[nn.Module] = []

    # --- stages -------------------------------------------------------------------------------
    def stages(self) -> list[str]:
        """Valid ``stage`` values, in the order of the transfer-learning recipe."""
        diagnostics = [DIAGNOSTICS_STAGE] if self.diagnostics_head is not None else []
        return [s for s in ENCODER_STAGES if s in self.aux_heads] + (
            ["fusion", *diagnostics, "full"] if len(self.aux_heads) else ["full"]
        )

    def _check_stage(self, stage: str) -> None:
        if stage not in self.stages():
            raise ValueError(
                f"model {self.name or type(self).__name__} has no stage {stage!r}; stages: {self.stages()}"
            )

    def forward(self, spectrum: torch.Tensor | None = None, image: torch.Tensor | None = None, stage: str = "full",
                photometry: torch.Tensor | None = None, diagnostics: torch.Tensor | None = None) -> dict:
        self._check_stage(stage)
        if stage in ENCODER_STAGES:
            enc = self._stage_encoder(stage)(_need(spectrum if stage == "spectrum" else image, stage))
            return {"logits": self.aux_heads[stage](enc.pooled), **enc.extras}
        if stage == DIAGNOSTICS_STAGE:
            return {"logits": self._diagnostics_logits(photometry, diagnostics)}
        out = self.forward_full(spectrum, image, photometry)
        if stage == "full" and self.diagnostics_head is not None:
            # the fusion stage trains the fusion alone; the full pass averages its P(BHB) with the branch's
            out["logits_fusion"] = out["logits"]
            out["logits_diagnostics"] = self._diagnostics_logits(photometry, diagnostics)
            mean_p = (torch.softmax(out["logits"].float(), 1) + torch.softmax(out["logits_diagnostics"].float(), 1)) / 2
            out["logits"] = torch.log(mean_p.clamp_min(1e-12)).to(out["logits"].dtype)
        return out

    def _diagnostics_logits(self, photometry: torch.Tensor | None, diagnostics: torch.Tensor | None) -> torch.Tensor:
        if self.diagnostics_head is None:
            raise ValueError(f"model {self.name or type(self).__name__} has no diagnostics branch")
        return self.diagnostics_head(torch.cat([_need(diagnostics, "diagnostics"), _need(photometry, "photometry")], 1))

    def forward_full(self, spectrum: torch.Tensor | None, image: torch.Tensor | None,
                     photometry: torch.Tensor | None = None) -> dict:
        """The full model; ``photometry`` is read only by a model built with ``Arch.photometry``."""
        raise NotImplementedError

    def modality_logits(self, out: dict) -> dict[str, torch.Tensor]:
        """Logits of each encoder-stage head (``"spectrum"``, ``"image"``) from a full pass's pooled features.

        The heads are trained in stages 1–2 and frozen afterwards, so they stay the single-modality
        classifiers they were, unless an end-to-end stage later moved the encoders under them.
        """
        return {
            m: self.aux_heads[m](out[f"pooled_{m}"])
            for m in ENCODER_STAGES
            if m in self.aux_heads and f"pooled_{m}" in out
        }

    def encode(self, spectrum: torch.Tensor | None, image: torch.Tensor | None) -> tuple[Encoded, Encoded]:
        """Both encoders on their inputs (the models that fuse pooled features); ValueError without both."""
        if self.spectrum_encoder is None or self.image_encoder is None:
            raise ValueError(f"model {self.name or type(self).__name__} does not have both encoders")
        return self.spectrum_encoder(_need(spectrum, "spectrum")), self.image_encoder(_need(image, "image"))

    def _stage_encoder(self, stage: str) -> SpectrumEncoder | ImageEncoder:
        """The encoder an encoder stage (``"spectrum"``, ``"image"``) trains; a model has the stage only
        with the encoder, so ValueError here means a stage name that was not checked."""
        encoder = self.spectrum_encoder if stage == "spectrum" else self.image_encoder
        if encoder is None:
            raise ValueError(f"model {self.name or type(self).__name__} has no {stage} encoder")
        return encoder

    # --- parameter groups -----------------------------------------------------------------------
    def _encoders(self) -> list[nn.Module]:
        return [m for m in (self.spectrum_encoder, self.image_encoder) if m is not None]

    def encoder_parameters(self) -> list[nn.Parameter]:
        return [p for m in self._encoders() for p in m.parameters()]

    def fusion_parameters(self) -> list[nn.Parameter]:
        """Everything after the encoders except the encoder-stage heads."""
        skip = ("spectrum_encoder.", "image_encoder.", "aux_heads.", "diagnostics_head.")
        return [p for n, p in self.named_parameters() if not n.startswith(skip)]

    def stage_parameters(self, stage: str) -> list[nn.Parameter]:
        """The parameters trained at ``stage``."""
        self._check_stage(stage)
        if stage in ENCODER_STAGES:
            return list(self._stage_encoder(stage).parameters()) + list(self.aux_heads[stage].parameters())
        if stage == "fusion":
            return self.fusion_parameters()
        if stage == DIAGNOSTICS_STAGE:
            assert self.diagnostics_head is not None  # _check_stage: only a model with the branch has the stage
            return list(self.diagnostics_head.parameters())
        return self.encoder_parameters() + self.fusion_parameters()

    def freeze_for(self, stage: str) -> list[nn.Parameter]:
        """Make only ``stage``'s parameters trainable and return them.

        Encoders left out of the stage stay in eval mode even under ``model.train()``, so frozen
        BatchNorm statistics do not drift while the fusion module trains on their tokens.
        """
        trainable = self.stage_parameters(stage)
        ids = {id(p) for p in trainable}
        for p in self.parameters():
            p.requires_grad_(id(p) in ids)
        self._frozen = [m for m in self._encoders() if not any(id(p) in ids for p in m.parameters())]
        self.train(self.training)
        return trainable

    def train(self, mode: bool = True) -> BhbModel:
        super().train(mode)
        for m in self._frozen:
            m.eval()
        return self


def _pooled(s: Encoded | None, i: Encoded | None) -> dict[str, torch.Tensor]:
    """The pooled encoder features a full forward pass also returns, so the encoder-stage heads
    (``BhbModel.modality_logits``) score each modality without a second pass."""
    out = {}
    if s is not None:
        out["pooled_spectrum"] = s.pooled
    if i is not None:
        out["pooled_image"] = i.pooled
    return out


def _need(x: torch.Tensor | None, what: str) -> torch.Tensor:
    if x is None:
        raise ValueError(f"this model needs the {what} input")
    return x


def _aux_heads(d_model: int) -> nn.ModuleDict:
    return nn.ModuleDict({s: nn.Linear(d_model, N_CLASSES) for s in ENCODER_STAGES})


def _diagnostics_head(hidden: int = 64) -> nn.Module:
    """The Balmer-diagnostics branch: a two-layer perceptron on (B, 8) diagnostics + (B, 12) colour features."""
    return nn.Sequential(nn.Linear(N_DIAGNOSTIC_FEATURES + N_FEATURES, hidden), nn.ReLU(), nn.Linear(hidden, hidden),
                         nn.ReLU(), nn.Linear(hidden, N_CLASSES))


def _spectrum_encoder(arch: Arch, self_attention: bool = True) -> SpectrumEncoder:
    return SpectrumEncoder(arch.vgg_widths, arch.vgg_depths, arch.d_model, arch.k_s, arch.d_k, self_attention,
                           arch.segment_norm)


def _image_encoder(arch: Arch, se: bool = True) -> ImageEncoder:
    return ImageEncoder(arch.resnet_width, arch.resnet_blocks, arch.d_model, se, arch.se_hidden)


class SpectrumOnly(BhbModel):
    """VGG1D (± segment self-attention) with a linear classifier on the pooled tokens (§7.4.2, Table 6)."""

    spectrum_encoder: SpectrumEncoder

    def __init__(self, arch: Arch, self_attention: bool) -> None:
        super().__init__()
        self.spectrum_encoder = _spectrum_encoder(arch, self_attention)
        self.head = nn.Linear(arch.d_model, N_CLASSES)

    def forward_full(self, spectrum, image=None, photometry=None):
        enc = self.spectrum_encoder(_need(spectrum, "spectrum"))
        return {"logits": self.head(enc.pooled), **enc.extras}


class ImageOnly(BhbModel):
    """ResNet-50 (± SE block) with a linear classifier on the pooled tokens (§7.4.1, Table 6)."""

    image_encoder: ImageEncoder

    def __init__(self, arch: Arch, se: bool) -> None:
        super().__init__()
        self.image_encoder = _image_encoder(arch, se)
        self.head = nn.Linear(arch.d_model, N_CLASSES)

    def forward_full(self, spectrum=None, image=None, photometry=None):
        enc = self.image_encoder(_need(image, "image"))
        return {"logits": self.head(enc.pooled), **enc.extras}


class EarlyFusion(BhbModel):
    """Sum (§7.4.3) or concatenation (§7.4.4) of the pooled encoder features, then a linear classifier."""

    def __init__(self, arch: Arch, mode: str) -> None:
        super().__init__()
        self.mode = mode
        self.spectrum_encoder = _spectrum_encoder(arch)
        self.image_encoder = _image_encoder(arch)
        self.aux_heads = _aux_heads(arch.d_model)
        self.head = nn.Linear(arch.d_model * (2 if mode == "concat" else 1), N_CLASSES)

    def forward_full(self, spectrum, image, photometry=None):
        s, i = self.encode(spectrum, image)
        fused = s.pooled + i.pooled if self.mode == "add" else torch.cat([s.pooled, i.pooled], dim=1)
        return {"logits": self.head(fused), **s.extras, **i.extras, **_pooled(s, i)}


class VGG1DFusion(BhbModel):
    """"Multimodal VGG1D" (§7.4.5): the concatenated 2d-long feature vector goes through a VGG1D."""

    def __init__(self, arch: Arch) -> None:
        super().__init__()
        self.spectrum_encoder = _spectrum_encoder(arch)
        self.image_encoder = _image_encoder(arch)
        self.aux_heads = _aux_heads(arch.d_model)
        self.fusion = VGG1D(arch.vgg_widths, arch.vgg_depths)
        self.head = nn.Linear(self.fusion.out_channels, N_CLASSES)

    def forward_full(self, spectrum, image, photometry=None):
        s, i = self.encode(spectrum, image)
        fused = torch.cat([s.pooled, i.pooled], dim=1).unsqueeze(1)
        return {"logits": self.head(self.fusion(fused).mean(dim=2)), **s.extras, **i.extras, **_pooled(s, i)}


class FusionTransformer(BhbModel):
    """The fusion Transformer of §4.3 and its Table 7 ablations.

    Tokens: [CLS] + image tokens (+ Sem_I) + spectral tokens (+ Sem_S). ``use_image`` False is the
    spectrum-only Transformer; ``semantic`` adds the modality embeddings (Eq. 5–6);
    ``cross_attention`` lets image tokens query the spectral ones in every layer (Eq. 7–9).
    All four on is BATMM. The paper adds no position embedding, so by default none is added: a
    per-token one would also tell the modalities apart and void the semantic-embedding ablation.
    ``arch.positional`` adds a learned one for experiments.

    ``arch.photometry`` appends one token of catalogue colours (+ its own semantic row) from a
    small MLP, a fusion-stage module. Such a model also runs without cutouts (``image=None``):
    [CLS] + spectral tokens + colour token, no cross-attention, which is how it scores a candidate
    that has a spectrum and magnitudes but no images.
    """

    spectrum_encoder: SpectrumEncoder

    def __init__(self, arch: Arch, use_image: bool, semantic: bool, cross_attention: bool) -> None:
        super().__init__()
        self.spectrum_encoder = _spectrum_encoder(arch)
        self.image_encoder = _image_encoder(arch) if use_image else None
        self.aux_heads = (
            _aux_heads(arch.d_model) if use_image else nn.ModuleDict({"spectrum": nn.Linear(arch.d_model, N_CLASSES)})
        )
        d = arch.d_model
        h, w = image_grid(arch.cutout_size)
        self.k_i = h * w if use_image else 0
        self.k_s = arch.k_s
        self.photometry_encoder = PhotometryEncoder(d) if arch.photometry else None
        if arch.diagnostics:
            self.diagnostics_head = _diagnostics_head()
        k_p = int(arch.photometry)  # colour tokens
        self.cls = nn.Parameter(torch.zeros(1, 1, d))
        # rows SEM_SPECTRUM, SEM_IMAGE (, SEM_PHOTOMETRY)
        self.semantic = nn.Embedding(2 + k_p, d) if semantic else None
        self.position = nn.Parameter(torch.zeros(1, 1 + self.k_i + self.k_s + k_p, d)) if arch.positional else None
        self.layers = nn.ModuleList(
            FusionLayer(d, arch.n_heads, arch.ffn_dim, cross_attention and use_image, arch.dropout)
            for _ in range(arch.n_layers)
        )
        self.head = nn.Linear(d, N_CLASSES)
        nn.init.trunc_normal_(self.cls, std=0.02)
        if self.position is not None:
            nn.init.trunc_normal_(self.position, std=0.02)

    def _typed(self, tokens: torch.Tensor, row: int) -> torch.Tensor:
        """Tokens plus their modality's semantic embedding, where the model has one."""
        return tokens if self.semantic is None else tokens + self.semantic.weight[row]

    def _image(self, image: torch.Tensor | None) -> Encoded | None:
        """The image encoded; None where the model has no image encoder, or reads colours and got no image."""
        if self.image_encoder is None or (image is None and self.photometry_encoder is not None):
            return None
        encoded = self.image_encoder(_need(image, "image"))
        if encoded.tokens.shape[1] != self.k_i:
            raise ValueError(
                f"cutouts give {encoded.tokens.shape[1]} image tokens but the model was built for "
                f"{self.k_i} ({self.arch.cutout_size}² cutouts)"
            )
        return encoded

    def _positions(self, k_i: int) -> torch.Tensor:
        """The position embedding of this pass's tokens (the image's left out of a pass without one)."""
        assert self.position is not None
        if k_i == self.k_i:
            return self.position
        return torch.cat([self.position[:, :1], self.position[:, 1 + self.k_i :]], dim=1)

    def forward_full(self, spectrum, image, photometry=None):
        s, i = self.spectrum_encoder(_need(spectrum, "spectrum")), self._image(image)
        spec_tokens = s.tokens
        parts = [self.cls.expand(spec_tokens.shape[0], -1, -1).to(spec_tokens.dtype)]
        if i is not None:
            parts.append(self._typed(i.tokens, SEM_IMAGE))
        parts.append(self._typed(spec_tokens, SEM_SPECTRUM))
        if self.photometry_encoder is not None:
            colour_token = self.photometry_encoder(_need(photometry, "photometry"))
            parts.append(self._typed(colour_token, SEM_PHOTOMETRY))
        tokens = torch.cat(parts, dim=1)
        k_i = 0 if i is None else self.k_i
        if self.position is not None:
            tokens = tokens + self._positions(k_i)
        image_slice = slice(1, 1 + k_i)
        spectrum_slice = slice(1 + k_i, 1 + k_i + self.k_s)
        cross, cls_rows = [], []
        for layer in self.layers:
            tokens, cross_w, self_w = layer(tokens, image_slice, spectrum_slice)
            cls_rows.append(self_w[:, :, 0])
            if cross_w is not None:
                cross.append(cross_w)
        # the CLS token is also the embedding that trust checks measure distances in (ml.embedding_stats)
        out = {
            "logits": self.head(tokens[:, 0]),
            "embedding": tokens[:, 0],
            "cls_attention": torch.stack(cls_rows, dim=1),
            **s.extras,
            **_pooled(s, i),
        }
        if i is not None:
            out.update(i.extras)
        if cross:
            out["cross_attention"] = torch.stack(cross, dim=1)
        return out


@dataclass(frozen=True)
class ModelSpec:
    factory: Callable[[Arch], BhbModel]
    description: str
    modalities: tuple[str, ...]
    paper: str  # where the paper reports it


MODEL_REGISTRY: dict[str, ModelSpec] = {
    "image_resnet": ModelSpec(lambda a: ImageOnly(a, se=False), "image-only ResNet-50", ("image",), "Table 6"),
    "image_resnet_se": ModelSpec(
        lambda a: ImageOnly(a, se=True), "image-only ResNet-50 + SE block", ("image",), "Tables 6, 8"
    ),
    "spectrum_vgg1d": ModelSpec(
        lambda a: SpectrumOnly(a, self_attention=False), "spectrum-only VGG1D", ("spectrum",), "Table 6"
    ),
    "spectrum_vgg1d_sa": ModelSpec(
        lambda a: SpectrumOnly(a, self_attention=True),
        "spectrum-only VGG1D + segment self-attention", ("spectrum",), "Tables 6, 8",
    ),
    "early_add": ModelSpec(
        lambda a: EarlyFusion(a, "add"), "sum of pooled spectrum and image features", ("spectrum", "image"), "Table 8"
    ),
    "early_concat": ModelSpec(
        lambda a: EarlyFusion(a, "concat"),
        "concatenated pooled spectrum and image features", ("spectrum", "image"), "Table 8",
    ),
    "vgg1d_fusion": ModelSpec(
        VGG1DFusion, "VGG1D over the concatenated features (multimodal VGG1D)", ("spectrum", "image"), "Table 8"
    ),
    "transformer_spectrum": ModelSpec(
        lambda a: FusionTransformer(a, use_image=False, semantic=False, cross_attention=False),
        "Transformer on spectral tokens only", ("spectrum",), "Table 7",
    ),
    "transformer_image": ModelSpec(
        lambda a: FusionTransformer(a, use_image=True, semantic=False, cross_attention=False),
        "Transformer + image tokens", ("spectrum", "image"), "Table 7",
    ),
    "transformer_sem": ModelSpec(
        lambda a: FusionTransformer(a, use_image=True, semantic=True, cross_attention=False),
        "Transformer + image + semantic embedding", ("spectrum", "image"), "Table 7",
    ),
    "transformer_ca": ModelSpec(
        lambda a: FusionTransformer(a, use_image=True, semantic=False, cross_attention=True),
        "Transformer + image + cross-attention", ("spectrum", "image"), "Table 7",
    ),
    "batmm": ModelSpec(
        lambda a: FusionTransformer(a, use_image=True, semantic=True, cross_attention=True),
        "BATMM: Transformer + image + semantic embedding + cross-attention", ("spectrum", "image"), "Tables 5, 7, 8",
    ),
}


def build_model(name: str, size: str = "lite", **arch_overrides) -> BhbModel:
    """A freshly initialised model by registry name and size; ``arch_overrides`` replace size defaults."""
    if name not in MODEL_REGISTRY:
        raise ValueError(f"unknown model {name!r}; registered: {', '.join(MODEL_REGISTRY)}")
    arch = make_arch(size, **arch_overrides)
    model = MODEL_REGISTRY[name].factory(arch)
    if arch.photometry and not isinstance(model, FusionTransformer):
        raise ValueError(f"model {name} reads no photometry; only the fusion Transformers (transformer_*, batmm) do")
    if arch.diagnostics and not (arch.photometry and model.image_encoder is not None):
        raise ValueError(f"the diagnostics branch reads the colours too and follows the fusion of both encoders: "
                         f"model {name} needs photometry and images (batmm, transformer_* with images)")
    model.name, model.size, model.arch = name, size, arch
    # oneDNN (CPU) and cuDNN (bf16) run these convolutions fastest with channels-last weights.
    return model.to(memory_format=torch.channels_last)


def n_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


@functools.cache
def _n_parameters(name: str, size: str) -> int:
    # Paper sizes are built on the meta device (nothing allocated); the small ones build faster on CPU.
    with torch.device("meta" if size == "paper" else "cpu"):
        return n_parameters(build_model(name, size))


def list_models() -> list[dict]:
    """The registry as plain data: name, description, modalities, parameters per size."""
    rows = []
    for name, spec in MODEL_REGISTRY.items():
        sizes = {size: _n_parameters(name, size) for size in SIZE_NAMES}
        rows.append({"name": name, "description": spec.description, "modalities": list(spec.modalities),
                     "paper": spec.paper, "sizes": sizes})
    return rows


def example_inputs(
    batch: int, cutout_size: int = CUTOUT_SIZE, device: str | torch.device = "cpu"
) -> tuple[torch.Tensor, torch.Tensor]:
    """Random preprocessed-looking inputs (spectra in [0, 1], standardised cutouts) for tests and benchmarks."""
    g = torch.Generator().manual_seed(0)
    spectrum = torch.rand(batch, NPIX, generator=g)
    image = torch.randn(batch, len(BANDS), cutout_size, cutout_size, generator=g)
    return spectrum.to(device), image.to(device)


def count_flops(model: BhbModel, stage: str = "full") -> int:
    """Floating-point operations (2 × multiply-adds) of one candidate's forward pass.

    Counted by torch's FLOP counter on a meta-device copy, so even the paper size costs no compute.
    """
    from torch.utils.flop_counter import FlopCounterMode

    with torch.device("meta"):
        twin = build_model(model.name, model.size, **model.arch.to_dict()).eval()
    spectrum, image = (t.to("meta") for t in example_inputs(1, model.arch.cutout_size))
    photometry = torch.zeros(1, N_FEATURES, device="meta") if model.arch.photometry else None
    diagnostics = torch.zeros(1, N_DIAGNOSTIC_FEATURES, device="meta") if model.arch.diagnostics else None
    counter = FlopCounterMode(display=False)
    with counter, torch.no_grad():
        twin(spectrum, image, stage=stage, photometry=photometry, diagnostics=diagnostics)
    return int(counter.get_total_flops())


def gflops_per_candidate(name: str, size: str, **arch_overrides) -> float:
    """GFLOP per candidate of a registered model, for the benchmark's fraction-of-peak figure."""
    with torch.device("meta"):
        model = build_model(name, size, **arch_overrides)
    return count_flops(model) / 1e9


