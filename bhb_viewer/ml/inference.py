"""Scoring with explanations: a checkpoint in, P(BHB) and the reasons for it out, a batch at a time.

``Predictor.predict`` is a generator so a GUI can draw progress and cancel between batches; the
CLI's ``bhb score`` and the viewer call the same code, with the preprocessing the checkpoint
carries. Explanations are the model's own weights (segment, band, cross- and CLS-attention) plus
two gradient/attention maps drawn over the inputs:

* ``saliency`` (B, 3522): ``|∂ log-odds / ∂ pixel × pixel|`` over the preprocessed spectrum, scaled
  to a maximum of 1 per star;
* ``attention_map`` (B, S, S): how much the classifier's CLS token reads each image token (mean
  over layers and heads), bilinearly upsampled from the h×w token grid to the cutout and scaled
  to a maximum of 1. Cross-attention rows sum to 1 over spectral tokens, so their mean says
  nothing about image regions; the CLS row does. Models without a CLS token but with an image
  fall back to ``|gradient × input|`` summed over bands.

Every modality's score: a multimodal checkpoint keeps its stage-1 spectrum head and stage-2 image
head (trained on their encoder alone, then frozen), so each batch also carries ``p_bhb_spectrum``
and ``p_bhb_image``. A candidate with only a spectrum, or only a cutout, is scored by the head it
has data for, and ``score_from`` says which score ``p_bhb`` is (:data:`SCORE_FIELDS`).

A model with photometry (``Arch.photometry``) also reads the candidates' catalogue magnitudes
(``mags``, (N, 15): u,g,r,i,z, their errors and extinctions, NaN where missing) as colours. A candidate with a
spectrum and at least g and r but no cutout is then scored by a second pass without the image:
``p_bhb`` from the fused CLS token of spectrum and colours, ``score_from`` "spectrum+photometry".
Such rows have no cutout maps, band weights or cross-attention (NaN), and their CLS attention is
zero on the image tokens they did not have.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, TypeVar

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.fusion import fuse_conv_bn_eval

from bhb_viewer.core.grid import BANDS, NPIX
from bhb_viewer.core.progress import CancelToken, ProgressCallback, ProgressEvent, no_progress
from bhb_viewer.core.science.photometry import fill_from_spectra, grid_magnitudes
from bhb_viewer.ml.checkpoint import check_scores, load_checkpoint, load_preprocessor, model_version
from bhb_viewer.ml.device import pick_device
from bhb_viewer.ml.diagnostics import N_BALMER, balmer_values
from bhb_viewer.ml.embedding_stats import NO_IMAGE, distances, load_stats
from bhb_viewer.ml.models import MODEL_REGISTRY, BhbModel, FusionTransformer
from bhb_viewer.ml.photometry import has_colours, no_magnitudes

_M = TypeVar("_M", bound=nn.Module)

EXPLAIN_KEYS = ("segment_weights", "band_weights", "cross_attention", "cls_attention")
# The per-candidate score columns a batch carries (Prediction.scores()), and what score_from can say.
SCORE_FIELDS = ("p_bhb", "p_bhb_spectrum", "p_bhb_image", "score_from")
SCORE_SOURCES = ("fusion", "spectrum", "image", "none", "spectrum+photometry")
SCORE_SOURCE_DTYPE = f"<U{max(map(len, SCORE_SOURCES))}"  # one width for every batch (a score table's column)
# The hook for magnitudes synthesised from spectra: (flux, ivar) on the grid -> (N, 10) magnitudes, NaN
# for bands the spectrum cannot give; they fill the bands a candidate's catalogue lacks.
MagnitudeSynthesis = Callable[[np.ndarray, np.ndarray | None], np.ndarray]


@dataclass
class Prediction:
    """Results for input rows ``start:stop``; explanation arrays are None unless asked for and available."""

    start: int
    stop: int
    p_bhb: np.ndarray  # (B,): the score of score_from; NaN where "none"
    p_bhb_spectrum: np.ndarray | None = (
        None  # (B,): the spectrum head's (or spectrum-only model's) score, NaN without one
    )
    p_bhb_image: np.ndarray | None = None  # (B,): the image head's (or image-only model's) score, NaN without one
    score_from: np.ndarray | None = None  # (B,) str, one of SCORE_SOURCES
    segment_weights: np.ndarray | None = None  # (B, 7), rows sum to 1
    band_weights: np.ndarray | None = None  # (B, 5), rows sum to 1
    cross_attention: np.ndarray | None = None  # (B, L, H, k_i, k_s)
    cls_attention: np.ndarray | None = None  # (B, L, H, T), T = 1 + k_i + k_s (+ 1 colour token)
    saliency: np.ndarray | None = None  # (B, 3522), max 1 per row
    attention_map: np.ndarray | None = None  # (B, S, S), max 1 per cutout
    image_grid: tuple[int, int] | None = None  # (h, w) of the image tokens
    embedding_distance: np.ndarray | None = None  # (B,): Mahalanobis distance to the training set (ml.embedding_stats)

    def scores(self) -> dict[str, np.ndarray]:
        """The SCORE_FIELDS columns of this batch, for a score table."""
        return {name: getattr(self, name) for name in SCORE_FIELDS}


@dataclass
class Explanation:
    """One candidate's score and explanation (``Predictor.explain_one``)."""

    p_bhb: float
    p_bhb_spectrum: float
    p_bhb_image: float
    score_from: str
    segment_weights: np.ndarray | None
    band_weights: np.ndarray | None
    cross_attention: np.ndarray | None
    cls_attention: np.ndarray | None
    saliency: np.ndarray | None
    attention_map: np.ndarray | None
    image_grid: tuple[int, int] | None
    model_name: str
    model_version: str
    # measured (ml.importance): P(original) − P(band → its background / segment → the continuum)
    band_importance: np.ndarray | None = None
    segment_importance: np.ndarray | None = None
    # measured over the cutout (with the maps): P(original) − P(an 8×8 patch of every band → the background)
    occlusion: np.ndarray | None = None


