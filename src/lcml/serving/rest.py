"""REST scoring: MLflow's own scoring server for a registered model, with a batch limit (``lcml serve``).

``mlflow models serve`` gives no way to refuse a request that is too big to finish: 10,000 curves in
one request run into the server's 60-s timeout and the client learns only "504". ``lcml serve`` runs
the very same FastAPI app (:func:`mlflow.pyfunc.scoring_server.init`: same routes, same JSON and CSV
formats, same 400s for bad curves) behind a thin ASGI guard that answers **413** when a JSON request
holds more than ``max_curves`` curves or ``max_points`` points in all, naming the limit and what to
do instead. The model is loaded, and scores one synthetic curve, before the port opens, so the first
request costs what the others do.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any

#: Default limits of one request, sized so that it finishes well inside the scoring server's 60-s
#: timeout on 2 cores with the feature baseline (~13 curves/s at 300 points, ~4 at 1,500; see the README)
MAX_CURVES = 500
MAX_POINTS = 250_000

_TIME_COLUMNS = ("time", "mjd")
Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict]]
Send = Callable[[dict], Awaitable[None]]


def request_size(body: bytes) -> tuple[int, int] | None:
    """``(curves, points)`` of an MLflow JSON scoring request, or None when it is not one (MLflow then
    answers it as it would: its own parsing error, or the CSV and Parquet formats unchecked)."""
    try:
        payload = json.loads(body)
    except ValueError:
        return None
    if not isinstance(payload, dict):
        return None
    if isinstance(split := payload.get("dataframe_split"), dict):
        rows, columns = split.get("data") or [], split.get("columns") or []
        at = next((columns.index(c) for c in _TIME_COLUMNS if c in columns), None)
        times = [row[at] for row in rows if isinstance(row, list) and at is not None and at < len(row)]
    elif isinstance(records := payload.get("dataframe_records"), list):
        rows = records
        times = [next((r[c] for c in _TIME_COLUMNS if c in r), None) for r in rows if isinstance(r, dict)]
    elif isinstance(inputs := payload.get("inputs", payload.get("instances")), (list, dict)):
        rows = inputs if isinstance(inputs, list) else next(iter(inputs.values()), [])
        times = []
    else:
        return None
    return len(rows), sum(len(t) for t in times if isinstance(t, list))


class BatchLimit:
    """ASGI guard in front of MLflow's scoring app: 413 for ``POST /invocations`` above the limits."""

    def __init__(self, app: Callable, max_curves: int = MAX_CURVES, max_points: int = MAX_POINTS) -> None:
        self.app, self.max_curves, self.max_points = app, max_curves, max_points

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "POST" or scope["path"] != "/invocations":
            await self.app(scope, receive, send)
            return
        body, more = b"", True
        while more:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            body += message.get("body", b"")
            more = message.get("more_body", False)
        size = request_size(body)
        if size is not None and (reason := self.too_big(*size)):
            await _answer(send, 413, {"error_code": "REQUEST_TOO_LARGE", "message": reason})
            return
        replayed = False

        async def replay() -> dict:
            nonlocal replayed
            if replayed:  # the app waits for a disconnect once it has the body
                return await receive()
            replayed = True
            return {"type": "http.request", "body": body, "more_body": False}

        await self.app(scope, replay, send)

    def too_big(self, curves: int, points: int) -> str | None:
        """Why a request of ``curves`` curves and ``points`` points is refused, or None."""
        if curves > self.max_curves:
            what = f"{curves:,} curves, above the limit of {self.max_curves:,} per request"
        elif points > self.max_points:
            what = f"{points:,} points, above the limit of {self.max_points:,} per request"
        else:
            return None
        return (f"request holds {what}: send it as several requests, or score files with "
                "`lcml predict` (streaming) or `lcml predict --engine spark`")


async def _answer(send: Send, status: int, payload: dict) -> None:
    content = json.dumps(payload).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(content)).encode())]})
    await send({"type": "http.response.body", "body": content})


def scoring_app(model_uri: str, *, max_curves: int = MAX_CURVES, max_points: int = MAX_POINTS) -> BatchLimit:
    """MLflow's scoring app over the model at ``model_uri`` (loaded and warmed now), behind :class:`BatchLimit`."""
    from mlflow.pyfunc import scoring_server

    from lcml.serving.loader import load_model

    model = load_model(model_uri)  # the one loader: an unknown model or alias is one clear error
    return BatchLimit(scoring_server.init(model), max_curves=max_curves, max_points=max_points)


def serve(model_uri: str, *, host: str = "127.0.0.1", port: int = 5001, max_curves: int = MAX_CURVES,
          max_points: int = MAX_POINTS, timeout: int | None = None) -> None:
    """Serve ``model_uri`` on ``host:port`` until interrupted (one process; run several behind a proxy to scale).

    ``timeout``: seconds one request may take before MLflow's server answers 504 (its default: 60).
    """
    import os

    import uvicorn
    from mlflow.environment_variables import MLFLOW_SCORING_SERVER_REQUEST_TIMEOUT

    if timeout is not None:  # what MLflow's app reads when it is made
        os.environ[MLFLOW_SCORING_SERVER_REQUEST_TIMEOUT.name] = str(timeout)
    app = scoring_app(model_uri, max_curves=max_curves, max_points=max_points)
    uvicorn.run(app, host=host, port=port, log_level="info")
