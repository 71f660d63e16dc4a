"""The training wizard (Tools → Train a model…) and the Models menu; its pages only build a training plan."""

__all__ = [
    "models_menu",
    "process",
    "run_pages",
    "setup_pages",
    "wizard",
]
