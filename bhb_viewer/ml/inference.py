"""Scoring with explanations: a checkpoint in, P(BHB) and the reasons for it out, a batch at a time.

``Predictor.predict`` is a generator so a GUI can draw progress and cancel between batches; the
CLI's ``bhb score`` and the viewer call the same code, with the preprocessing the checkpoint
carries. Explanations are the model's own weights (segment, band, cross- and CLS-attention) plus
two gradient/attention maps drawn over the inputs:

* ``saliency`` (B, 3522): |∂ log-odds / ∂ pixel × pixel| over the preprocessed spectrum, scaled
  to a maximum of 1 per star;
* ``attention_map`` (B, S, S): how much the classifier's CLS token reads each image token (mean
  over layers and heads), bilinearly upsampled from the h×w token grid to the cutout and scaled
  to a maximum of 1. Cross-attention rows sum to 1 over spectral tokens, so their mean says
  nothing about image regions; the CLS row does. Models without a CLS token but with an image
  fall back to |gradient × input| summed over bands.
"""

from __future__ import annotations

import os
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Literal

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.fusion import fuse_conv_bn_eval

from bhb_viewer.core.progress import CancelToken, ProgressCallback, ProgressEvent, no_progress
from bhb_viewer.ml.checkpoint import check_scores, load_checkpoint, load_preprocessor, model_version
from bhb_viewer.ml.device import pick_device
from bhb_viewer.ml.models import MODEL_REGISTRY, FusionTransformer

EXPLAIN_KEYS = ("segment_weights", "band_weights", "cross_attention", "cls_attention")


@dataclass
class Prediction:
    """Results for input rows ``start:stop``; explanation arrays are None unless asked for and available."""

    start: int
    stop: int
    p_bhb: np.ndarray  # (B,)
    segment_weights: np.ndarray | None = None  # (B, 7), rows sum to 1
    band_weights: np.ndarray | None = None  # (B, 5), rows sum to 1
    cross_attention: np.ndarray | None = None  # (B, L, H, k_i, k_s)
    cls_attention: np.ndarray | None = None  # (B, L, H, T), T = 1 + k_i + k_s
    saliency: np.ndarray | None = None  # (B, 3522), max 1 per row
    attention_map: np.ndarray | None = None  # (B, S, S), max 1 per cutout
    image_grid: tuple[int, int] | None = None  # (h, w) of the image tokens


@dataclass
class Explanation:
    """One candidate's score and explanation (``Predictor.explain_one``)."""

    p_bhb: float
    segment_weights: np.ndarray | None
    band_weights: np.ndarray | None
    cross_attention: np.ndarray | None
    cls_attention: np.ndarray | None
    saliency: np.ndarray | None
    attention_map: np.ndarray | None
    image_grid: tuple[int, int] | None
    model_name: str
    model_version: str


