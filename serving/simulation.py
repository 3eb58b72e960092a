"""`allocast simulate`: replay held-out demand through our policy and the planner's two, in one run.

serving is the only package that sees both halves: here the forecaster (`forecasting.forecaster`)
becomes the replay's `forecast_fn`, and the replay engine, the baselines and the seeded network
come from `allocation`. Every policy gets the same real demand, starting stock, lead times, review
period and supply cap; the baselines are fitted on the training period only (the days before the
replay).

For speed the forecaster is refitted (backtests, model choice, calibration) only every
`refit_every` reviews; in between it forecasts from the newer history with the fitted choice
(`Forecaster.predict(sales=history)`). Forecasts are made once per review day and shared by every
service target of the sweep: with `observe="demand"` the history a policy sees does not depend on
the policy.
"""

from __future__ import annotations

import json
import math
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any

import pandas as pd
import typer

from allocation.baselines import MinMaxPolicy, PushPolicy
from allocation.errors import AllocationError
from allocation.forecast_policy import ForecastOrderUpToPolicy
from allocation.network import check_id, check_sku_id
from allocation.plan_policy import PlanPolicy
from allocation.replay_network import network_around
from allocation.simulate import (
    DATE,
    LOCATION,
    ORIGIN_DATE,
    SKU,
    UNITS,
    ForecastFn,
    ReplayForecast,
    ReplayNetwork,
    ReplayResult,
    ReplenishmentPolicy,
    SimulationError,
    replay,
    supply_floor,
)
from serving.errors import replace_hints

__all__ = [
    "ForecastCache",
    "SimulationOutcome",
    "compare_to_min_max",
    "for_simulate",
    "register",
    "run_simulation",
]

MIN_MAX = "min-max"
PUSH = "push"
FORECAST_ORDER_UP_TO = "forecast order-up-to"
OURS = "ours: forecast + plan"
OURS_STOCKED = "ours: forecast + plan, stocked echelon"
KPI_COLUMNS = (
    "fill_rate",
    "stockout_rate",
    "turnover",
    "days_of_supply",
    "avg_inventory",
    "avg_inventory_value",
    "holding_cost",
    "transport_cost",
    "lost_sale_cost",
    "total_cost",
)


# Forecaster hints that name options of `allocast train` and `forecast` (--freq, --horizon,
# --n-windows), which simulate does not have, and what a simulate user can do instead: it replays
# days, and its horizon follows the lead times and the review period.
_SIMULATE_HINTS = (
    (
        ", or forecast weekly or monthly totals with --freq W or MS",
        ": simulate replays days, so weekly or monthly totals cannot be replayed",
    ),
    (
        "if they are weekly totals, forecast them in a file of their own with --freq W",
        "if they are weekly totals, simulate cannot replay them: give their daily sales",
    ),
    (
        "give more series, windows (--n-windows) or a longer horizon",
        "give more series (SKUs or locations), or a less extreme --service-target",
    ),
    ("lower --horizon or give more history", "give more history or fewer --weeks"),
)


def for_simulate(message: str) -> str:
    """A forecaster's message with its hints about options simulate lacks (`--freq`,
    `--n-windows`, `--horizon`) replaced by what a simulate user can do."""
    return replace_hints(message, _SIMULATE_HINTS)


