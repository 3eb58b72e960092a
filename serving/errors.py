"""The one place where errors become HTTP answers, and the request body size limit.

Library errors are typed (forecasting.errors, allocation.errors) and carry the field or row at
fault; here they become 422 answers shaped like FastAPI's own validation errors
(`{"detail": [{"loc": [...], "msg": ..., "type": ...}]}`), so a client reads one format for
every bad input. Nothing a client sends should become a 500: a 500 is a bug of ours.

A busy service (the SQLite write lock or the queue of solves not free in time) is a 503 with
`Retry-After` and a JSON body: the request was fine, repeating it later will work.
"""

from __future__ import annotations

import json
import math
import sys
from typing import Any

from fastapi import FastAPI, HTTPException, Request, status
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ValidationError
from sqlalchemy.exc import OperationalError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from forecasting.errors import ForecastingError, NotFittedError, SalesValidationError
from serving.db import BUSY_RETRY_AFTER_SECONDS, BusyError

__all__ = [
    "BodySizeLimitMiddleware",
    "ErrorMessage",
    "ErrorResponse",
    "NotFoundError",
    "ServiceBusyError",
    "ServiceUnavailableError",
    "body_validation_error",
    "install_error_handlers",
    "unparsed_body",
    "validation_error",
]


class ErrorMessage(BaseModel):
    """Body of every non-422 error: what went wrong and, where it helps, how to fix it."""

    detail: str


class ErrorResponse(JSONResponse):
    """An error's JSON, ASCII only: text a client sent comes back in messages, and a lone
    surrogate in it ("\\ud800", valid JSON) cannot be written as UTF-8 (it was a 500); escaped,
    every character survives and clients decode it as they would the raw one."""

    def render(self, content: Any) -> bytes:
        return json.dumps(
            content, ensure_ascii=True, allow_nan=False, separators=(",", ":")
        ).encode()


class NotFoundError(LookupError):
    """What the request names does not exist: 404 with the message."""


class ServiceUnavailableError(RuntimeError):
    """Something the service needs is missing (no champion model): 503, not the client's fault."""


class ServiceBusyError(BusyError):
    """Too much work queued (solves waiting for a slot)."""


def busy_answer(message: str, retry_after: int) -> ErrorResponse:
    """503 with Retry-After: the request was fine, the service had no room for it now."""
    return ErrorResponse(
        status_code=status.HTTP_503_SERVICE_UNAVAILABLE,
        content={"detail": message},
        headers={"Retry-After": str(retry_after)},
    )


def _busy(_request: Request, error: Exception) -> ErrorResponse:
    assert isinstance(error, BusyError)
    return busy_answer(str(error), error.retry_after)


def _operational(request: Request, error: Exception) -> ErrorResponse:
    # SQLite's own lock timed out (a writer of another process held it past the busy timeout).
    # Any other operational failure is ours to fix: let it be the 500 it is.
    assert isinstance(error, OperationalError)
    text = str(error.orig).lower()
    if "database is locked" in text or "database table is locked" in text:
        return busy_answer(
            "the database is busy (locked by another writer); repeat the request later",
            BUSY_RETRY_AFTER_SECONDS,
        )
    raise error


def body_validation_error(error: ValidationError) -> RequestValidationError:
    """A body validated by pydantic itself, as the 422 FastAPI gives for a body it validated.

    An error about the whole body (bad JSON, not an object) does not echo the body back.
    """
    items = []
    for item in error.errors(include_url=False):
        shown: dict[str, Any] = {**item, "loc": ("body", *item["loc"])}
        if not item["loc"]:
            shown.pop("input", None)
        items.append(shown)
    return RequestValidationError(items)


ECHO_DEPTH = 4  # levels of a client's input a 422 echoes back
ECHO_ITEMS = 20  # entries per list or object it echoes back
ECHO_ERRORS = 100  # errors a 422 lists: 150,000 bad rows answered 17 MB, more than was sent