@dataclass
class Prepared:
    """A batch preprocessed for a model (CPU tensors, zeros where a row lacks a modality; colour
    features for a model with photometry, else None) and, per row, whether it has a usable spectrum,
    cutout and g, r magnitudes: what :meth:`Predictor.predict_prepared` takes."""

    spectrum: torch.Tensor | None
    image: torch.Tensor | None
    photometry: torch.Tensor | None
    has_spectrum: np.ndarray
    has_image: np.ndarray
    has_colours: np.ndarray
    diagnostics: torch.Tensor | None = None  # Balmer-diagnostics features, for a model with that branch

    def __len__(self) -> int:
        return len(self.has_spectrum)

    def pin_memory(self) -> Prepared:
        """Page-locked copies (a DataLoader with ``pin_memory=True`` calls this), for non-blocking copies."""
        def pin(t: torch.Tensor | None) -> torch.Tensor | None:
            return None if t is None else t.pin_memory()

        return Prepared(pin(self.spectrum), pin(self.image), pin(self.photometry), self.has_spectrum, self.has_image,
                        self.has_colours, pin(self.diagnostics))


def prepare_inputs(preprocessor, modalities: tuple[str, ...], spectra, ivar, cutouts, mags: np.ndarray | None = None,
                   mags_from_spectra: MagnitudeSynthesis | None = None, balmer: np.ndarray | None = None) -> Prepared:
    """Preprocess one batch of raw rows (``spectra``/``ivar``/``cutouts``, any of them None) for a model
    of ``modalities``; a Qt- and model-free step, so data-loader workers can run it.

    ``mags`` (N, 15), the rows' catalogue magnitudes, become colour features where the preprocessing
    has photometry (else they are ignored); ``mags_from_spectra`` (e.g. ``core.science.photometry.grid_magnitudes``:
    magnitudes synthesised from the spectra) fills the bands the catalogue lacks. A model with the
    Balmer-diagnostics branch fits the spectra's lines here unless ``balmer`` (N, 4) gives them already.
    """
    n = len(spectra if spectra is not None else cutouts)
    has_s, has_i = np.zeros(n, bool), np.zeros(n, bool)
    flux = iv = cube = None
    spectrum = image = None
    if spectra is not None:
        flux = np.asarray(spectra, dtype=np.float32)
        iv = None if ivar is None else np.asarray(ivar)
        valid = np.isfinite(flux) if iv is None else np.isfinite(flux) & (iv > 0)
        has_s = np.any(valid, axis=1)
    if cutouts is not None:
        cube = np.asarray(cutouts, dtype=np.float32)
        has_i = (np.isfinite(cube) & (cube != 0)).reshape(n, -1).any(axis=1)
    if "spectrum" in modalities:
        x = preprocessor.spectra(flux, iv) if flux is not None else np.zeros((n, NPIX), np.float32)
        spectrum = torch.from_numpy(np.where(has_s[:, None], x, 0).astype(np.float32))
    if "image" in modalities:
        size = preprocessor.cutout_size
        x = preprocessor.images(cube) if cube is not None else np.zeros((n, len(BANDS), size, size), np.float32)
        image = torch.from_numpy(np.where(has_i[:, None, None, None], x, 0).astype(np.float32))
    photometry, has_c = None, np.zeros(n, bool)
    if preprocessor.photometry is not None:
        given = no_magnitudes(n) if mags is None else np.asarray(mags, dtype=np.float64)
        if len(given) != n:
            raise ValueError(f"{len(given)} rows of magnitudes for {n} candidates")
        if mags_from_spectra is not None and flux is not None:
            given = fill_from_spectra(given, flux, iv, mags_from_spectra)
        photometry, has_c = torch.from_numpy(preprocessor.colours(given)), has_colours(given, n)
    diagnostics = None
    if preprocessor.diagnostics is not None:  # the model fits the Balmer lines itself, as the classical cuts do
        if balmer is not None:  # the rows' lines, already fitted by the caller
            values = np.asarray(balmer, dtype=np.float64)
        else:
            values = balmer_values(flux, iv) if flux is not None else np.full((n, N_BALMER), np.nan)
        diagnostics = torch.from_numpy(preprocessor.balmer(np.where(has_s[:, None], values, np.nan)))
    return Prepared(spectrum, image, photometry, has_s, has_i, has_c, diagnostics)