@dataclass
class ForecastCache:
    """A replay `forecast_fn` around the forecaster: refits every `refit_every` calls on the
    newest `history_days` days, forecasts from the newer history in between, and remembers each
    forecast by the history's last date and the horizon (the history must not depend on the policy,
    i.e. the replay observes demand). Each forecast comes with the backtest of the fit that made
    it (`ReplayForecast`): its ensemble's out-of-sample forecasts next to what sold.

    on_progress: receives the forecaster's warnings (a series on its fallback, quantiles on too
    few backtest errors), each once, as `note: ...` lines in simulate's words, instead of Python
    warnings."""

    quantiles: tuple[float, ...]
    refit_every: int = 4
    history_days: int | None = 730
    seed: int = 0
    on_progress: Callable[[str], None] | None = None
    fits: int = 0
    fit_seconds: float = 0.0
    predict_seconds: float = 0.0
    _model: Any = None
    _backtest: pd.DataFrame | None = None
    _calls_since_fit: int = 0
    _memo: dict[tuple[pd.Timestamp, int], ReplayForecast] = field(default_factory=dict)
    _said: set[str] = field(default_factory=set)

    def config(self, horizon: int) -> Any:
        """The forecaster's `ForecastConfig` for a fit over `horizon` days."""
        from forecasting.forecaster import ForecastConfig

        return ForecastConfig(horizon=horizon, quantiles=self.quantiles, seed=self.seed)

    def history_needed(self, horizon: int) -> int:
        """Days of history a fit for `horizon` days needs: one backtest window and the days
        before it (the fit backtests on fewer windows than asked where that is all it holds)."""
        return int(self.config(horizon).fewest_periods())

    def __call__(self, history: pd.DataFrame, horizon: int) -> ReplayForecast:
        key = (pd.Timestamp(history[DATE].max()), horizon)
        if key in self._memo:
            return self._memo[key]
        if self.history_days is not None:
            history = history[history[DATE] > key[0] - pd.Timedelta(days=self.history_days)]
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            if self._model is None or self._calls_since_fit >= self.refit_every:
                from forecasting.forecaster import Forecaster

                started = time.perf_counter()
                self._model = Forecaster(self.config(horizon)).fit(history)
                self._backtest = backtest_rows(self._model.backtest_)
                self.fit_seconds += time.perf_counter() - started
                self.fits += 1
                self._calls_since_fit = 0
            started = time.perf_counter()
            forecast = self._model.predict(sales=history, horizon=horizon)
            self.predict_seconds += time.perf_counter() - started
        self._pass_on(caught)
        self._calls_since_fit += 1
        assert self._backtest is not None
        self._memo[key] = ReplayForecast(frame=forecast, backtest=self._backtest)
        return self._memo[key]

    def _pass_on(self, caught: list[warnings.WarningMessage]) -> None:
        """The forecaster's own warnings to `on_progress`, each message once; any other
        (a library's) warned again as it came."""
        for notice in caught:
            if not notice.category.__module__.startswith("forecasting"):
                warnings.warn_explicit(
                    notice.message, notice.category, notice.filename, notice.lineno
                )
                continue
            message = for_simulate(str(notice.message))
            if message not in self._said:
                self._said.add(message)
                if self.on_progress is not None:
                    self.on_progress(f"note: {message}")


def backtest_rows(table: pd.DataFrame) -> pd.DataFrame:
    """The forecaster's backtest table (`unique_id, ds, cutoff, y, Ensemble`, ...) as
    `sku, location, origin_date, date, units, forecast`: the chosen ensemble's out-of-sample
    forecast of each day, made from the history up to `origin_date`."""
    from forecasting.columns import CUTOFF, DS, KEY_SEP, UNIQUE_ID, Y
    from forecasting.forecaster import ENSEMBLE

    keys = table[UNIQUE_ID].astype(str).str.split(KEY_SEP, n=1, expand=True)
    return pd.DataFrame(
        {
            "sku": keys[0].to_numpy(),
            "location": keys[1].to_numpy(),
            ORIGIN_DATE: pd.to_datetime(table[CUTOFF]).to_numpy(),
            DATE: pd.to_datetime(table[DS]).to_numpy(),
            "units": table[Y].to_numpy(dtype=float),
            "forecast": table[ENSEMBLE].to_numpy(dtype=float),
        }
    )


@dataclass
class SimulationOutcome:
    """KPIs per policy and service target (`summary`), the comparison with min-max at the same
    target (`versus_min_max`), the replays themselves and how the run was set up."""

    summary: pd.DataFrame
    versus_min_max: pd.DataFrame
    at_equal_inventory: pd.DataFrame
    results: dict[str, ReplayResult]
    setup: dict[str, Any]


def _label(policy: str, target: float | None) -> str:
    return policy if target is None else f"{policy} @{target:g}"