def _echoed(value: Any, depth: int = 0) -> Any:
    """What a 422 echoes back of a client's input: JSON-safe (an infinite or NaN float as its
    text, "inf", "nan": JSON has no such numbers) and bounded (ECHO_DEPTH levels, ECHO_ITEMS
    entries each, the rest named), so that a deeply nested or huge body can neither turn the
    answer into a 500 nor into a copy of itself."""
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if not isinstance(value, dict | list | tuple):
        return value
    if depth >= ECHO_DEPTH:
        return f"<{len(value)} entries, nested too deep to echo>"
    entries = list(value.items()) if isinstance(value, dict) else list(enumerate(value))
    shown = {key: _echoed(item, depth + 1) for key, item in entries[:ECHO_ITEMS]}
    more = len(entries) - ECHO_ITEMS
    if isinstance(value, dict):
        return shown | ({"...": f"{more} more entries"} if more > 0 else {})
    return list(shown.values()) + ([f"... {more} more entries"] if more > 0 else [])


def _request_validation(_request: Request, error: Exception) -> ErrorResponse:
    """FastAPI's 422 for a body it could not validate, the inputs it echoes JSON-safe and
    bounded (`_echoed`), the first ECHO_ERRORS errors and a count of the rest."""
    assert isinstance(error, RequestValidationError)
    errors = error.errors()
    items = [
        {key: _echoed(value) if key in ("input", "ctx") else value for key, value in item.items()}
        for item in errors[:ECHO_ERRORS]
    ]
    if len(errors) > ECHO_ERRORS:
        more = len(errors) - ECHO_ERRORS
        message = f"{more} more errors not listed; mend the ones above and send again"
        items.append({"loc": ["body"], "msg": message, "type": "more_errors"})
    return ErrorResponse(
        status_code=status.HTTP_422_UNPROCESSABLE_CONTENT,
        content={"detail": jsonable_encoder(items)},
    )


def validation_error(loc: list[str | int], message: str, kind: str, **extra: Any) -> ErrorResponse:
    """A 422 answer in FastAPI's validation-error shape, with extra keys for the named fields."""
    item: dict[str, Any] = {"loc": loc, "msg": message, "type": kind, **extra}
    return ErrorResponse(
        status_code=status.HTTP_422_UNPROCESSABLE_CONTENT, content={"detail": [item]}
    )


# Hints of the sales checks that name options of `allocast train` and `forecast` (--freq), which
# an API client does not have, and what one can do instead: the service keeps daily sales.
_API_HINTS = (
    (
        ", or forecast weekly or monthly totals with --freq W or MS",
        ": the service keeps daily sales, and weekly or monthly totals cannot be stored",
    ),
    (
        "if they are weekly totals, forecast them in a file of their own with --freq W",
        "if they are weekly totals, the service cannot store them: send daily sales",
    ),
)


def replace_hints(message: str, hints: tuple[tuple[str, str], ...]) -> str:
    """`message` with each hint `hints` names (the CLI's words) replaced by its own (what a user
    of another entry point, the API or simulate, can do)."""
    for theirs, ours in hints:
        message = message.replace(theirs, ours)
    return message


def for_api(message: str) -> str:
    """A sales check's message (an error or a note) in an API client's words (`_API_HINTS`)."""
    return replace_hints(message, _API_HINTS)


def _sales_error(_request: Request, error: Exception) -> ErrorResponse:
    assert isinstance(error, SalesValidationError)
    loc: list[str | int] = ["body", error.source]
    if error.rows:  # an index from 0, as in FastAPI's locs; `rows` counts from 1, as the message
        loc.append(error.rows[0] - 1)
    if error.column:
        loc.append(error.column)
    return validation_error(
        loc,
        for_api(str(error)),
        "sales_validation",
        source=error.source,
        column=error.column,
        rows=error.rows,
    )


def _forecasting_error(_request: Request, error: Exception) -> ErrorResponse:
    return validation_error(["body"], str(error), "forecasting")


def _not_found(_request: Request, error: Exception) -> ErrorResponse:
    return ErrorResponse(status_code=status.HTTP_404_NOT_FOUND, content={"detail": str(error)})


def _not_fitted(_request: Request, error: Exception) -> ErrorResponse:
    return ErrorResponse(status_code=503, content={"detail": str(error)})


def _unavailable(_request: Request, error: Exception) -> ErrorResponse:
    return ErrorResponse(status_code=503, content={"detail": str(error)})


