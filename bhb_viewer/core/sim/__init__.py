"""The built-in simulated sky (see :mod:`bhb_viewer.core.sim.sky`); ``bhb simulate`` is its command.

Modules: ``population`` (who the stars are), ``spectra`` and ``images`` (their pixels), ``labels``
(physical and Xue-cut classes), ``sky`` (the whole sky and the data set on disk), ``calibration``
(KS figures against Xue 2011) and ``realism`` (instrument figures against real SDSS data).
"""

from bhb_viewer.core.sim.sky import (
    DEFAULT_BHB_FRACTION,
    DEFAULT_LABELS,
    DEFAULT_N,
    SIMULATOR_VERSION,
    TRUTH_FILE,
    SimulatorConfig,
    Sky,
    read_truth,
    simulate,
    write_simulated,
)

__all__ = [
    "DEFAULT_BHB_FRACTION", "DEFAULT_LABELS", "DEFAULT_N", "SIMULATOR_VERSION", "TRUTH_FILE",
    "SimulatorConfig", "Sky", "read_truth", "simulate", "write_simulated",
]