@dataclass
class _Pass:
    """One forward pass: the model's outputs, float logits, the encoder-stage heads' logits and (for
    the maps) the log-odds' gradients by input name."""

    out: dict
    logits: torch.Tensor
    heads: dict[str, torch.Tensor]
    grads: dict[str, torch.Tensor] = field(default_factory=dict)


class Predictor:
    """A loaded checkpoint ready to score: model in eval mode on ``device`` and its preprocessing.

    Parameters
    ----------
    checkpoint_dir : str or os.PathLike
        A checkpoint folder (``config.json`` + ``weights.safetensors``), validated before the model is built.
    device : str
        ``"auto"`` picks CUDA, then Apple MPS, then the CPU; on CUDA the forward pass runs under bf16 autocast.

    Raises
    ------
    CheckpointError
        A checkpoint that does not match the code, or holds non-finite numbers, naming the file.
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
        self.heads: tuple[str, ...] = trusted_heads(self.config, self.modalities)
        # the cutout map is the model's own CLS attention (a fusion Transformer with images), not a gradient map
        self.map_from_attention = isinstance(model, FusionTransformer) and model.image_encoder is not None
        # whether the model reads the catalogue colours, and so scores rows without cutouts from them
        self.reads_colours: bool = model.arch.photometry
        self.embedding_stats = load_stats(self.checkpoint_dir)  # None: an older checkpoint, no distances

    def _autocast(self):
        return torch.autocast("cuda", dtype=torch.bfloat16) if self.device.type == "cuda" else nullcontext()

    def _inputs(self, spectra, ivar, cutouts, mags, rows: slice) -> Prepared:
        def take(a):
            return None if a is None else a[rows]

        return prepare_inputs(self.preprocessor, self.modalities, take(spectra), take(ivar), take(cutouts), take(mags),
                              mags_from_spectra=grid_magnitudes)

    def _has_all(self, has_s: np.ndarray, has_i: np.ndarray) -> np.ndarray:
        """Rows with every modality the model reads (the rows the full model scores)."""
        full = np.ones_like(has_s)
        for m, has in (("spectrum", has_s), ("image", has_i)):
            if m in self.modalities:
                full &= has
        return full

    def _from_colours(self, has_s: np.ndarray, has_i: np.ndarray, has_c: np.ndarray) -> np.ndarray:
        """Rows scored from spectrum + colours: a photometry model's rows with a spectrum and g, r but no cutout."""
        if not self.reads_colours or "image" not in self.modalities:
            return np.zeros(len(has_s), bool)
        return has_s & ~has_i & has_c

    def can_score(self, has_spectrum: np.ndarray, has_image: np.ndarray, mags: np.ndarray | None = None) -> np.ndarray:
        """Per row: whether this model scores it, given whether it has a spectrum, a cutout and which
        magnitudes (``mags`` (N, 15) or None): every modality the model reads, a modality with a
        trusted head, or for a model with photometry a spectrum with g and r."""
        return self._can_score(has_spectrum, has_image, has_colours(mags, len(has_spectrum)))

    def _can_score(self, has_s: np.ndarray, has_i: np.ndarray, has_c: np.ndarray) -> np.ndarray:
        return (self._has_all(has_s, has_i) | (has_s & ("spectrum" in self.heads)) | (has_i & ("image" in self.heads))
                | self._from_colours(has_s, has_i, has_c))

    def _scores(self, scored: _Pass, has_s: np.ndarray, has_i: np.ndarray, result: Prediction) -> None:
        """Fill p_bhb (from the source each row has data for), p_bhb_spectrum, p_bhb_image and score_from."""
        n = len(has_s)
        fused = _p_bhb(scored.logits)
        heads = {m: _p_bhb(v) for m, v in scored.heads.items() if m in self.heads}
        if len(self.modalities) == 1:  # a single-modality model is its own modality's score
            heads[self.modalities[0]] = fused
        nan = np.full(n, np.nan)
        p_s = np.where(has_s, heads.get("spectrum", nan), np.nan)
        p_i = np.where(has_i, heads.get("image", nan), np.nan)
        full = self._has_all(has_s, has_i)
        source = np.where(full, "fusion" if len(self.modalities) > 1 else self.modalities[0],
                          np.where(np.isfinite(p_s), "spectrum", np.where(np.isfinite(p_i), "image", "none")))
        result.p_bhb = np.select([source == "fusion", source == "spectrum", source == "image"],
                                 [fused, p_s, p_i], np.nan).astype(np.float32)
        if len(self.modalities) == 1:
            result.p_bhb = np.where(full, fused, np.nan).astype(np.float32)
        result.p_bhb_spectrum, result.p_bhb_image = p_s.astype(np.float32), p_i.astype(np.float32)
        result.score_from = source.astype(SCORE_SOURCE_DTYPE)

    def predict(
        self,
        spectra: np.ndarray | None,
        ivar: np.ndarray | None,
        cutouts: np.ndarray | None,
        batch_size: int = 256,
        explain: bool | Literal["weights"] = False,
        cancel: CancelToken | None = None,
        progress: ProgressCallback = no_progress,
        mags: np.ndarray | None = None,
    ) -> Iterator[Prediction]:
        """Yield a ``Prediction`` per batch of input rows (raw flux/ivar on the grid, raw cutouts, and
        ``mags`` (N, 15): catalogue u,g,r,i,z, errors and extinctions, NaN where missing, read by
        photometry models only).

        ``explain``: False scores only; ``"weights"`` adds the model's own weights (segment, band,
        cross- and CLS-attention) at no extra cost; True adds the saliency and cutout maps too,
        which need a backward pass (about 3× the time). Inputs may be memory-mapped: only one
        batch is read at a time. ``cancel`` is checked before every batch and raises ``Cancelled``.
        """
        if explain not in (False, True, "weights"):
            raise ValueError(f"explain must be False, True or 'weights', not {explain!r}")
        rows_of = spectra if spectra is not None else cutouts
        if rows_of is None:
            raise ValueError("nothing to score: neither spectra nor cutouts given")
        n = len(rows_of)
        progress(ProgressEvent("predict", 0, n, f"{self.model_name} on {self.device}"))
        for start in range(0, n, batch_size):
            if cancel is not None:
                cancel.check()
            rows = slice(start, min(n, start + batch_size))
            yield self.predict_prepared(self._inputs(spectra, ivar, cutouts, mags, rows), start=start, explain=explain)
            progress(ProgressEvent("predict", rows.stop, n, f"{self.model_name} on {self.device}"))

    def predict_prepared(
        self, inputs: Prepared, start: int = 0, explain: bool | Literal["weights"] = False
    ) -> Prediction:
        """One batch already preprocessed by :func:`prepare_inputs` (e.g. in data-loader workers, in
        pinned memory): copied to the device without blocking, then scored as ``predict`` does."""
        has_s, has_i, has_c = inputs.has_spectrum, inputs.has_image, inputs.has_colours
        if not self._can_score(has_s, has_i, has_c).any() and len(inputs):
            raise ValueError(f"model {self.model_name} needs {' and '.join(self.modalities)}; "
                             f"it can score single modalities only with {', '.join(self.heads) or 'none'}"
                             + ("; or a spectrum with g and r magnitudes" if self.reads_colours else ""))
        spectrum, image, photometry, diagnostics = (
            None if t is None else t.to(self.device, non_blocking=True)
            for t in (inputs.spectrum, inputs.image, inputs.photometry, inputs.diagnostics)
        )
        rows = slice(start, start + len(inputs))
        scored = self._pass(spectrum, image, photometry, maps=explain is True, diagnostics=diagnostics)
        result = Prediction(rows.start, rows.stop, _p_bhb(scored.logits))
        self._scores(scored, has_s, has_i, result)
        if explain:
            _copy_weights(scored.out, result)
        if explain is True:
            self._maps(scored, spectrum, image, result)
        if self.embedding_stats is not None and "embedding" in scored.out:
            result.embedding_distance = distances(scored.out["embedding"].detach().float().cpu().numpy(),
                                                  self.embedding_stats).astype(np.float32)
            result.embedding_distance[~self._has_all(has_s, has_i)] = np.nan
        alone = self._from_colours(has_s, has_i, has_c)
        if alone.any():
            self._score_from_colours(result, np.flatnonzero(alone), spectrum, photometry, explain, diagnostics)
        unscored = np.zeros(len(result.p_bhb), bool) if result.score_from is None else result.score_from == "none"
        check_scores(np.where(unscored, 0.0, result.p_bhb), self.checkpoint_dir, rows.start)
        return result

    def embedding_prepared(self, inputs: Prepared, with_image: bool = True) -> np.ndarray | None:
        """The embedding (CLS token) of a prepared batch, or None for a model without one; ``with_image``
        False is the pass a photometry model scores a star without cutouts by."""
        spectrum, image, photometry, diagnostics = (
            None if t is None else t.to(self.device)
            for t in (inputs.spectrum, inputs.image if with_image else None, inputs.photometry, inputs.diagnostics)
        )
        out = self._pass(spectrum, image, photometry, maps=False, diagnostics=diagnostics).out
        return out["embedding"].float().cpu().numpy() if "embedding" in out else None

    def _pass(self, spectrum, image, photometry, maps: bool, diagnostics: torch.Tensor | None = None) -> _Pass:
        """One forward pass; with ``maps`` under autograd, with the gradients the saliency and cutout maps need."""
        if not maps:
            with torch.inference_mode(), self._autocast():
                out = self.model(spectrum, image, photometry=photometry, diagnostics=diagnostics)
                return _Pass(out, out["logits"].float(), _heads(self.model, out))
        # The cutout map of a Transformer comes from its CLS attention: no image gradient needed.
        named = {"spectrum": spectrum} if spectrum is not None else {}
        if image is not None and not self.map_from_attention:
            named["image"] = image
        leaves = {k: t.detach().requires_grad_(True) for k, t in named.items()}
        with torch.enable_grad(), self._autocast():
            out = self.model(leaves.get("spectrum", spectrum), leaves.get("image", image), photometry=photometry,
                             diagnostics=diagnostics)
            logits = out["logits"].float()
            grads = torch.autograd.grad((logits[:, 1] - logits[:, 0]).sum(), list(leaves.values()))
            return _Pass(out, logits.detach(), _heads(self.model, out), dict(zip(leaves, grads, strict=True)))

    def _maps(self, scored: _Pass, spectrum, image, result: Prediction) -> None:
        """The saliency and, with an image, the cutout map of a pass made with ``maps``."""
        if spectrum is not None:
            result.saliency = _unit_max((scored.grads["spectrum"] * spectrum.detach()).abs())
        if image is None:
            return
        if self.map_from_attention:
            assert result.image_grid is not None  # predict sets the grid of a model that reads images
            h, w = result.image_grid
            k_i = h * w
            tokens = scored.out["cls_attention"].detach().float()[..., 1 : 1 + k_i].mean(dim=(1, 2))
            heat = F.interpolate(
                tokens.reshape(-1, 1, h, w), size=image.shape[-2:], mode="bilinear", align_corners=False
            )
            result.attention_map = _unit_max(heat[:, 0])
        else:
            result.attention_map = _unit_max((scored.grads["image"] * image.detach()).abs().sum(dim=1))

    def _score_from_colours(self, result: Prediction, rows: np.ndarray, spectrum, photometry,
                            explain: bool | Literal["weights"], diagnostics: torch.Tensor | None = None) -> None:
        """Score ``rows`` (spectrum and colours, no cutout) by a pass without the image, into ``result``:
        p_bhb from the fused CLS token, score_from "spectrum+photometry", and their explanations this pass's."""
        take = torch.from_numpy(rows).to(spectrum.device)
        spectrum, photometry = spectrum.detach()[take], photometry[take]
        diagnostics = None if diagnostics is None else diagnostics[take]
        scored = self._pass(spectrum, None, photometry, maps=explain is True, diagnostics=diagnostics)
        result.p_bhb[rows] = _p_bhb(scored.logits)
        stats, distance = self.embedding_stats, result.embedding_distance
        if distance is not None and stats is not None and "mean" + NO_IMAGE in stats:
            distance[rows] = distances(scored.out["embedding"].detach().float().cpu().numpy(), stats, NO_IMAGE)
        assert result.score_from is not None  # _scores filled the batch's sources first
        result.score_from[rows] = "spectrum+photometry"
        if not explain:
            return
        alone = Prediction(0, len(rows), result.p_bhb[rows])
        _copy_weights(scored.out, alone)
        if explain is True:
            self._maps(scored, spectrum, None, alone)
        _put_rows(result, alone, rows)

    def explain_one(self, flux: np.ndarray, ivar: np.ndarray | None, cube: np.ndarray | None,
                    maps: bool = True, mags: np.ndarray | None = None, measured: bool = True) -> Explanation:
        """Score and explain one candidate (the viewer's current star): flux/ivar (3522,), cube (5, S, S),
        mags (15,) its catalogue magnitudes, errors and extinctions (read by photometry models only).

        ``maps=False`` leaves out the saliency and the attention map (their backward pass), for a
        viewer that does not show them: the model's own weights come at no extra cost. ``measured``
        adds the measured band and segment importance (13 more forward passes of one star) and, with
        ``maps``, the cutout's occlusion map (a copy per 8×8 patch, 64 for a 64² stamp, scored as one batch).
        """
        def one(a):
            return None if a is None else np.asarray(a)[None]

        result = next(self.predict(one(flux), one(ivar), one(cube), batch_size=1, explain=True if maps else "weights",
                                   mags=one(mags)))
        first = {k: (None if getattr(result, k) is None else getattr(result, k)[0])
                 for k in (*EXPLAIN_KEYS, "saliency", "attention_map")}
        p_spectrum, p_image, score_from = result.p_bhb_spectrum, result.p_bhb_image, result.score_from
        assert p_spectrum is not None and p_image is not None and score_from is not None  # predict scores each batch
        explanation = Explanation(float(result.p_bhb[0]), float(p_spectrum[0]), float(p_image[0]),
                                  str(score_from[0]), image_grid=result.image_grid, model_name=self.model_name,
                                  model_version=self.model_version, **first)
        if measured and flux is not None and np.isfinite(explanation.p_bhb):
            self._measure(
                explanation, one(flux), one(ivar if ivar is not None else np.ones_like(flux)), one(cube), one(mags),
                occlusion=maps,
            )
        return explanation

    def score_fn(self, mags: np.ndarray | None) -> Callable[[np.ndarray, np.ndarray, np.ndarray | None], np.ndarray]:
        """(flux, ivar, cutouts) → P(BHB) of every row, with these rows' ``mags``: what ml.importance perturbs."""

        def score(flux: np.ndarray, ivar: np.ndarray, cutouts: np.ndarray | None) -> np.ndarray:
            return np.concatenate([b.p_bhb for b in self.predict(flux, ivar, cutouts, mags=mags)]).astype(np.float64)

        return score

    def _measure(self, explanation: Explanation, flux, ivar, cube, mags, occlusion: bool) -> None:
        """The measured band and segment importance of one star (ml.importance), and with ``occlusion``
        its cutout's occlusion map, into ``explanation``."""
        from bhb_viewer.ml import importance

        score = self.score_fn(mags)
        explanation.segment_importance = importance.segment_importance(score, flux, ivar, cube)[0]
        if cube is None or "image" not in self.modalities:
            return
        explanation.band_importance = importance.band_importance(score, flux, ivar, cube, np.random.default_rng(0))[0]
        if occlusion:
            rows = importance.occlusion_rows(cube.shape[-1])
            repeated = self.score_fn(None if mags is None else np.repeat(mags, rows, axis=0))
            explanation.occlusion = importance.occlusion_map(repeated, flux, ivar, cube, np.random.default_rng(0))[0]


