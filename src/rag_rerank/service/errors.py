"""Error responses that cannot themselves fail: every error is JSON, none echoes unsafe input.

* A strict JSON body parser (:class:`StrictJSONRoute`): ``NaN``, ``Infinity`` and numbers out
  of the float range (``1e400``) are rejected as invalid JSON (422), instead of reaching
  validation as non-finite floats that no JSON response can carry.
* Validation errors (422) list each field's location, message and error type, never the
  offending input (it may be a non-finite float or an unencodable string).
* The library's typed errors map to statuses: ``InvalidInputError`` 422,
  ``OverloadedError`` 503 with ``Retry-After``, ``DeadlineExceededError`` 504.
* Anything unexpected is a JSON 500 naming an error id that the log also carries.
"""

from __future__ import annotations

import json
import logging
import math
import uuid
from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import FastAPI, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from starlette.exceptions import HTTPException as StarletteHTTPException

from rag_core import DeadlineExceededError, InvalidInputError, OverloadedError

__all__ = [
    "ClientDisconnectedError",
    "StrictJSONRoute",
    "error_response",
    "install_error_handlers",
    "overloaded_response",
    "strict_json_loads",
]

logger = logging.getLogger("app")


class ClientDisconnectedError(Exception):
    """The client went away while its request was waiting; its work was cancelled."""


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a valid JSON number")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"number {text[:40]} is outside the range of a 64-bit float")
    return value


def strict_json_loads(body: bytes | str) -> Any:
    """``json.loads`` that refuses ``NaN``, ``Infinity`` and out-of-range numbers.

    Any parsing problem (invalid UTF-8, a huge integer, ...) is raised as
    :class:`json.JSONDecodeError`, which FastAPI answers with a 422 ``json_invalid``.
    """
    try:
        return json.loads(body, parse_constant=_reject_constant, parse_float=_finite_float)
    except json.JSONDecodeError:
        raise
    except (ValueError, RecursionError) as exc:  # UnicodeDecodeError is a ValueError
        text = body if isinstance(body, str) else ""
        raise json.JSONDecodeError(str(exc)[:200], text, 0) from None


class _StrictJSONRequest(Request):
    async def json(self) -> Any:
        if not hasattr(self, "_json"):
            self._json = strict_json_loads(await self.body())
        return self._json


class StrictJSONRoute(APIRoute):
    """An ``APIRoute`` whose JSON bodies go through :func:`strict_json_loads`."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def strict_handler(request: Request) -> Response:
            return await handler(_StrictJSONRequest(request.scope, request.receive))

        return strict_handler


def _safe(value: Any) -> Any:
    """A JSON-safe rendering of an error's location or context (no floats, no surrogates)."""
    if isinstance(value, (list, tuple)):
        return [_safe(v) for v in value]
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    return str(value).encode("utf-8", "replace").decode("utf-8")[:200]


def _validation_errors(exc: RequestValidationError) -> list[dict[str, Any]]:
    out = []
    for error in exc.errors():
        item = {
            "loc": _safe(error.get("loc", ())),
            "msg": _safe(error.get("msg", "")),
            "type": _safe(error.get("type")),
        }
        ctx = error.get("ctx") or {}
        if error.get("type") == "json_invalid" and "error" in ctx:
            item["msg"] = f"invalid JSON: {_safe(ctx['error'])}"
        out.append(item)
    return out


def _summary(errors: list[dict[str, Any]]) -> str:
    parts = []
    for error in errors[:5]:
        loc = ".".join(str(p) for p in error["loc"] if p != "body") or "body"
        parts.append(f"{loc}: {error['msg']}")
    more = f" (+{len(errors) - 5} more)" if len(errors) > 5 else ""
    return "; ".join(parts) + more


#: Paths whose clients expect Hugging Face TEI's error shape (``error``, ``error_type``) too.
TEI_PATHS = frozenset({"/rerank"})
_TEI_TYPES = {413: "Validation", 422: "Validation", 400: "Validation", 429: "Overloaded", 503: "Overloaded"}


def error_response(
    request: Request | None,
    status_code: int,
    message: str,
    detail: Any = None,
    headers: dict[str, str] | None = None,
    **extra: Any,
) -> JSONResponse:
    """The JSON error body every handler sends: ``detail`` (FastAPI's field), ``message`` (Cohere's),
    and on TEI paths ``error`` / ``error_type``."""
    body: dict[str, Any] = {"detail": message if detail is None else detail, "message": message, **extra}
    if request is not None and request.url.path in TEI_PATHS:
        body["error"] = message
        body["error_type"] = _TEI_TYPES.get(status_code, "Backend" if status_code >= 500 else "Validation")
    return JSONResponse(body, status_code=status_code, headers=headers)


def install_error_handlers(app: FastAPI) -> None:
    """Register the handlers described in the module docstring on ``app``."""

    @app.exception_handler(RequestValidationError)
    async def validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = _validation_errors(exc)
        return error_response(request, 422, _summary(errors), errors)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        detail = exc.detail if isinstance(exc.detail, str) else _safe(exc.detail)
        return error_response(request, exc.status_code, str(detail), detail, getattr(exc, "headers", None))

    @app.exception_handler(InvalidInputError)
    async def invalid_input(request: Request, exc: InvalidInputError) -> JSONResponse:
        return error_response(request, 422, _safe(str(exc)))

    @app.exception_handler(OverloadedError)
    async def overloaded(request: Request, exc: OverloadedError) -> JSONResponse:
        return overloaded_response(exc, request)

    @app.exception_handler(DeadlineExceededError)
    async def deadline(request: Request, exc: DeadlineExceededError) -> JSONResponse:
        return error_response(request, 504, str(exc))

    @app.exception_handler(ClientDisconnectedError)
    async def disconnected(request: Request, exc: ClientDisconnectedError) -> JSONResponse:
        # nobody reads this: the client is gone (499 is nginx's "client closed request")
        return JSONResponse({"detail": "client closed the request"}, status_code=499)

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> JSONResponse:
        error_id = uuid.uuid4().hex[:12]
        logger.exception("unexpected error %s on %s %s", error_id, request.method, request.url.path)
        return error_response(request, 500, f"internal error (id {error_id}); the server log has the details")


def overloaded_response(exc: OverloadedError, request: Request | None = None) -> JSONResponse:
    """503 with ``Retry-After`` (whole seconds), which Cohere clients honour."""
    retry = max(1, math.ceil(exc.retry_after_s))
    return error_response(request, 503, str(exc), headers={"Retry-After": str(retry)}, retry_after_s=retry)
