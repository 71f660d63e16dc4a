"""One module per ``bhb`` sub-command; heavy imports happen inside ``run``."""

__all__ = [
    "dataset",
    "evaluate",
    "inspect",
    "models",
    "score",
    "sessions",
    "simulate",
    "train",
]