def run_simulation(
    sales: pd.DataFrame,
    *,
    weeks: int = 8,
    review_days: int = 7,
    service_targets: Sequence[float] = (0.95,),
    forecast_fn: ForecastFn | None = None,
    refit_every: int = 4,
    seed: int = 0,
    fit_days: int = 182,
    policies: Sequence[str] = (PUSH, MIN_MAX, FORECAST_ORDER_UP_TO, OURS, OURS_STOCKED),
    on_progress: Callable[[str], None] | None = None,
) -> SimulationOutcome:
    """Replay the last `weeks` weeks of `sales` (canonical sales frame with `region`) through each
    policy, at each service target for the target-driven ones.

    forecast_fn: defaults to the forecaster (`ForecastCache`), refitted every `refit_every`
        reviews; pass another callable to replay a different forecast. Only the forecasting
        policies read it: with `policies` push and min-max alone, no forecaster is built and the
        history need not be as long as its backtest.
    """
    service_targets = tuple(dict.fromkeys(service_targets))  # a target given twice runs once
    for target in service_targets:
        if not 0 < target < 1:
            raise SimulationError(
                f"service target {target} must be between 0 and 1",
                source="simulate",
                item="service_target",
            )
    _check_ids(sales)
    days = 7 * weeks
    last = pd.Timestamp(sales[DATE].max())
    start = last - pd.Timedelta(days=days - 1)
    train_end = start - pd.Timedelta(days=1)
    _check_sold_before(sales, train_end, weeks)
    instance = network_around(sales, train_end=train_end, review_days=review_days, seed=seed)
    network = instance.network
    lead_max = int(network.lanes["lead_time_days"].max())
    horizon = max(28, lead_max + review_days)
    # Push and min-max never read a forecast: without a forecasting policy there is no forecaster
    # to build and no backtest history to ask for (a 26-day history was refused for one).
    say = on_progress or (lambda _message: None)
    forecasting = any(family not in (PUSH, MIN_MAX) for family in policies)
    if forecasting:
        if forecast_fn is None:
            forecast_fn = ForecastCache(
                quantiles=tuple(sorted({0.5, *service_targets})),
                refit_every=refit_every,
                seed=seed,
                on_progress=say,
            )
        _check_history(sales, train_end, weeks, forecast_fn, horizon)
    sales, left_out = _without_newcomers(sales, network)
    if left_out:
        say(f"left out of the replay, no history before {start.date()}: {left_out}")

    runs: list[tuple[str, str, float | None, ReplenishmentPolicy]] = []
    if PUSH in policies:
        runs.append((_label(PUSH, None), PUSH, None, PushPolicy()))
    for target in service_targets:
        if MIN_MAX in policies:
            min_max = MinMaxPolicy(service_target=target, fit_days=fit_days)
            min_max.fit(sales, network, train_end=train_end, review_days=review_days)
            runs.append((_label(MIN_MAX, target), MIN_MAX, target, min_max))
        if FORECAST_ORDER_UP_TO in policies:
            runs.append(
                (
                    _label(FORECAST_ORDER_UP_TO, target),
                    FORECAST_ORDER_UP_TO,
                    target,
                    ForecastOrderUpToPolicy(service_target=target),
                )
            )
        if OURS in policies:
            runs.append((_label(OURS, target), OURS, target, PlanPolicy(service_target=target)))
        if OURS_STOCKED in policies:
            stocked = PlanPolicy(service_target=target, echelon_target="installation")
            runs.append((_label(OURS_STOCKED, target), OURS_STOCKED, target, stocked))

    floor = supply_floor(
        sales, network, instance.start_stock, start=start, days=days, review_days=review_days
    )
    constrained = sorted(floor.loc[floor["unavoidable_days"] > 0, "sku"])
    results: dict[str, ReplayResult] = {}
    rows = []
    for label, family, level, policy in runs:
        needs_forecast = family not in (PUSH, MIN_MAX)
        say(f"replaying {label} over {weeks} weeks from {start.date()}")
        started = time.perf_counter()
        result = replay(
            sales,
            network,
            instance.start_stock,
            policy,
            start=start,
            days=days,
            review_days=review_days,
            forecast_fn=forecast_fn if needs_forecast else None,
            forecast_horizon=horizon,
        )
        results[label] = result
        rows.append(
            {
                "policy": family,
                "service_target": level if level is not None else math.nan,
                **{kpi: result.kpis[kpi] for kpi in KPI_COLUMNS},
                "stockout_rate_supplied": _stockout_rate(result.daily, excluding=constrained),
                "seconds": time.perf_counter() - started,
            }
        )
    summary = pd.DataFrame(rows)
    setup: dict[str, Any] = {
        "start": str(start.date()),
        "end": str(last.date()),
        "train_end": str(train_end.date()),
        "weeks": weeks,
        "review_days": review_days,
        "service_targets": list(service_targets),
        "seed": seed,
        "skus": len(network.skus),
        "locations": len(network.forward_nodes),
        "forecast_horizon": horizon,
        "stockout_floor": float(floor["unavoidable_days"].sum())
        / (days * len(network.forward_nodes) * len(network.skus)),
        "supply_constrained_skus": constrained,
        # SKU -> stockout days no policy can avoid (of its demand days): the floor's parts
        "unavoidable_days": {
            str(sku): [int(lost), int(demand)]
            for sku, lost, demand in floor.loc[
                floor["unavoidable_days"] > 0, [SKU, "unavoidable_days", "demand_days"]
            ].to_numpy()
        },
        "left_out": left_out,
    }
    if isinstance(forecast_fn, ForecastCache):
        setup.update(
            refit_every=refit_every,
            forecaster_fits=forecast_fn.fits,
            forecaster_fit_seconds=round(forecast_fn.fit_seconds, 1),
            forecaster_predict_seconds=round(forecast_fn.predict_seconds, 1),
        )
    return SimulationOutcome(
        summary=summary,
        versus_min_max=compare_to_min_max(summary),
        at_equal_inventory=best_at_equal_inventory(summary),
        results=results,
        setup=setup,
    )


