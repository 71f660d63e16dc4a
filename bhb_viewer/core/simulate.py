"""The simulator's stable import path (the code lives in :mod:`bhb_viewer.core.sim`)."""

from bhb_viewer.core.sim import (  # noqa: F401  (re-exported)
    DEFAULT_BHB_FRACTION,
    DEFAULT_LABELS,
    DEFAULT_N,
    SIMULATOR_VERSION,
    SimulatorConfig,
    Sky,
    read_truth,
    simulate,
    write_simulated,
)
