"""The attention building blocks of BATMM (paper §4, BATMM_SPEC "Model").

Every block returns its attention weights next to its output: the viewer's explanations are
these weights, so they must come from the same computation that produced the prediction.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from bhb_viewer.core.grid import N_SEGMENTS, SEGMENT_LENGTH


class SEBlock(nn.Module):
    """Squeeze-and-excitation over the input bands (paper Eq. 1–2).

    Global average pool per band, FC → ReLU → FC → sigmoid gives one weight per band that
    scales it. With 5 bands the usual reduction ratio would leave no hidden unit, so the hidden
    width is an explicit argument instead.
    """

    def __init__(self, channels: int, hidden: int = 16) -> None:
        super().__init__()
        self.fc1 = nn.Linear(channels, hidden)
        self.fc2 = nn.Linear(hidden, channels)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """x (B, C, H, W) -> (x scaled per band, sigmoid weights (B, C))."""
        squeeze = x.mean(dim=(2, 3))
        weights = torch.sigmoid(self.fc2(F.relu(self.fc1(squeeze))))
        return x * weights[:, :, None, None], weights


class SegmentSelfAttention(nn.Module):
    """Self-attention over the 7 wavelength segments of a spectrum (paper Eq. 3–4).

    S_w = softmax(W_Q S (W_K S)^T / sqrt(d_k)) over the segments; the output segment i is
    S_i + sum_j S_w[i, j] S_j. The residual keeps every segment at its own wavelength (the VGG
    that follows still sees a spectrum) while segment j is amplified in proportion to the
    attention it receives, which is why the column mean of S_w is the weight shown to users.

    ``normalise`` (not the paper's) puts a LayerNorm on each segment before W_Q and W_K, the values
    staying raw. Without it the logits grow with the segments' flux level and the weights; on the
    shipped model every row is one-hot on segment 1 (docs/results/faithfulness.md, "Why the model's
    own weights are flat or saturated").
    """

    def __init__(self, d_k: int = 64, n_segments: int = N_SEGMENTS, segment_length: int = SEGMENT_LENGTH,
                 normalise: bool = False) -> None:
        super().__init__()
        self.n_segments = n_segments
        self.segment_length = segment_length
        self.norm = nn.LayerNorm(segment_length) if normalise else None
        self.w_q = nn.Linear(segment_length, d_k, bias=False)
        self.w_k = nn.Linear(segment_length, d_k, bias=False)
        self.scale = 1.0 / math.sqrt(d_k)

    def forward(self, spectrum: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """spectrum (B, N) -> (re-weighted sequence (B, 7·503), S_w (B, 7, 7)); extra pixels are dropped."""
        n = self.n_segments * self.segment_length
        segments = spectrum[:, :n].reshape(-1, self.n_segments, self.segment_length)
        keyed = segments if self.norm is None else self.norm(segments)
        scores = self.w_q(keyed) @ self.w_k(keyed).transpose(1, 2) * self.scale
        s_w = torch.softmax(scores.float(), dim=-1).to(segments.dtype)
        mixed = segments + s_w @ segments
        return mixed.reshape(-1, n), s_w


def segment_weights(s_w: torch.Tensor) -> torch.Tensor:
    """The weight of each segment: the mean attention it receives (column mean of S_w), sums to 1."""
    return s_w.float().mean(dim=1)


class MultiHeadAttention(nn.Module):
    """Multi-head scaled dot-product attention that also returns the per-head weights (Eq. 7–12).

    Written out instead of ``nn.MultiheadAttention`` because the viewer needs every head's weights
    and the token counts here (tens) make the explicit softmax cheap.
    """

    def __init__(self, d_model: int, n_heads: int, dropout: float = 0.0) -> None:
        super().__init__()
        if d_model % n_heads:
            raise ValueError(f"d_model {d_model} is not divisible by n_heads {n_heads}")
        self.n_heads = n_heads
        self.d_head = d_model // n_heads
        self.w_q = nn.Linear(d_model, d_model)
        self.w_k = nn.Linear(d_model, d_model)
        self.w_v = nn.Linear(d_model, d_model)
        self.w_o = nn.Linear(d_model, d_model)
        self.dropout = nn.Dropout(dropout)

    def _heads(self, x: torch.Tensor) -> torch.Tensor:
        b, t, _ = x.shape
        return x.view(b, t, self.n_heads, self.d_head).transpose(1, 2)

    def forward(self, query: torch.Tensor, context: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """query (B, Tq, d), context (B, Tk, d) -> (output (B, Tq, d), weights (B, H, Tq, Tk))."""
        q, k, v = self._heads(self.w_q(query)), self._heads(self.w_k(context)), self._heads(self.w_v(context))
        scores = q @ k.transpose(-1, -2) / math.sqrt(self.d_head)
        weights = torch.softmax(scores.float(), dim=-1)  # float32 even under bf16 autocast: it is shown to users
        out = (self.dropout(weights.to(v.dtype)) @ v).transpose(1, 2).reshape(query.shape)
        return self.w_o(out), weights


class FusionLayer(nn.Module):
    """One layer of the fusion Transformer (paper Fig. 6).

    Optional cross-attention (queries from the image tokens, keys/values from the spectral tokens)
    whose output replaces the image tokens, then self-attention over all tokens, then a ReLU FFN;
    each sub-layer is residual + LayerNorm as in the original Transformer.
    """

    def __init__(self, d_model: int, n_heads: int, ffn_dim: int, cross_attention: bool, dropout: float = 0.1) -> None:
        super().__init__()
        self.cross = MultiHeadAttention(d_model, n_heads, dropout) if cross_attention else None
        self.norm_cross = nn.LayerNorm(d_model) if cross_attention else None
        self.self_attn = MultiHeadAttention(d_model, n_heads, dropout)
        self.norm_self = nn.LayerNorm(d_model)
        self.ffn = nn.Sequential(
            nn.Linear(d_model, ffn_dim), nn.ReLU(), nn.Dropout(dropout), nn.Linear(ffn_dim, d_model)
        )
        self.norm_ffn = nn.LayerNorm(d_model)
        self.dropout = nn.Dropout(dropout)

    def forward(
        self, tokens: torch.Tensor, image_slice: slice, spectrum_slice: slice
    ) -> tuple[torch.Tensor, torch.Tensor | None, torch.Tensor]:
        """tokens (B, T, d) -> (tokens, cross weights (B, H, k_i, k_s) or None, self weights (B, H, T, T)).

        An empty ``image_slice`` (a pass without cutouts) skips the cross-attention: no image token asks.
        """
        cross_w = None
        if self.cross is not None and self.norm_cross is not None and image_slice.stop > image_slice.start:
            image, spectrum = tokens[:, image_slice], tokens[:, spectrum_slice]
            attended, cross_w = self.cross(image, spectrum)
            image = self.norm_cross(image + self.dropout(attended))
            tokens = torch.cat([tokens[:, : image_slice.start], image, tokens[:, image_slice.stop :]], dim=1)
        attended, self_w = self.self_attn(tokens, tokens)
        tokens = self.norm_self(tokens + self.dropout(attended))
        tokens = self.norm_ffn(tokens + self.dropout(self.ffn(tokens)))
        return tokens, cross_w, self_w
