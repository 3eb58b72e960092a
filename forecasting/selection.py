"""Choose what forecasts each series: a weighted ensemble of the best models per demand segment.

Series are put in segments by the Syntetos-Boylan-Croston classification of their recent demand
(average inter-demand interval ADI and squared coefficient of variation CV² of the non-zero
sizes): `smooth`, `erratic`, `intermittent`, `lumpy`, plus `inactive` for series without a sale
in the look-back. Per segment the models are scored on the rolling-origin backtest by their
sales-weighted RMSSE (M5's measure, so the series that carry the revenue count most). The best
`top_k` models within `tolerance` of the best score make the candidate ensembles: every convex
combination of them with weights in steps of a quarter (0, 1/4, 1/2, 3/4, 1; 15 candidates for
three models, the best model alone among them), and the best candidate on the backtest wins.
A model whose backtest bias in the segment is more than BIAS_SLACK further from zero than the
least biased model's is no candidate: on lumpy series RMSSE barely punishes a forecast far
below the mean (the variance dwarfs the bias), and a plan stocks what the forecast says. A
coarse grid lets a clearly better model carry more weight than an even split without fitting
weights to the noise of a few windows. Per-segment rather
than per-series choice: a series' 3 x 28 backtest points are too few
to pick a winner reliably, a segment's thousands are not, and averaging good models is the most
robust gain the M4 / M5 competitions found.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from forecasting.columns import CUTOFF, DS, UNIQUE_ID, Y
from forecasting.metrics import rmsse_per_window, sales_weights

__all__ = [
    "ADI_CUTOFF",
    "CV2_CUTOFF",
    "INACTIVE",
    "Selection",
    "choose",
    "classify_series",
    "combine",
    "demand_class",
    "weight_grid",
]

ADI_CUTOFF = 1.32  # Syntetos-Boylan: mean interval between sales above this -> intermittent
CV2_CUTOFF = 0.49  # ... and squared CV of sale sizes above this -> erratic / lumpy
INACTIVE = "inactive"
# A global LightGBM forecast a distributor's lumpy juice at 31 units for 107 sold (bias -69 %)
# and won its segment by RMSSE, 0.589 against AutoETS's 0.610 (bias -10 %).
BIAS_SLACK = 0.25
SEGMENTS = ("smooth", "erratic", "intermittent", "lumpy", INACTIVE)


def demand_class(y: np.ndarray) -> str:
    """Syntetos-Boylan-Croston class of a demand history (units per period)."""
    nonzero = y[y > 0]
    if len(nonzero) == 0:
        return INACTIVE
    adi = len(y) / len(nonzero)
    cv2 = float(np.var(nonzero) / np.mean(nonzero) ** 2) if len(nonzero) > 1 else 0.0
    if adi < ADI_CUTOFF:
        return "smooth" if cv2 < CV2_CUTOFF else "erratic"
    return "intermittent" if cv2 < CV2_CUTOFF else "lumpy"


def classify_series(long: pd.DataFrame, lookback: int) -> pd.Series:
    """Segment of each series from its last `lookback` periods: unique_id -> class."""
    recent = long.groupby(UNIQUE_ID, sort=False).tail(lookback)
    return recent.groupby(UNIQUE_ID, sort=False)[Y].apply(lambda s: demand_class(s.to_numpy()))


@dataclass(frozen=True)
class Selection:
    """The choice per segment: rows `segment, model, score, weight, reason`."""

    table: pd.DataFrame
    fallback: str

    def weights(self, segment: str) -> dict[str, float]:
        """Model -> weight for a segment; the fallback alone for a segment never seen."""
        rows = self.table[(self.table["segment"] == segment) & (self.table["weight"] > 0)]
        if rows.empty:
            rows = self.table[(self.table["segment"] == "all") & (self.table["weight"] > 0)]
        if rows.empty:
            return {self.fallback: 1.0}
        return dict(zip(rows["model"], rows["weight"], strict=True))

    def models_used(self) -> list[str]:
        """Every model with a weight somewhere (the ones the final fit needs)."""
        used = self.table.loc[self.table["weight"] > 0, "model"].unique().tolist()
        return sorted(set(used) | {self.fallback})

    def describe(self, segment: str) -> str:
        """Why a segment gets its forecast, in words."""
        rows = self.table[(self.table["segment"] == segment) & (self.table["weight"] > 0)]
        if rows.empty:
            return f"no backtest for segment {segment!r}: {self.fallback} fallback"
        return str(rows["reason"].iloc[0])


def _scores(
    backtest: pd.DataFrame,
    history: pd.DataFrame,
    models: Sequence[str],
    segment_of: pd.Series,
    horizon: int,
) -> pd.DataFrame:
    """Sales-weighted RMSSE of each model per segment (rows: segment + 'all'; columns: models)."""
    rmsse = rmsse_per_window(backtest, history, models)
    cutoffs = sorted(backtest[CUTOFF].unique())
    weights = sales_weights(history, cutoffs, horizon)
    frame = rmsse.merge(weights, on=[UNIQUE_ID, CUTOFF], how="left")
    frame["segment"] = frame[UNIQUE_ID].map(segment_of).fillna(INACTIVE)
    rows = {}
    for segment, part in [*frame.groupby("segment"), ("all", frame)]:
        scores = {}
        weight = part["weight"].fillna(0.0)
        for model in models:
            usable = part[model].notna()
            total = float(weight[usable].sum())
            if total > 0:
                scores[model] = float((part.loc[usable, model] * weight[usable]).sum() / total)
            else:  # no sales value in the segment: every series counts alike
                scores[model] = float(part.loc[usable, model].mean()) if usable.any() else np.nan
        rows[segment] = scores
    return pd.DataFrame.from_dict(rows, orient="index")


def _biases(backtest: pd.DataFrame, models: Sequence[str], segment_of: pd.Series) -> pd.DataFrame:
    """Backtest bias of each model per segment, sum of forecasts / sum of sales - 1 over the
    rows it forecast (rows: segment + 'all'; columns: models; NaN where nothing sold)."""
    segments = pd.Series(backtest[UNIQUE_ID].map(segment_of)).fillna(INACTIVE).to_numpy()
    y = backtest[Y].to_numpy(dtype="float64")
    rows = {}
    for segment in [*pd.unique(segments), "all"]:
        mine = np.ones(len(y), dtype=bool) if segment == "all" else segments == segment
        biases = {}
        for model in models:
            f = backtest[model].to_numpy(dtype="float64")
            used = mine & np.isfinite(f)
            sold = float(y[used].sum())
            biases[model] = float(f[used].sum()) / sold - 1.0 if sold > 0 else np.nan
        rows[str(segment)] = biases
    return pd.DataFrame.from_dict(rows, orient="index")


def _biased(
    biases: pd.DataFrame, scores: pd.DataFrame, tolerance: float, top_k: int
) -> pd.DataFrame:
    """True where a scored model's bias is more than BIAS_SLACK further from zero than the
    least biased competitive model's in its segment: one of the `top_k` best scores or within
    `tolerance` of the best.

    The yardstick is a model that could have been in the ensemble. On weekly slow movers that
    took off, every good model was 31-40 % under, and CrostonOptimized (+6 %, 28 % worse
    RMSSE, WAPE 1.12 against LightGBM's 0.70) set the bar, so the guard left the segment to
    TSB. The best `top_k` count too, so a biased best model alone within `tolerance` is not
    its own yardstick (SeasonalNaive, -64 %, scored best on weekly slow movers)."""
    size = biases.reindex(index=scores.index, columns=scores.columns).abs().where(scores.notna())
    competitive = scores.le(scores.min(axis=1) * (1 + tolerance), axis=0)
    competitive |= scores.rank(axis=1, method="first").le(top_k)
    least = size.where(competitive).min(axis=1).fillna(size.min(axis=1))
    return size.gt(least + BIAS_SLACK, axis=0)


def _left_out_text(biases: pd.DataFrame, biased: pd.DataFrame, segment: str) -> str:
    """What a segment's reason adds for the models its bias kept out (empty where none)."""
    out = [str(m) for m in biased.columns if biased.loc[segment, m]]
    if not out:
        return ""
    values = biases.loc[[segment]].to_numpy(dtype=float)[0]
    bias = dict(zip(map(str, biases.columns), values.tolist(), strict=True))
    least = min(abs(b) for m, b in bias.items() if m not in out and np.isfinite(b))
    shown = ", ".join(f"{m} {bias[m]:+.0%}" for m in out)
    return f"; left out for their backtest bias: {shown} (least {least:.0%})"


def weight_grid(n_models: int, steps: int) -> list[tuple[int, ...]]:
    """Every way to share `steps` equal parts among `n_models` models (a convex weight grid
    with step 1 / `steps`), fewest models first, then most weight on the first models."""
    shares = [c for c in itertools.product(range(steps + 1), repeat=n_models) if sum(c) == steps]
    return sorted(shares, key=lambda c: (sum(1 for x in c if x > 0), [-x for x in c]))


def _candidate_plans(
    row: pd.Series, top_k: int, tolerance: float, steps: int
) -> list[dict[str, float]]:
    """Convex combinations of the best `top_k` models within `tolerance` of the best (scores
    in `row`, lower is better), weights in multiples of 1 / `steps`."""
    valid = row.dropna().sort_values()
    if valid.empty:
        return []
    pool = [str(m) for m in valid[valid <= valid.iloc[0] * (1 + tolerance)].head(top_k).index]
    return [
        {m: share / steps for m, share in zip(pool, shares, strict=True) if share > 0}
        for shares in weight_grid(len(pool), steps)
    ]


def _apply_plans(
    backtest: pd.DataFrame, segments: np.ndarray, plans: Mapping[str, list[dict[str, float]]]
) -> pd.DataFrame:
    """Backtest with one column per candidate `k1`, `k2`, ... (a segment's last candidate
    stands in where it has fewer)."""
    size = max((len(p) for p in plans.values()), default=0)
    frame = backtest[[UNIQUE_ID, DS, CUTOFF, Y]].copy()
    for k in range(size):
        column = np.full(len(backtest), np.nan)
        for segment, candidates in plans.items():
            if not candidates:
                continue
            rows = segments == segment
            weights = candidates[min(k, len(candidates) - 1)]
            column[rows] = sum(
                w * backtest.loc[rows, m].to_numpy(dtype="float64") for m, w in weights.items()
            )
        frame[f"k{k + 1}"] = column
    return frame


def choose(
    backtest: pd.DataFrame,
    history: pd.DataFrame,
    models: Sequence[str],
    segment_of: pd.Series,
    horizon: int,
    top_k: int = 3,
    tolerance: float = 0.15,
    fallback: str = "MA28",
    weight_steps: int = 4,
) -> Selection:
    """Pick and weight models per segment from the backtest (see the module docstring).

    Per segment the candidates are the convex combinations, weights in multiples of
    1 / `weight_steps`, of the best `top_k` models whose score is within `tolerance` of the
    best (0.15 = at most 15 % worse, so weak models never dilute strong ones); the candidate
    with the lowest backtest score wins (ties go to the smaller ensemble).
    """
    all_scores = _scores(backtest, history, models, segment_of, horizon)
    biases = _biases(backtest, models, segment_of)
    biased = _biased(biases, all_scores, tolerance, top_k)
    scores = all_scores.mask(biased)
    plans = {
        str(seg): _candidate_plans(row, top_k, tolerance, weight_steps)
        for seg, row in scores.iterrows()
    }
    segments = pd.Series(backtest[UNIQUE_ID].map(segment_of)).fillna(INACTIVE).to_numpy()
    per_segment = {seg: p for seg, p in plans.items() if seg != "all"}
    candidates = _apply_plans(backtest, segments, per_segment)
    columns = [c for c in candidates.columns if c.startswith("k")]
    candidate_scores = _scores(candidates, history, columns, segment_of, horizon)
    pooled = _apply_plans(backtest, np.full(len(backtest), "all"), {"all": plans.get("all", [])})
    pooled_columns = [c for c in pooled.columns if c.startswith("k")]
    pooled_scores = _scores(pooled, history, pooled_columns, segment_of, horizon)
    rows = []
    for segment, row in scores.iterrows():
        segment = str(segment)
        table = pooled_scores if segment == "all" else candidate_scores
        options = plans.get(segment, [])
        by_candidate = (
            table.loc[segment, [f"k{k + 1}" for k in range(len(options))]] if options else None
        )
        if by_candidate is not None and by_candidate.notna().any():
            values = by_candidate.round(6).to_numpy()
            best = int(np.nanargmin(values))
            weights = options[best]
            valid = row.dropna().sort_values()
            reason = (
                f"segment {segment}: weighted RMSSE "
                + ", ".join(f"{m} {s:.3f}" for m, s in valid.head(top_k + 2).items())
                + f"; best of {len(options)} weightings of the top {len(set().union(*options))}"
                + " in steps "
                + f"of 1/{weight_steps}: {values[best]:.3f} (best model alone {values[0]:.3f})"
                + "; chosen "
                + " + ".join(f"{m} {w:.2f}" for m, w in weights.items())
                + _left_out_text(biases, biased, segment)
            )
        else:
            weights = {}
            reason = f"segment {segment}: no model could be scored, {fallback} fallback"
        for model in row.index:
            rows.append(
                {
                    "segment": segment,
                    "model": model,
                    "score": all_scores.loc[segment, model],
                    "weight": float(weights.get(str(model), 0.0)),
                    "reason": reason,
                }
            )
    return Selection(pd.DataFrame(rows), fallback)


def combine(
    forecasts: pd.DataFrame, segment_of: Mapping[str, str] | pd.Series, selection: Selection
) -> np.ndarray:
    """Ensemble point forecast per row of `forecasts` (which has `unique_id` and model columns).

    A model column missing for a row (NaN) is skipped and its weight spread over the others;
    rows where every chosen model is missing stay NaN for the caller's fallback.
    """
    segments = pd.Series(forecasts[UNIQUE_ID].map(segment_of)).fillna(INACTIVE).to_numpy()
    result = np.full(len(forecasts), np.nan)
    for segment in pd.unique(segments):
        rows = segments == segment
        total = np.zeros(rows.sum())
        weight_sum = np.zeros(rows.sum())
        for model, weight in selection.weights(str(segment)).items():
            if model not in forecasts.columns:
                continue
            values = forecasts.loc[rows, model].to_numpy(dtype="float64")
            present = np.isfinite(values)
            total[present] += weight * values[present]
            weight_sum[present] += weight
        with np.errstate(invalid="ignore", divide="ignore"):
            result[rows] = np.where(weight_sum > 0, total / weight_sum, np.nan)
    return result


def segment_sizes(segment_of: pd.Series) -> dict[str, int]:
    """How many series each segment holds (for the record)."""
    return {str(k): int(v) for k, v in segment_of.value_counts().items()}


def latest_cutoff_history(long: pd.DataFrame, backtest: pd.DataFrame) -> pd.DataFrame:
    """History up to the first backtest cutoff (what segments were known before the backtest)."""
    return long[long[DS] <= backtest[CUTOFF].min()]