class Predictor:
    """A loaded checkpoint ready to score: model in eval mode on ``device`` and its preprocessing.

    ``device="auto"`` picks CUDA, then Apple MPS, then the CPU; on CUDA the forward pass runs under
    bf16 autocast.
    """

    def __init__(self, checkpoint_dir: str | os.PathLike, device: str = "auto") -> None:
        self.checkpoint_dir = Path(checkpoint_dir)
        self.device = pick_device(device)
        model, self.config = load_checkpoint(self.checkpoint_dir, self.device)
        self.model = fuse_batchnorm(model)
        self.preprocessor = load_preprocessor(self.config, self.checkpoint_dir)
        self.model_name: str = self.config["model"]["name"]
        self.model_version: str = model_version(self.config)
        self.modalities: tuple[str, ...] = MODEL_REGISTRY[self.model_name].modalities
        self._map_from_cls = isinstance(model, FusionTransformer) and model.image_encoder is not None

    def _autocast(self):
        return torch.autocast("cuda", dtype=torch.bfloat16) if self.device.type == "cuda" else nullcontext()

    def _inputs(self, spectra, ivar, cutouts, rows: slice) -> tuple[torch.Tensor | None, torch.Tensor | None]:
        spectrum = image = None
        if "spectrum" in self.modalities:
            iv = None if ivar is None else ivar[rows]
            spectrum = torch.from_numpy(self.preprocessor.spectra(spectra[rows], iv)).to(self.device)
        if "image" in self.modalities:
            if cutouts is None:
                raise ValueError(f"model {self.model_name} needs cutouts")
            image = torch.from_numpy(self.preprocessor.images(cutouts[rows])).to(self.device)
        return spectrum, image

    def predict(
        self,
        spectra: np.ndarray,
        ivar: np.ndarray | None,
        cutouts: np.ndarray | None,
        batch_size: int = 256,
        explain: bool | Literal["weights"] = False,
        cancel: CancelToken | None = None,
        progress: ProgressCallback = no_progress,
    ) -> Iterator[Prediction]:
        """Yield a ``Prediction`` per batch of input rows (raw flux/ivar on the grid, raw cutouts).

        ``explain``: False scores only; ``"weights"`` adds the model's own weights (segment, band,
        cross- and CLS-attention) at no extra cost; True adds the saliency and cutout maps too,
        which need a backward pass (about 3× the time). Inputs may be memory-mapped: only one
        batch is read at a time. ``cancel`` is checked before every batch and raises ``Cancelled``.
        """
        if explain not in (False, True, "weights"):
            raise ValueError(f"explain must be False, True or 'weights', not {explain!r}")
        n = len(spectra) if spectra is not None else len(cutouts)
        progress(ProgressEvent("predict", 0, n, f"{self.model_name} on {self.device}"))
        for start in range(0, n, batch_size):
            if cancel is not None:
                cancel.check()
            rows = slice(start, min(n, start + batch_size))
            spectrum, image = self._inputs(spectra, ivar, cutouts, rows)
            batch = self._explain(spectrum, image, rows) if explain is True else \
                self._score(spectrum, image, rows, with_weights=explain == "weights")
            check_scores(batch.p_bhb, self.checkpoint_dir, rows.start)
            yield batch
            progress(ProgressEvent("predict", rows.stop, n, f"{self.model_name} on {self.device}"))

    def _score(self, spectrum, image, rows: slice, with_weights: bool) -> Prediction:
        with torch.inference_mode(), self._autocast():
            out = self.model(spectrum, image)
        result = Prediction(rows.start, rows.stop, _p_bhb(out["logits"]))
        if with_weights:
            _copy_weights(out, result)
        return result

    def _explain(self, spectrum, image, rows: slice) -> Prediction:
        # The cutout map of a Transformer comes from its CLS attention: no image gradient needed.
        image_grad = image is not None and not self._map_from_cls
        named = [("spectrum", spectrum)] * (spectrum is not None) + [("image", image)] * image_grad
        inputs = [t.requires_grad_(True) for _, t in named]
        with torch.enable_grad(), self._autocast():
            out = self.model(spectrum, image)
            logits = out["logits"].float()
            log_odds = logits[:, 1] - logits[:, 0]
            grads = torch.autograd.grad(log_odds.sum(), inputs)
        grad = dict(zip([k for k, _ in named], grads))
        result = Prediction(rows.start, rows.stop, _p_bhb(logits.detach()))
        _copy_weights(out, result)
        if spectrum is not None:
            result.saliency = _unit_max((grad["spectrum"] * spectrum.detach()).abs())
        if image is not None:
            if self._map_from_cls:
                h, w = result.image_grid
                k_i = h * w
                tokens = out["cls_attention"].detach().float()[..., 1 : 1 + k_i].mean(dim=(1, 2))
                heat = F.interpolate(tokens.reshape(-1, 1, h, w), size=image.shape[-2:], mode="bilinear", align_corners=False)
                result.attention_map = _unit_max(heat[:, 0])
            else:
                result.attention_map = _unit_max((grad["image"] * image.detach()).abs().sum(dim=1))
        return result

    def explain_one(self, flux: np.ndarray, ivar: np.ndarray | None, cube: np.ndarray | None) -> Explanation:
        """Score and explain one candidate (the viewer's current star): flux/ivar (3522,), cube (5, S, S)."""
        result = next(self.predict(
            np.asarray(flux)[None], None if ivar is None else np.asarray(ivar)[None],
            None if cube is None else np.asarray(cube)[None], batch_size=1, explain=True,
        ))
        first = {k: (None if getattr(result, k) is None else getattr(result, k)[0])
                 for k in (*EXPLAIN_KEYS, "saliency", "attention_map")}
        return Explanation(float(result.p_bhb[0]), image_grid=result.image_grid, model_name=self.model_name,
                           model_version=self.model_version, **first)


def fuse_batchnorm(model: nn.Module) -> nn.Module:
    """Fold every eval-mode BatchNorm into the convolution before it, in place (inference only).

    Same function, one pass over memory fewer per layer: the VGG1D's long 1-D maps make BatchNorm
    a sizeable share of CPU time. Covers ``nn.Sequential`` runs (VGG1D, ResNet downsample paths)
    and torchvision's ``convN``/``bnN`` attribute pairs (ResNet stem and Bottleneck blocks).
    """
    for module in list(model.modules()):
        if isinstance(module, nn.Sequential):
            for i in range(len(module) - 1):
                if isinstance(module[i], nn.Conv2d) and isinstance(module[i + 1], nn.BatchNorm2d):
                    module[i] = fuse_conv_bn_eval(module[i], module[i + 1])
                    module[i + 1] = nn.Identity()
        for conv, bn in (("conv1", "bn1"), ("conv2", "bn2"), ("conv3", "bn3")):
            if isinstance(getattr(module, conv, None), nn.Conv2d) and isinstance(getattr(module, bn, None), nn.BatchNorm2d):
                setattr(module, conv, fuse_conv_bn_eval(getattr(module, conv), getattr(module, bn)))
                setattr(module, bn, nn.Identity())
    return model


def _copy_weights(out: dict, result: Prediction) -> None:
    """The model's own explanation tensors into ``result`` as float32 numpy arrays."""
    for key in EXPLAIN_KEYS:
        if key in out:
            setattr(result, key, out[key].detach().float().cpu().numpy())
    result.image_grid = out.get("image_grid")


def _p_bhb(logits: torch.Tensor) -> np.ndarray:
    return torch.softmax(logits.float(), dim=1)[:, 1].cpu().numpy()


def _unit_max(x: torch.Tensor) -> np.ndarray:
    """Scale each row (first axis) to a maximum of 1; an all-zero row stays zero."""
    x = x.detach().float()
    peak = x.flatten(1).amax(dim=1).clamp_min(1e-12)
    return (x / peak.view(-1, *([1] * (x.dim() - 1)))).cpu().numpy()
