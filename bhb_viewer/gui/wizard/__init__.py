"""The training wizard (Tools → Train a model…) and the Models menu."""