def _without_newcomers(sales: pd.DataFrame, network: ReplayNetwork) -> tuple[pd.DataFrame, str]:
    """The sales of the SKUs and locations the network was built with (those with history
    before the replay), and which others were left out, in words ("" when none)."""
    skus, locations = set(network.skus[SKU]), set(network.forward_nodes)
    kept = sales[SKU].isin(skus) & sales[LOCATION].isin(locations)
    new_skus = sorted(set(sales.loc[~sales[SKU].isin(skus), SKU]))
    new_locations = sorted(set(sales.loc[~sales[LOCATION].isin(locations), LOCATION]))
    words = [
        f"{len(names)} {what} ({', '.join(map(str, names[:5]))}{', ...' if len(names) > 5 else ''})"
        for what, names in (("SKU(s)", new_skus), ("location(s)", new_locations))
        if names
    ]
    return sales[kept], "; ".join(words)


def _check_ids(sales: pd.DataFrame) -> None:
    """Before any replay: every SKU and location can be an id of the replay's network (else
    the plan's network refused it after the baselines had replayed). A region may be any text:
    only its regional warehouse's id is checked, by `network_around`."""
    for column, check in ((SKU, check_sku_id), (LOCATION, check_id)):
        for value in pd.unique(sales[column].astype(str)):
            try:
                check(value)
            except ValueError as error:
                raise SimulationError(
                    f"sales: {column} {value!r} cannot be an id of the replay's network: {error}",
                    source="sales",
                    item=column,
                ) from None


def _check_history(
    sales: pd.DataFrame,
    train_end: pd.Timestamp,
    weeks: int,
    forecast_fn: ForecastFn,
    horizon: int,
) -> None:
    """Before any replay: as many days as the forecaster needs before the replay starts, one
    backtest window and the days before it (else it fails after the baselines have replayed)."""
    known = sales[sales[DATE] <= train_end]
    if isinstance(forecast_fn, ForecastCache):
        needed = forecast_fn.history_needed(horizon)
        days = (train_end - known[DATE].min()).days + 1
        if days < needed:
            most_weeks = (days + 7 * weeks - needed) // 7
            fix = (
                f"give a longer history or fewer --weeks (at most {most_weeks})"
                if most_weeks > 0
                else f"give a history of at least {needed + 7} days (one replayed week)"
            )
            raise SimulationError(
                f"sales: {days} days of history before the replay starts ({train_end.date()}), "
                f"but the forecaster needs {needed} (a {horizon}-day backtest window after "
                f"{needed - horizon} days): {fix}",
                source="sales",
                item=DATE,
            )


