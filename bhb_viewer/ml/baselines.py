"""The paper's classical spectral baselines (Table 8): an RBF support-vector machine and XGBoost.

Both read the same preprocessed spectra as the networks. They need the ``baselines`` extra
(scikit-learn, xgboost), imported only when a baseline is used. Saved models are never pickled:
the SVM as its support vectors and coefficients (safetensors + JSON; prediction is a few numpy
lines), XGBoost in its own JSON model format.
"""

from __future__ import annotations

import importlib
import json
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
from safetensors.numpy import load_file, save_file

BASELINES = ("svm", "xgboost")
DEFAULT_PARAMS: dict[str, dict[str, Any]] = {
    "svm": {"C": 1.0, "gamma": "scale"},
    "xgboost": {
        "n_estimators": 400,
        "max_depth": 6,
        "learning_rate": 0.1,
        "subsample": 0.8,
        "colsample_bytree": 0.3,
        "early_stopping_rounds": 30,
    },
}


def is_baseline(name: str) -> bool:
    return name in BASELINES


def _require(module: str) -> ModuleType:
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise ImportError(
            f"the spectral baselines need {module}: install them with  pip install 'bhb_viewer[baselines]'"
        ) from exc


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.clip(x, -50, 50)))


class SpectralBaseline:
    """Fit on (n, 3522) preprocessed spectra and labels; ``predict_proba`` gives P(BHB) per row.

    The SVM has no calibrated probability (Platt scaling costs a 5-fold refit); its score is the
    logistic of the decision value, so 0.5 is the SVM's own decision boundary and ranking (ROC,
    P–R) is exact.
    """

    def __init__(self, name: str, seed: int = 0, params: dict[str, Any] | None = None) -> None:
        if not is_baseline(name):
            raise ValueError(f"unknown baseline {name!r}; choose from {', '.join(BASELINES)}")
        self.name = name
        self.seed = seed
        self.params = {**DEFAULT_PARAMS[name], **(params or {})}
        self._svm: dict[str, np.ndarray] | None = None
        self._booster: Any = None

    def fit(
        self, x: np.ndarray, y: np.ndarray, x_val: np.ndarray | None = None, y_val: np.ndarray | None = None
    ) -> SpectralBaseline:
        if self.name == "svm":
            svm = _require("sklearn.svm")
            model = svm.SVC(kernel="rbf", C=self.params["C"], gamma=self.params["gamma"], random_state=self.seed)
            model.fit(x, y)
            self._svm = {
                "support_vectors": model.support_vectors_.astype(np.float32),
                "dual_coef": model.dual_coef_[0].astype(np.float64),
                "intercept": np.asarray(model.intercept_, dtype=np.float64),
                "gamma": np.asarray([model._gamma], dtype=np.float64),
            }
        else:
            xgb = _require("xgboost")
            params = dict(self.params)
            if x_val is None:
                params.pop("early_stopping_rounds", None)
            model = xgb.XGBClassifier(
                **params, tree_method="hist", random_state=self.seed, n_jobs=2, eval_metric="logloss"
            )
            eval_set = [(x_val, y_val)] if x_val is not None else None
            model.fit(x, y, eval_set=eval_set, verbose=False)
            self._booster = model.get_booster()
        return self

    def predict_proba(self, x: np.ndarray, chunk: int = 512) -> np.ndarray:
        """P(BHB) for each row of ``x``."""
        if self.name == "svm":
            if self._svm is None:
                raise RuntimeError("the SVM is not fitted")
            sv, coef = self._svm["support_vectors"].astype(np.float64), self._svm["dual_coef"]
            gamma, b = float(self._svm["gamma"][0]), float(self._svm["intercept"][0])
            sv_sq = np.einsum("ij,ij->i", sv, sv)
            out = []
            for start in range(0, len(x), chunk):
                xc = np.asarray(x[start : start + chunk], dtype=np.float64)
                d2 = np.einsum("ij,ij->i", xc, xc)[:, None] + sv_sq[None, :] - 2.0 * xc @ sv.T
                out.append(np.exp(-gamma * np.maximum(d2, 0.0)) @ coef + b)
            return _sigmoid(np.concatenate(out) if out else np.zeros(0))
        if self._booster is None:
            raise RuntimeError("the XGBoost model is not fitted")
        xgb = _require("xgboost")
        best = getattr(self._booster, "best_iteration", None)
        kwargs = {"iteration_range": (0, best + 1)} if best is not None else {}
        return np.asarray(self._booster.predict(xgb.DMatrix(x), **kwargs), dtype=np.float64)

    def save(self, directory: str | Path) -> list[str]:
        """Write the fitted model into ``directory``; returns the file names written."""
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        (directory / "baseline.json").write_text(
            json.dumps({"name": self.name, "seed": self.seed, "params": self.params}, indent=2)
        )
        if self.name == "svm":
            if self._svm is None:
                raise RuntimeError("the SVM is not fitted")
            save_file(self._svm, str(directory / "svm.safetensors"))
            return ["baseline.json", "svm.safetensors"]
        if self._booster is None:
            raise RuntimeError("the XGBoost model is not fitted")
        self._booster.save_model(str(directory / "xgboost.json"))
        return ["baseline.json", "xgboost.json"]

    @classmethod
    def load(cls, directory: str | Path) -> SpectralBaseline:
        directory = Path(directory)
        meta = json.loads((directory / "baseline.json").read_text())
        model = cls(meta["name"], meta["seed"], meta["params"])
        if model.name == "svm":
            model._svm = load_file(str(directory / "svm.safetensors"))
        else:
            xgb = _require("xgboost")
            model._booster = xgb.Booster()
            model._booster.load_model(str(directory / "xgboost.json"))
        return model
