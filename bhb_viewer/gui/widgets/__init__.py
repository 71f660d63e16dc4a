"""The review window's widgets; each draws what it is given and emits what the person asked for."""

__all__ = ["balmer_closeup", "candidate_table", "cutout_panel", "spectrum_plot", "verdict_panel"]