def _check_sold_before(sales: pd.DataFrame, train_end: pd.Timestamp, weeks: int) -> None:
    """Some sale before the replayed weeks (checked before the network is drawn from them)."""
    known = sales[sales[DATE] <= train_end]
    if not (known[UNITS] > 0).any():
        first = pd.Timestamp(sales[DATE].min()).date()
        raise SimulationError(
            f"sales: nothing sold on or before {train_end.date()}, the day before the {weeks} "
            f"replayed weeks (the sales start on {first}): no policy has a history to learn "
            "from; give a longer history or fewer --weeks",
            source="sales",
            item=UNITS,
        )


def _stockout_rate(daily: pd.DataFrame, excluding: list[str]) -> float:
    """Share of SKU-location-days with unmet demand, leaving out the SKUs `excluding`."""
    kept = daily[~daily["sku"].isin(excluding)]
    return float((kept["lost"] > 1e-9).mean()) if len(kept) else math.nan


def compare_to_min_max(summary: pd.DataFrame) -> pd.DataFrame:
    """Each target-driven policy against min-max at the same service target: stockout rate change,
    turnover change and average inventory ratio (ours / min-max), as the source's bar reads them
    (stockout rate down 60 %, turnover up 45 %, at no more average inventory); and the stockout
    rate change on the SKUs the supply can serve (`stockout_rate_supplied`), beside the bar."""
    base = summary[summary["policy"] == MIN_MAX].set_index("service_target")
    rows = []
    for _, row in summary[~summary["policy"].isin([MIN_MAX, PUSH])].iterrows():
        target = row["service_target"]
        if target not in base.index:
            continue
        ref = base.loc[target]
        stockout_change = _change(row["stockout_rate"], ref["stockout_rate"])
        turnover_change = _change(row["turnover"], ref["turnover"])
        inventory_ratio = 1 + _change(row["avg_inventory"], ref["avg_inventory"])
        rows.append(
            {
                "policy": row["policy"],
                "service_target": target,
                "stockout_rate_change": stockout_change,
                "stockout_rate_supplied_change": _change(
                    row["stockout_rate_supplied"], ref["stockout_rate_supplied"]
                ),
                "turnover_change": turnover_change,
                "avg_inventory_ratio": inventory_ratio,
                "fill_rate_change": row["fill_rate"] - ref["fill_rate"],
                "meets_bar": bool(
                    stockout_change <= -0.60 and turnover_change >= 0.45 and inventory_ratio <= 1
                ),
            }
        )
    return pd.DataFrame(rows)


def _change(value: float, reference: float) -> float:
    """value / reference - 1; against a reference of 0 (min-max with no stockout at all): no
    change when the value is 0 too, else +inf, never NaN."""
    if reference == 0:
        return 0.0 if value == 0 else math.inf
    return value / reference - 1


