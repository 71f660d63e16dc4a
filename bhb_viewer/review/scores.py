"""The model in use: the checkpoint scoring the open list, what it is, and the scores it made.

Which checkpoint that is, is decided by :mod:`bhb_viewer.review.model_choice`; it can be swapped at
any time (a Models menu pick, a training run made active): the old scores are forgotten,
explanations redone, and the list re-scored, cached scores of the new model version coming first
from the session.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from bhb_viewer.core.sessions.verdicts import ModelRef
from bhb_viewer.review.rows import CandidateRows
from bhb_viewer.review.tasks import ModelInfo, PredictorHolder

__all__ = ["ActiveModel"]


class ActiveModel:
    """The checkpoint in use and, once it is loaded, its name, version and device.

    Parameters
    ----------
    rows : CandidateRows
        The list whose ``p`` column holds this model's scores.
    device : str
        Where the model runs: 'auto', 'cpu', 'cuda'.
    """

    def __init__(self, rows: CandidateRows, device: str = "auto") -> None:
        self.rows = rows
        self.device = device
        self.holder: PredictorHolder | None = None
        self.info: ModelInfo | None = None

    def use(self, model_dir: Path) -> None:
        """Score with the checkpoint in ``model_dir`` from now on (loaded lazily, on a worker).

        Parameters
        ----------
        model_dir : Path
            A checkpoint directory (config.json + weights.safetensors).
        """
        if self.holder is not None and np.isfinite(self.rows.column("p")).any():
            self.rows.clear_scores()  # scores of two models never mix in one column
        self.holder = PredictorHolder(Path(model_dir), self.device)
        self.info = None

    def drop(self) -> None:
        """Use no model: its scores go."""
        self.rows.clear_scores()
        self.holder = None
        self.info = None

    @property
    def ref(self) -> ModelRef | None:
        """The loaded model as the session and the export record it, or None."""
        return self.info.ref if self.info else None

    @property
    def checkpoint(self) -> Path | None:
        """The checkpoint directory in use, or None."""
        return self.holder.checkpoint if self.holder else None

    def modality_columns(self) -> dict[str, np.ndarray]:
        """``p_bhb_spectrum``, ``p_bhb_image`` and ``score_from`` per catalog row (the names ``bhb score``
        writes), for the export; empty when the model gave no per-modality scores.

        Returns
        -------
        dict of str to ndarray
        """
        source = self.rows.column("score_from")
        if not (source != "").any():
            return {}
        return {"p_bhb_spectrum": self.rows.column("p_spectrum").copy(),
                "p_bhb_image": self.rows.column("p_image").copy(),
                "score_from": source.astype(str)}

    def scores(self) -> dict[str, float] | None:
        """The scores so far by candidate id, or None when nothing is scored.

        Returns
        -------
        dict of str to float or None
        """
        p = self.rows.column("p")
        scored = np.flatnonzero(np.isfinite(p))
        if not len(scored):
            return None
        ids = self.rows.column("id")
        return {str(ids[i]): float(p[i]) for i in scored}