def trusted_heads(config: dict, modalities: tuple[str, ...]) -> tuple[str, ...]:
    """Encoder-stage heads whose scores mean something: trained in their own stage and not followed
    by an end-to-end stage that moved the encoder under them. A checkpoint without its training
    record (hand-saved) trusts none."""
    training = config.get("training")
    if len(modalities) < 2 or not isinstance(training, dict):
        return ()
    stages = training.get("stages") or ["spectrum", "image", "fusion"] + (["full"] if training.get("finetune") else [])
    return tuple(m for m in ("spectrum", "image") if m in stages and "full" not in stages[stages.index(m) + 1:])


def fuse_batchnorm(model: _M) -> _M:
    """Fold every eval-mode BatchNorm into the convolution before it, in place (inference only).

    Same function, one pass over memory fewer per layer: the VGG1D's long 1-D maps make BatchNorm
    a sizeable share of CPU time. Covers ``nn.Sequential`` runs (VGG1D, ResNet downsample paths)
    and torchvision's ``convN``/``bnN`` attribute pairs (ResNet stem and Bottleneck blocks).
    """
    for module in list(model.modules()):
        if isinstance(module, nn.Sequential):
            for i in range(len(module) - 1):
                layer, after = module[i], module[i + 1]
                if isinstance(layer, nn.Conv2d) and isinstance(after, nn.BatchNorm2d):
                    module[i] = fuse_conv_bn_eval(layer, after)
                    module[i + 1] = nn.Identity()
        for conv, bn in (("conv1", "bn1"), ("conv2", "bn2"), ("conv3", "bn3")):
            if isinstance(getattr(module, conv, None), nn.Conv2d) and isinstance(
                getattr(module, bn, None), nn.BatchNorm2d
            ):
                setattr(module, conv, fuse_conv_bn_eval(getattr(module, conv), getattr(module, bn)))
                setattr(module, bn, nn.Identity())
    return model


def _heads(model: BhbModel, out: dict) -> dict[str, torch.Tensor]:
    """The encoder-stage heads' logits of a full pass (run in the pass's own autocast context)."""
    return {m: v.detach().float() for m, v in model.modality_logits(out).items()}


def _put_rows(result: Prediction, alone: Prediction, rows: np.ndarray) -> None:
    """Explanations of ``rows`` scored without a cutout (``alone``) into the batch's ``result``: theirs
    where they have them, NaN for what needs an image, CLS attention zero on the absent image tokens."""
    for key in ("segment_weights", "saliency"):
        if getattr(result, key) is not None and getattr(alone, key) is not None:
            getattr(result, key)[rows] = getattr(alone, key)
    for key in ("band_weights", "cross_attention", "attention_map"):
        if getattr(result, key) is not None:
            getattr(result, key)[rows] = np.nan
    if result.cls_attention is not None and alone.cls_attention is not None:
        k_i = result.cls_attention.shape[-1] - alone.cls_attention.shape[-1]
        result.cls_attention[rows] = 0.0
        result.cls_attention[rows, ..., :1] = alone.cls_attention[..., :1]
        result.cls_attention[rows, ..., 1 + k_i :] = alone.cls_attention[..., 1:]


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