def best_at_equal_inventory(summary: pd.DataFrame) -> pd.DataFrame:
    """For each min-max point of the sweep and each other policy: its best sweep point among those
    holding no more average inventory than that min-max point (the source's "at no more average
    inventory"), with the same changes as `compare_to_min_max`. Best: the lowest stockout rate
    among the points that meet the bar (stockout rate -60 %, turnover +45 %) when any does, else
    the lowest stockout rate."""
    rows = []
    for _, ref in summary[summary["policy"] == MIN_MAX].iterrows():
        for family, group in summary[~summary["policy"].isin([MIN_MAX, PUSH])].groupby(
            "policy", sort=False
        ):
            fits = group[group["avg_inventory"] <= ref["avg_inventory"]]
            if fits.empty:
                continue
            meets = (fits["stockout_rate"] <= 0.40 * ref["stockout_rate"]) & (
                fits["turnover"] >= 1.45 * ref["turnover"]
            )
            best = (fits[meets] if meets.any() else fits).sort_values("stockout_rate").iloc[0]
            rows.append(
                {
                    "policy": family,
                    "min_max_target": ref["service_target"],
                    "service_target": best["service_target"],
                    "stockout_rate_change": _change(best["stockout_rate"], ref["stockout_rate"]),
                    "stockout_rate_supplied_change": _change(
                        best["stockout_rate_supplied"], ref["stockout_rate_supplied"]
                    ),
                    "turnover_change": _change(best["turnover"], ref["turnover"]),
                    "avg_inventory_ratio": 1 + _change(best["avg_inventory"], ref["avg_inventory"]),
                    "fill_rate_change": best["fill_rate"] - ref["fill_rate"],
                }
            )
    frame = pd.DataFrame(rows)
    if len(frame):
        frame["meets_bar"] = (frame["stockout_rate_change"] <= -0.60 + 1e-12) & (
            frame["turnover_change"] >= 0.45 - 1e-12
        )
    return frame


def write_outcome(outcome: SimulationOutcome, out_dir: Path) -> list[Path]:
    """Write `summary.csv`, `versus_min_max.csv`, `at_equal_inventory.csv`, `daily.parquet` (every
    replay's daily frame with its label), `inventory.parquet` (on hand at every node at the end
    of each day), `shipments.parquet` (every shipment with its dates) and `simulation.json`
    (setup and the tables). With the stores' on hand alone, average inventory (which counts
    every node and the stock between them) could not be recomputed from the files."""
    out_dir.mkdir(parents=True, exist_ok=True)
    names = ("summary.csv", "versus_min_max.csv", "at_equal_inventory.csv")
    paths = [out_dir / name for name in names]
    outcome.summary.to_csv(paths[0], index=False)
    outcome.versus_min_max.to_csv(paths[1], index=False)
    outcome.at_equal_inventory.to_csv(paths[2], index=False)
    for name in ("daily", "inventory", "shipments"):
        frame = pd.concat(
            [
                getattr(result, name).assign(policy=label)
                for label, result in outcome.results.items()
            ],
            ignore_index=True,
        )
        paths.append(out_dir / f"{name}.parquet")
        frame.to_parquet(paths[-1], index=False)
    paths.append(out_dir / "simulation.json")
    paths[-1].write_text(
        json.dumps(
            {
                "setup": outcome.setup,
                "summary": json.loads(outcome.summary.to_json(orient="records")),
                "versus_min_max": json.loads(outcome.versus_min_max.to_json(orient="records")),
                "at_equal_inventory": json.loads(
                    outcome.at_equal_inventory.to_json(orient="records")
                ),
            },
            indent=2,
        )
    )
    return paths


def _print_outcome(outcome: SimulationOutcome) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console()
    setup = outcome.setup
    console.print(
        f"Stockout floor {setup['stockout_floor']:.4f}: demand days no policy can serve under the "
        f"supply cap (supply-constrained SKUs: "
        f"{', '.join(setup['supply_constrained_skus']) or 'none'})"
    )
    table = Table(title=f"Replay {outcome.setup['start']} .. {outcome.setup['end']}")
    for column in ("policy", "target", "fill", "stockout", "turnover", "DoS", "avg inv", "cost"):
        # fold, not cut: a narrow terminal showed "4,409,1..." for a number
        table.add_column(column, justify="left" if column == "policy" else "right", overflow="fold")
    for record in outcome.summary.to_dict("records"):
        level = record["service_target"]
        table.add_row(
            str(record["policy"]),
            "" if math.isnan(level) else f"{level:g}",
            f"{record['fill_rate']:.3f}",
            f"{record['stockout_rate']:.4f}",
            f"{record['turnover']:.1f}",
            f"{record['days_of_supply']:.1f}",
            f"{record['avg_inventory']:,.0f}",
            f"{record['total_cost']:,.0f}",
        )
    console.print(table)
    for row in outcome.versus_min_max.itertuples(index=False):
        console.print(
            f"{row.policy} @{row.service_target:g} vs min-max: stockout rate "
            f"{row.stockout_rate_change:+.0%}, turnover {row.turnover_change:+.0%}, average "
            f"inventory x{row.avg_inventory_ratio:.2f} -> bar (-60 %, +45 %, <= x1.00) "
            f"{'met' if row.meets_bar else 'not met'}"
        )
    for row in outcome.at_equal_inventory.itertuples(index=False):
        console.print(
            f"{row.policy} @{row.service_target:g} vs min-max @{row.min_max_target:g} at no more "
            f"average inventory (x{row.avg_inventory_ratio:.2f}): stockout rate "
            f"{row.stockout_rate_change:+.0%}, turnover {row.turnover_change:+.0%}"
        )


