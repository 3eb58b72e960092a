"""Forecasts: the champion model's forecast of the stored sales, filtered, for planners."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

import pandas as pd
from fastapi import APIRouter, HTTPException, Query, status
from pydantic import BaseModel, Field

from forecasting.columns import DATE, FORECAST, LOCATION, REGION, SKU, quantile_column
from serving.deps import PlannerDep, SessionDep
from serving.errors import ErrorMessage
from serving.forecast_service import (
    ForecastCacheDep,
    ForecastQuery,
    NoSalesError,
    UnknownQuantileError,
    forecast_stored_sales,
    horizon_note,
)
from serving.model_store import ModelStoreDep
from serving.schemas import (
    MAX_FILTER_VALUES,
    MAX_PAGE,
    Digits,
    HorizonQuery,
    Id,
    OffsetQuery,
)

router = APIRouter(prefix="/v1/forecasts", tags=["forecasts"])

MAX_FORECAST_PAGE = 20 * MAX_PAGE  # forecast rows per page (one series x horizon is many rows)


class ForecastRow(BaseModel):
    """Units expected of a SKU at a location on a day: the mean and the requested quantiles.

    `quantiles` is keyed by the forecast contract's column names (`q0.5`, `q0.9`, ...), the
    same shape `POST /v1/allocations` takes as `demand`.
    """

    sku: str
    location: str
    region: str | None
    date: dt.date
    forecast: float
    quantiles: dict[str, float]


class ForecastsPublic(BaseModel):
    """A page of forecast rows and the model version that produced them."""

    model_name: str
    model_version: str
    run_id: str
    horizon: int  # days forecast after `history_end`
    trained_horizon: int  # days ahead the model was backtested and calibrated for
    note: str | None  # what a horizon past the trained one means for the quantiles
    history_end: dt.date  # last day of the stored sales the forecast starts after
    quantiles: list[float]
    data: list[ForecastRow]
    count: int  # rows matching the query, over all pages


def _rows(page: pd.DataFrame, columns: list[str]) -> list[ForecastRow]:
    """Forecast frame rows (dates as `datetime.date`) to response rows, quantiles keyed."""
    rows = []
    for record in page.to_dict(orient="records"):
        region = record[REGION]
        rows.append(
            ForecastRow(
                sku=str(record[SKU]),
                location=str(record[LOCATION]),
                region=region if isinstance(region, str) else None,
                date=record[DATE],
                forecast=float(record[FORECAST]),
                quantiles={column: float(record[column]) for column in columns},
            )
        )
    return rows


@router.get(
    "",
    response_model=ForecastsPublic,
    responses={
        status.HTTP_409_CONFLICT: {"model": ErrorMessage, "description": "no stored sales"},
        status.HTTP_503_SERVICE_UNAVAILABLE: {
            "model": ErrorMessage,
            "description": "no champion model loaded",
        },
    },
)
def read_forecasts(
    session: SessionDep,
    model_store: ModelStoreDep,
    cache: ForecastCacheDep,
    _principal: PlannerDep,
    sku: Annotated[
        list[Id] | None, Query(max_length=MAX_FILTER_VALUES, description="SKUs to include")
    ] = None,
    location: Annotated[
        list[Id] | None,
        Query(max_length=MAX_FILTER_VALUES, description="locations to include"),
    ] = None,
    region: Annotated[
        list[Id] | None, Query(max_length=MAX_FILTER_VALUES, description="regions to include")
    ] = None,
    horizon: HorizonQuery = 28,
    quantile: Annotated[
        list[Annotated[float, Field(gt=0, lt=1, allow_inf_nan=False)]] | None,
        Query(max_length=20, description="quantile levels, e.g. 0.9 (default: all the model has)"),
    ] = None,
    offset: OffsetQuery = 0,
    limit: Annotated[
        int, Query(ge=1, le=MAX_FORECAST_PAGE, description="rows to return at most"), Digits
    ] = MAX_FORECAST_PAGE,
) -> ForecastsPublic:
    """Forecast the stored sales of the matching series (all series when no filter is given).

    Rows are ordered by SKU, location and date. Repeated reads are answered from a cache until
    new sales are ingested or another champion is promoted.
    """
    query = ForecastQuery(
        horizon=horizon,
        skus=tuple(sorted(set(sku or ()))),
        locations=tuple(sorted(set(location or ()))),
        regions=tuple(sorted(set(region or ()))),
        quantiles=None if not quantile else tuple(sorted(set(quantile))),
    )
    try:
        result = forecast_stored_sales(session, model_store, cache, query)
    except NoSalesError as error:
        raise HTTPException(status.HTTP_409_CONFLICT, str(error)) from None
    except UnknownQuantileError as error:
        detail = [{"loc": ["query", "quantile"], "msg": str(error), "type": "unknown_quantile"}]
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, detail) from None
    page = result.frame.iloc[offset : offset + limit]
    columns = [quantile_column(level) for level in result.quantiles]
    return ForecastsPublic(
        model_name=result.model_name,
        model_version=result.model_version,
        run_id=result.run_id,
        horizon=horizon,
        trained_horizon=result.trained_horizon,
        note=horizon_note(horizon, result.trained_horizon),
        history_end=result.history_end,
        quantiles=list(result.quantiles),
        data=_rows(page, columns),
        count=len(result.frame),
    )