def _allocation_handlers() -> dict[type[Exception], Any]:
    from allocation.errors import AllocationError, AllocationInputError, SolverError

    def input_error(_request: Request, error: Exception) -> ErrorResponse:
        assert isinstance(error, AllocationInputError)
        # The body field, then the item and its field: ["body", "stock", "S@CW", "arrival_date"];
        # a field that is the body field itself is said once (["body", "today"], not twice).
        loc: list[str | int] = ["body", error.source]
        if error.item:
            loc.append(error.item)
        if error.field and error.field != error.source:
            loc.append(error.field)
        return validation_error(
            loc,
            str(error),
            "allocation_input",
            source=error.source,
            field=error.field,
            item=error.item,
        )

    def solver_error(_request: Request, error: Exception) -> ErrorResponse:
        # The solver could not plan with what was sent (infeasible, time limit): the inputs say why.
        return validation_error(["body"], str(error), "allocation_solver")

    def other(_request: Request, error: Exception) -> ErrorResponse:
        return validation_error(["body"], str(error), "allocation")

    return {AllocationInputError: input_error, SolverError: solver_error, AllocationError: other}


def _http_error(_request: Request, error: Exception) -> ErrorResponse:
    """FastAPI's answer to an HTTPException (our 4xx, Starlette's 404 and 405), ASCII-safe."""
    assert isinstance(error, StarletteHTTPException)
    detail = error.detail
    if error.status_code == status.HTTP_400_BAD_REQUEST and error.__cause__ is not None:
        detail = unparsed_body(error.__cause__) or detail
    return ErrorResponse(
        status_code=error.status_code, content={"detail": detail}, headers=error.headers
    )


def unparsed_body(cause: BaseException) -> str | None:
    """What FastAPI's bare 400 "There was an error parsing the body" meant, where we can say:
    bytes that are not UTF-8 (where), JSON nested deeper than Python's parser recurses, or a
    number with more digits than Python converts."""
    if isinstance(cause, UnicodeDecodeError):
        bad = cause.object[cause.start : cause.end]
        return (
            f"the body is not UTF-8: byte(s) {bad.hex(' ')} at position {cause.start} "
            f"({cause.reason}); send JSON encoded as UTF-8"
        )
    if isinstance(cause, RecursionError):
        return "the body's JSON is nested too deep to parse; send a flatter body"
    if isinstance(cause, ValueError) and "integer string conversion" in str(cause):
        return (
            f"a number in the body has more than {sys.get_int_max_str_digits()} digits, "
            "more than any quantity, amount or id holds; send it as written in the data"
        )
    return None


def install_error_handlers(app: FastAPI) -> None:
    """Map every typed library error to its answer (the most specific class wins)."""
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(RequestValidationError, _request_validation)
    app.add_exception_handler(SalesValidationError, _sales_error)
    app.add_exception_handler(NotFittedError, _not_fitted)
    app.add_exception_handler(ForecastingError, _forecasting_error)
    app.add_exception_handler(ServiceUnavailableError, _unavailable)
    app.add_exception_handler(NotFoundError, _not_found)
    app.add_exception_handler(BusyError, _busy)  # the database's write lock, the solve slots
    app.add_exception_handler(OperationalError, _operational)
    for error_type, handler in _allocation_handlers().items():
        app.add_exception_handler(error_type, handler)
    try:
        from serving.model_store import ModelUnavailableError
    except ImportError:  # pragma: no cover - the model store is part of the package
        return
    app.add_exception_handler(ModelUnavailableError, _unavailable)


class BodySizeLimitMiddleware:
    """Refuses request bodies over `max_bytes` with 413, by Content-Length or while streaming."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        for name, value in scope.get("headers", ()):
            if name == b"content-length":
                try:
                    declared = int(value)
                except ValueError:
                    declared = -1
                if declared < 0 or declared > self.max_bytes:
                    await self._refuse(send, declared)
                    return
        received = 0

        async def limited() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    # FastAPI re-raises an HTTPException met while reading the body as it is.
                    raise HTTPException(status.HTTP_413_CONTENT_TOO_LARGE, self._text(received))
            return message

        await self.app(scope, limited, send)

    def _text(self, size: int) -> str:
        shown = "an invalid Content-Length" if size < 0 else f"{size} bytes"
        return (
            f"request body of {shown} is over the limit of {self.max_bytes} bytes "
            "(ALLOCAST_MAX_BODY_BYTES); send the data in smaller batches"
        )

    async def _refuse(self, send: Send, size: int) -> None:
        response = JSONResponse(status_code=413, content={"detail": self._text(size)})
        await send(
            {
                "type": "http.response.start",
                "status": 413,
                "headers": [(k.encode(), v.encode()) for k, v in response.headers.items()],
            }
        )
        await send({"type": "http.response.body", "body": response.body})