def simulate(
    sales: Annotated[Path, typer.Option("--sales", help="Sales history, CSV or Parquet.")],
    mapping: Annotated[
        str | None,
        typer.Option("--map", help="Column mapping, e.g. item_id=sku,store_id=location."),
    ] = None,
    weeks: Annotated[int, typer.Option(min=1, help="Held-out weeks to replay.")] = 8,
    review_days: Annotated[int, typer.Option(min=1, help="Days between reviews.")] = 7,
    service_target: Annotated[
        list[float] | None,
        typer.Option(help="Service target(s); repeat the option to sweep. Default 0.95."),
    ] = None,
    refit_every: Annotated[
        int, typer.Option(min=1, help="Refit the forecaster every N reviews.")
    ] = 4,
    seed: Annotated[int, typer.Option(min=0, help="Seed of the network around the data.")] = 0,
    out: Annotated[Path | None, typer.Option("--out", help="Directory for the results.")] = None,
) -> None:
    """Replay held-out demand through our policy, push and min-max; print and write the results."""
    from forecasting.data import SalesNote, load_sales, parse_mapping
    from forecasting.errors import ForecastingError

    targets = tuple(service_target or [0.95])
    outside = [target for target in targets if not 0.0 < target < 1.0]
    if outside:
        typer.echo(
            f"error: --service-target {outside[0]:g}: expected a level between 0 and 1", err=True
        )
        raise typer.Exit(code=2)
    if out is not None:
        _make_out(out)

    def say(message: str) -> None:
        typer.echo(message, err=True)

    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", SalesNote)
            frame = load_sales(sales, mapping=parse_mapping(mapping))
        for notice in caught:  # notes on how rows were read, in simulate's words
            if issubclass(notice.category, SalesNote):
                say(f"note: {for_simulate(str(notice.message))}")
            else:
                warnings.warn_explicit(
                    notice.message, notice.category, notice.filename, notice.lineno
                )
        if "region" not in frame.columns:
            raise SimulationError(
                f"{sales}: the replay network needs a region per location; map one to 'region'",
                source=str(sales),
                item="region",
            )
        outcome = run_simulation(
            frame,
            weeks=weeks,
            review_days=review_days,
            service_targets=targets,
            refit_every=refit_every,
            seed=seed,
            on_progress=say,
        )
    except (AllocationError, ForecastingError, OSError) as error:
        typer.echo(f"error: {for_simulate(str(error))}", err=True)
        raise typer.Exit(code=2) from None
    _print_outcome(outcome)
    if out is not None:
        try:
            for path in write_outcome(outcome, out):
                typer.echo(f"wrote {path}")
        except OSError as error:  # a full disk, a file locked by another program
            typer.echo(f"error: --out {out}: the results could not be written ({error})", err=True)
            raise typer.Exit(code=2) from None


def _make_out(out: Path) -> None:
    """The --out directory, made now, not after minutes of replays: a one-line error where the
    results could not be written (a file there, or where a parent folder should be)."""
    if out.exists() and not out.is_dir():
        typer.echo(f"error: --out {out}: a file is there; expected a directory", err=True)
        raise typer.Exit(code=2)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        typer.echo(f"error: --out {out}: cannot make this directory ({error.strerror})", err=True)
        raise typer.Exit(code=2) from None


def register(app: typer.Typer) -> None:
    """Add `simulate` to the top-level app."""
    app.command("simulate")(simulate)
