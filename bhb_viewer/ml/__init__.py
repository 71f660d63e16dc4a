"""torch (no Qt): BATMM and the paper's baselines, training,
evaluation, inference, streaming scoring, torchrun helpers."""

__all__ = [
    "baselines",
    "checkpoint",
    "compare",
    "data",
    "device",
    "distributed",
    "encoders",
    "evaluation",
    "inference",
    "layers",
    "models",
    "photometry",
    "preprocess",
    "scoring",
    "training",
]
