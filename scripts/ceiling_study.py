"""Is a fresh-sky macro F1 ≥ 90 reachable at SDSS noise, and what would get the network there?

Usage::

    python scripts/ceiling_study.py --train SKY [--train SKY ...] --fresh SKY --scores SCORES.ecsv
        [--sizes 3000,6000,12000,24000,36000] [--seeds 0,1,2] [--folds 5]
        [--fusion-sky SKY --fusion-scores SCORES.ecsv] [--out FILE.json]

SCORES is ``bhb score FRESH --model MODEL --out SCORES.ecsv`` (the network's ``p_bhb`` and its
heads' scores per star). Three measurements, cheapest first, each answering one question:

1. **Learning curve of the feature ceiling.** XGBoost on the Balmer diagnostics plus dereddened
   colours (``balmer_colour_xgb``'s features and trees), trained on N stars drawn from the pooled
   training skies (80 % fit, 20 % early stopping), scored on the whole fresh sky. A curve that
   flattens below 90 says the features' noise, not the training-set size, sets the limit; noise-free
   features (the truth's line parameters and intrinsic colours) at the same N show what noise costs;
   a two-layer perceptron on the same features, what a small network (a token encoder) makes of them.
2. **Stacking.** Stratified k-fold cross-validation on the fresh sky of small classifiers
   (logistic regression, XGBoost) on the network's score, on the features, and on both; and of
   the network's score beside the training-sky XGBoost's score. Only if the combination beats each
   alone does the network carry information the features lack (and the features information the
   network lacks: the case for a Balmer-diagnostics fusion token). F1 at P ≥ 0.5 and at a threshold
   chosen inside the training folds; AUC; BHB against metal-poor blue stragglers (``fresh_sky_check``).
3. **Error anatomy** of the network (and the XGBoost) on the fresh sky: errors per true population,
   per Teff, log g, [Fe/H], E(B−V); macro F1 above and below the median S/N and per g quartile; how
   many of the network's errors the XGBoost shares.
4. **Late fusion** (with ``--fusion-sky``): the perceptron and the trees on the network's logits
   plus the features, fitted on a scored sky the network never trained on, scored on the fresh sky:
   what a learnt combination (nearer to a fusion token than a plain mean) delivers.

The last line printed is one JSON object (also written to ``--out``).
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys
from pathlib import Path

import numpy as np
from astropy.table import Table

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bhb_viewer.core.dataset import open_dataset  # noqa: E402
from bhb_viewer.core.science.real_stars import auc as rank_auc  # noqa: E402
from bhb_viewer.core.sim import read_truth  # noqa: E402
from bhb_viewer.ml.data import stratified_split  # noqa: E402
from bhb_viewer.ml.training import scores_report  # noqa: E402
from scripts.balmer_colour_xgb import classifier, features  # noqa: E402
from scripts.fresh_sky_check import metal_poor_bss  # noqa: E402

NOISE_FREE = ("d02_true", "fm_true", "b_hg_true", "c_hg_true")
EPS = 1e-6


def noise_free_features(truth: Table) -> np.ndarray:
    """N × 8 like :func:`features`, from the truth: line parameters without noise, intrinsic colours."""
    mags = np.column_stack([np.asarray(truth[f"{b}_true"], dtype=float) for b in "ugriz"])
    return np.column_stack([*(np.asarray(truth[k], dtype=float) for k in NOISE_FREE), mags[:, :-1] - mags[:, 1:]])


def figures(y: np.ndarray, p: np.ndarray, bss: np.ndarray, threshold: float | np.ndarray = 0.5) -> dict:
    """Macro F1 (%) at ``threshold`` (one per star allowed), AUC, and BHB-vs-metal-poor-BSS AUC of scores ``p``."""
    rep = scores_report(y, p)
    out = {"f1": round(100 * rep["macro"]["f1"], 2), "auc": round(float(rep["auc"]), 4),
           "bss_auc": round(rank_auc(p[y == 1], p[bss]), 4)}
    if not np.isscalar(threshold):
        out["f1_tuned"] = round(100 * scores_report(y, (p >= threshold).astype(float))["macro"]["f1"], 2)
    return out


def best_threshold(y: np.ndarray, p: np.ndarray) -> float:
    """The cut on ``p`` that maximises macro F1 over these stars (a grid of 99 cuts)."""
    grid = np.linspace(0.01, 0.99, 99)
    f1 = [scores_report(y, (p >= t).astype(float))["macro"]["f1"] for t in grid]
    return float(grid[int(np.argmax(f1))])


def fit_xgb(x: np.ndarray, y: np.ndarray, seed: int):
    """The trees fitted on 80 % of (x, y), stopped early on the rest; returns (model, validation rows)."""
    fit, val, _ = stratified_split(y, seed, (0.8, 0.2, 0.0))
    model = classifier(seed)
    model.fit(x[fit], y[fit], eval_set=[(x[val], y[val])], verbose=False)
    return model, val


def learning_curve(x: np.ndarray, y: np.ndarray, x_fresh: np.ndarray, y_fresh: np.ndarray, bss: np.ndarray,
                   sizes: list[int], seeds: list[int], mlp: bool = False) -> list[dict]:
    """Fresh-sky figures of the trees (``mlp``: the perceptron) trained on N random stars of the pool, per N."""
    rows = []
    for n in (s for s in sizes if s <= len(y)):
        per_seed = []
        for seed in seeds:
            take = np.random.default_rng(seed).permutation(len(y))[:n]
            model = fit_mlp(x[take], y[take], seed) if mlp else fit_xgb(x[take], y[take], seed)[0]
            per_seed.append(figures(y_fresh, model.predict_proba(x_fresh)[:, 1], bss))
        row: dict = {"n": n}
        for key in ("f1", "auc", "bss_auc"):
            v = np.array([s[key] for s in per_seed])
            row[key] = round(float(v.mean()), 4 if key != "f1" else 2)
            row[f"{key}_sd"] = round(float(v.std(ddof=1)), 4) if v.size > 1 else 0.0
        row["per_seed"] = per_seed
        rows.append(row)
        print(f"  N={n:6d}  F1 {row['f1']:.2f} ± {row['f1_sd']:.2f}  AUC {row['auc']:.4f}  "
              f"BSS AUC {row['bss_auc']:.4f}")
    return rows


def fit_mlp(x: np.ndarray, y: np.ndarray, seed: int):
    """A two-layer perceptron on the same columns (NaN: median plus a missing flag; standardised), stopped early.

    What a small token encoder inside the network could make of the features, if trees can.
    """
    from sklearn.impute import SimpleImputer
    from sklearn.neural_network import MLPClassifier
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    mlp = MLPClassifier(hidden_layer_sizes=(64, 64), early_stopping=True, validation_fraction=0.2, max_iter=500,
                        n_iter_no_change=20, random_state=seed)
    return make_pipeline(SimpleImputer(strategy="median", add_indicator=True), StandardScaler(), mlp).fit(x, y)


def logit(p: np.ndarray) -> np.ndarray:
    """log(p / (1 − p)), clipped, so a linear stacker reads scores on an additive scale."""
    p = np.clip(p, EPS, 1 - EPS)
    return np.log(p / (1 - p))


def _logistic(x_train: np.ndarray, y_train: np.ndarray, x_test: np.ndarray) -> tuple[np.ndarray, float]:
    """Logistic regression on standardised columns, NaN as the training median plus a missing flag."""
    from sklearn.linear_model import LogisticRegression

    miss = np.isnan(x_train).any(axis=0)
    med = np.nanmedian(x_train, axis=0)

    def prep(a: np.ndarray) -> np.ndarray:
        return np.column_stack([np.where(np.isnan(a), med, a), np.isnan(a[:, miss]).astype(float)])

    a_train, a_test = prep(x_train), prep(x_test)
    mu, sd = a_train.mean(axis=0), a_train.std(axis=0) + EPS
    model = LogisticRegression(max_iter=2000).fit((a_train - mu) / sd, y_train)
    p_train = model.predict_proba((a_train - mu) / sd)[:, 1]
    return model.predict_proba((a_test - mu) / sd)[:, 1], best_threshold(y_train, p_train)


def _trees(x_train: np.ndarray, y_train: np.ndarray, x_test: np.ndarray, seed: int) -> tuple[np.ndarray, float]:
    """The trees on the training fold; the threshold from its early-stopping part, which they did not fit."""
    model, val = fit_xgb(x_train, y_train, seed)
    return model.predict_proba(x_test)[:, 1], best_threshold(y_train[val], model.predict_proba(x_train[val])[:, 1])


def stacking(inputs: dict[str, np.ndarray], y: np.ndarray, bss: np.ndarray, folds: int, seeds: list[int]) -> dict:
    """Out-of-fold figures per (input set, classifier), averaged over fold shuffles (``seeds``)."""
    from sklearn.model_selection import StratifiedKFold

    out: dict = {}
    for name, x in inputs.items():
        for kind in ("logistic", "xgboost"):
            runs = []
            for seed in seeds:
                p, cut = np.zeros(len(y)), np.zeros(len(y))
                for train, test in StratifiedKFold(folds, shuffle=True, random_state=seed).split(x, y):
                    if kind == "logistic":
                        p[test], cut[test] = _logistic(x[train], y[train], x[test])
                    else:
                        p[test], cut[test] = _trees(x[train], y[train], x[test], seed)
                runs.append(figures(y, p, bss, cut))
            fig = {k: round(float(np.mean([r[k] for r in runs])), 2 if k.startswith("f1") else 4) for k in runs[0]}
            fig["f1_sd"] = round(float(np.std([r["f1"] for r in runs], ddof=1)), 2) if len(runs) > 1 else 0.0
            out[f"{name} | {kind}"] = fig
            print(f"  {name:38s} {kind:8s}  F1@0.5 {fig['f1']:.2f}  F1@tuned {fig['f1_tuned']:.2f}  "
                  f"AUC {fig['auc']:.4f}  BSS AUC {fig['bss_auc']:.4f}")
    return out


def _network_scores(path: Path, ids: list) -> dict[str, np.ndarray]:
    """``p_bhb`` and ``p_bhb_spectrum`` of a ``bhb score`` table whose rows are the stars ``ids`` in order."""
    scored = Table.read(path)
    if list(scored["id"]) != list(ids):
        raise SystemExit(f"{path}: its rows are not the sky's stars in order")
    return {k: np.nan_to_num(np.asarray(scored[k], dtype=float), nan=0.0) for k in ("p_bhb", "p_bhb_spectrum")}


def late_fusion(sky: Path, scores: Path, x_fresh: np.ndarray, fresh_scores: dict[str, np.ndarray], y: np.ndarray,
                bss: np.ndarray, seeds: list[int]) -> dict:
    """The perceptron and the trees on [network logits, features], fitted on a sky the network never saw.

    Closer to what a Balmer token would learn than a fresh-sky stacker: thousands of stars to fit
    on, none of them the network's, and nothing fitted on the fresh sky.
    """
    truth = read_truth(sky)
    x_sky, y_sky = features(open_dataset(sky)), np.asarray(truth["label_physical"], dtype=int)
    net = _network_scores(scores, list(truth["id"]))
    out: dict = {"sky": sky.name, "n": len(y_sky)}
    for name, cols in (("balmer+colours", ()), ("p_bhb_spectrum + balmer+colours", ("p_bhb_spectrum",)),
                       ("p_bhb + balmer+colours", ("p_bhb",)),
                       ("p_bhb + p_bhb_spectrum + balmer+colours", ("p_bhb", "p_bhb_spectrum"))):
        a = np.column_stack([*(logit(net[c]) for c in cols), x_sky])
        b = np.column_stack([*(logit(fresh_scores[c]) for c in cols), x_fresh])
        for kind in ("mlp", "xgboost"):
            runs = [figures(y, (fit_mlp(a, y_sky, seed) if kind == "mlp" else fit_xgb(a, y_sky, seed)[0])
                            .predict_proba(b)[:, 1], bss) for seed in seeds]
            fig = {k: round(float(np.mean([r[k] for r in runs])), 2 if k == "f1" else 4) for k in runs[0]}
            fig["f1_range"] = [min(r["f1"] for r in runs), max(r["f1"] for r in runs)]
            out[f"{name} | {kind}"] = fig
            print(f"  {name:40s} {kind:8s} F1 {fig['f1']:.2f} {fig['f1_range']}  AUC {fig['auc']:.4f}  "
                  f"BSS AUC {fig['bss_auc']:.4f}")
    return out


def _f1(y: np.ndarray, wrong: np.ndarray) -> float:
    """Macro F1 (%) of the predictions that ``wrong`` marks as errors against labels ``y``."""
    return round(100 * scores_report(y, np.where(wrong, 1 - y, y).astype(float))["macro"]["f1"], 2)


def anatomy(truth: Table, catalog: Table, y: np.ndarray, scores: dict[str, np.ndarray]) -> dict:
    """Where the errors at P ≥ 0.5 fall: per population, per binned truth column, per S/N and g; and shared errors."""
    wrong = {name: (p >= 0.5).astype(int) != y for name, p in scores.items()}
    kind = np.asarray(truth["kind"]).astype(str)
    out: dict = {"per_population": {}}
    for k in sorted(set(kind)):
        m = kind == k
        out["per_population"][k] = {"n": int(m.sum()), **{f"errors_{s}": int(w[m].sum()) for s, w in wrong.items()}}
    bins = {"teff": [7000, 8000, 9000, 10000, 12500], "logg": [2.4, 3.4, 3.7, 4.0, 4.3, 4.8],
            "feh": [-3.0, -2.0, -1.5, -1.0, -0.5, 0.4], "ebv": list(np.quantile(truth["ebv"], [0, 0.25, 0.5, 0.75, 1]))}
    for col, edges in bins.items():
        v = np.asarray(truth[col], dtype=float)
        out[f"by_{col}"] = []
        for lo, hi in itertools.pairwise(edges):
            m = (v >= lo) & ((v < hi) | (hi == edges[-1]))
            row = {"range": [round(float(lo), 3), round(float(hi), 3)], "n": int(m.sum()), "n_bhb": int(y[m].sum())}
            row.update({f"error_rate_{s}": round(float(w[m].mean()), 4) if m.any() else None for s, w in wrong.items()})
            out[f"by_{col}"].append(row)
    snr, g = np.asarray(truth["snr"], dtype=float), np.asarray(catalog["g"], dtype=float)
    med = float(np.median(snr))
    out["snr_median"] = round(med, 2)
    for half, m in (("snr_above_median", snr >= med), ("snr_below_median", snr < med)):
        out[half] = {"n": int(m.sum()), **{f"f1_{s}": _f1(y[m], w[m]) for s, w in wrong.items()}}
    edges = np.quantile(g, [0, 0.25, 0.5, 0.75, 1])
    out["by_g_quartile"] = []
    for lo, hi in itertools.pairwise(edges):
        m = (g >= lo) & ((g < hi) | (hi == edges[-1]))
        out["by_g_quartile"].append({"g": [round(float(lo), 2), round(float(hi), 2)], "n": int(m.sum()),
                                     "median_snr": round(float(np.median(snr[m])), 1),
                                     **{f"f1_{s}": _f1(y[m], w[m]) for s, w in wrong.items()}})
    names = list(wrong)
    if len(names) >= 2:
        a, b = wrong[names[0]], wrong[names[1]]
        out["shared_errors"] = {f"errors_{names[0]}": int(a.sum()), f"errors_{names[1]}": int(b.sum()),
                                "both": int((a & b).sum()), "either": int((a | b).sum())}
    return out


def _print_anatomy(an: dict) -> None:
    """The anatomy's headline figures as plain lines."""
    for k, v in an["per_population"].items():
        print(f"  {k:15s} n={v['n']:4d}  " + "  ".join(f"{e}={n}" for e, n in v.items() if e != "n"))
    for half in ("snr_above_median", "snr_below_median"):
        print(f"  {half} (median S/N {an['snr_median']}): {an[half]}")
    for row in an["by_g_quartile"]:
        print(f"  g {row['g']}: {row}")
    if "shared_errors" in an:
        print(f"  shared errors: {an['shared_errors']}")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--train", type=Path, action="append", required=True, help="a training sky (repeatable: pooled)")
    ap.add_argument("--fresh", type=Path, required=True, help="the fresh sky every figure is measured on")
    ap.add_argument("--scores", type=Path, required=True, help="bhb score's table of the fresh sky (.ecsv)")
    ap.add_argument("--sizes", default="3000,6000,12000,24000,36000")
    ap.add_argument("--seeds", default="0,1,2")
    ap.add_argument("--folds", type=int, default=5)
    ap.add_argument("--fusion-sky", type=Path, help="a sky the network never trained on, to fit a late fusion on")
    ap.add_argument("--fusion-scores", type=Path, help="bhb score's table of --fusion-sky")
    ap.add_argument("--out", type=Path)
    args = ap.parse_args(argv)
    sizes = [int(s) for s in args.sizes.split(",") if s]
    seeds = [int(s) for s in args.seeds.split(",") if s]

    fresh = open_dataset(args.fresh)
    truth, catalog = read_truth(args.fresh), fresh.catalog
    y = np.asarray(truth["label_physical"], dtype=int)
    bss, feh_range = metal_poor_bss(truth)
    x_fresh, x_fresh_true = features(fresh), noise_free_features(truth)
    pool_x, pool_true, pool_y = [], [], []
    for sky in args.train:
        data, sky_truth = open_dataset(sky), read_truth(sky)
        pool_x.append(features(data))
        pool_true.append(noise_free_features(sky_truth))
        pool_y.append(np.asarray(sky_truth["label_physical"], dtype=int))
    x, x_true, y_pool = np.concatenate(pool_x), np.concatenate(pool_true), np.concatenate(pool_y)

    net_scores = _network_scores(args.scores, list(truth["id"]))
    p_net, p_spec = net_scores["p_bhb"], net_scores["p_bhb_spectrum"]
    p_image = np.nan_to_num(np.asarray(Table.read(args.scores)["p_bhb_image"], dtype=float), nan=0.0)

    result: dict = {"fresh": args.fresh.name, "train": [s.name for s in args.train], "n_pool": len(y_pool),
                    "n_fresh": len(y), "n_bhb_fresh": int(y.sum()), "n_metal_poor_bss": int(bss.sum()),
                    "feh_range": [round(v, 2) for v in feh_range], "scores": args.scores.name, "seeds": seeds}
    net = figures(y, p_net, bss)
    net["f1_oracle_threshold"] = round(100 * scores_report(y, p_net, best_threshold(y, p_net))["macro"]["f1"], 2)
    result["network"] = {"p_bhb": net, "p_bhb_spectrum": figures(y, p_spec, bss),
                         "p_bhb_image": figures(y, p_image, bss)}
    print(f"network p_bhb: {net}")

    print("1. learning curve, XGBoost on Balmer diagnostics + dereddened colours (fresh sky):")
    result["learning_curve"] = learning_curve(x, y_pool, x_fresh, y, bss, sizes, seeds)
    print("   noise-free features (truth line parameters, intrinsic colours):")
    result["learning_curve_noise_free"] = learning_curve(x_true, y_pool, x_fresh_true, y, bss,
                                                         [s for s in sizes if s <= 12000], seeds)
    print("   two-layer perceptron on the same features as the trees:")
    result["learning_curve_mlp"] = learning_curve(x, y_pool, x_fresh, y, bss, sizes, seeds, mlp=True)

    # Scores made without the fresh sky: trees per training sky (the first is the network's), and on
    # the first sky's Balmer diagnostics alone and colours alone, to say which part the network lacks.
    p_sky = [fit_xgb(a, b, seeds[0])[0].predict_proba(x_fresh)[:, 1] for a, b in zip(pool_x, pool_y, strict=True)]
    p_xgb = p_sky[0]
    p_part = {part: fit_xgb(pool_x[0][:, cols], pool_y[0], seeds[0])[0].predict_proba(x_fresh[:, cols])[:, 1]
              for part, cols in (("balmer", slice(0, 4)), ("colours", slice(4, 8)))}
    result["xgboost_per_sky"] = [figures(y, p, bss) for p in p_sky]
    p_mlp = [fit_mlp(pool_x[0], pool_y[0], seed).predict_proba(x_fresh)[:, 1] for seed in seeds]
    result["mlp"] = [figures(y, p, bss) for p in p_mlp]
    result["mean_of_p_bhb_spectrum_and_mlp"] = [figures(y, (p_spec + p) / 2, bss) for p in p_mlp]
    result["mean_of_p_bhb_and_mlp"] = [figures(y, (p_net + p) / 2, bss) for p in p_mlp]
    result["xgboost_balmer_only"] = figures(y, p_part["balmer"], bss)
    result["xgboost_colours_only"] = figures(y, p_part["colours"], bss)
    result["mean_of_p_bhb_and_xgboost"] = figures(y, (p_net + p_xgb) / 2, bss)
    result["mean_of_p_bhb_spectrum_and_xgboost"] = figures(y, (p_spec + p_xgb) / 2, bss)
    if len(p_sky) > 1:
        result["mean_of_two_xgboosts"] = figures(y, (p_sky[0] + p_sky[1]) / 2, bss)
    for key in ("xgboost_per_sky", "xgboost_balmer_only", "xgboost_colours_only", "mean_of_p_bhb_and_xgboost",
                "mean_of_p_bhb_spectrum_and_xgboost", "mean_of_two_xgboosts", "mlp", "mean_of_p_bhb_spectrum_and_mlp",
                "mean_of_p_bhb_and_mlp"):
        print(f"{key}: {result.get(key)}")

    print(f"2. stacking, {args.folds}-fold stratified CV on the fresh sky (p_xgb: trees on the network's sky):")
    net_l = logit(p_net)[:, None]
    inputs = {"p_bhb": net_l, "p_bhb_spectrum": logit(p_spec)[:, None], "balmer+colours": x_fresh,
              "p_bhb + balmer+colours": np.column_stack([net_l, x_fresh]),
              "p_bhb + p_bhb_spectrum + balmer+colours": np.column_stack([net_l, logit(p_spec), x_fresh]),
              "p_bhb + balmer": np.column_stack([net_l, x_fresh[:, :4]]),
              "p_bhb + colours": np.column_stack([net_l, x_fresh[:, 4:]]),
              "p_xgb": logit(p_xgb)[:, None],
              "p_bhb + p_xgb": np.column_stack([net_l, logit(p_xgb)]),
              "p_bhb + p_xgb_balmer": np.column_stack([net_l, logit(p_part["balmer"])]),
              "p_bhb + p_xgb_colours": np.column_stack([net_l, logit(p_part["colours"])]),
              "p_bhb_spectrum + p_xgb": np.column_stack([logit(p_spec), logit(p_xgb)]),
              "p_bhb_image + p_xgb": np.column_stack([logit(p_image), logit(p_xgb)]),
              "p_bhb_spectrum + p_bhb_image + p_xgb": np.column_stack([logit(p_spec), logit(p_image), logit(p_xgb)])}
    if len(p_sky) > 1:
        inputs["p_xgb + p_xgb(2nd sky)"] = np.column_stack([logit(p_sky[0]), logit(p_sky[1])])
    result["stacking"] = stacking(inputs, y, bss, args.folds, seeds)

    print("3. error anatomy at P ≥ 0.5 (network p_bhb, XGBoost on the network's sky, their mean):")
    result["anatomy"] = anatomy(truth, catalog, y, {"network": p_net, "xgboost": p_xgb, "mean": (p_net + p_xgb) / 2})
    _print_anatomy(result["anatomy"])

    if args.fusion_sky and args.fusion_scores:
        print(f"4. late fusion learnt on {args.fusion_sky.name} (network scores + features), scored on the fresh sky:")
        result["late_fusion"] = late_fusion(args.fusion_sky, args.fusion_scores, x_fresh,
                                            {"p_bhb": p_net, "p_bhb_spectrum": p_spec}, y, bss, seeds)

    if args.out:
        args.out.write_text(json.dumps(result, indent=1) + "\n")
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
