"""The function as one object: its settings, the model slot and the route table.

A request's path picks its route; a body's format picks the adapter that reads and answers it.

A route either answers by itself (the GET routes) or takes a body of some formats: then the body
is decoded once (serving/protocols/detect.py), its format's adapter reads it into an Inference,
the data plane predicts (serving/prediction.py), and the Inference answers in its own idiom.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from serving.errors import MethodNotAllowed, NotFound, RequestError, TooManyRows
from serving.exchange import Inference, Reply, Request
from serving.loading import LoadedModel, load_model
from serving.prediction import predict
from serving.protocols import (
    bigquery,
    csv_body,
    kserve_v1,
    mlflow,
    oip_v2,
    own_format,
    own_routes,
    row_inputs,
)
from serving.protocols.detect import FORMAT_KEYS, BodyFormat, Decoded, detect
from serving.protocols.model_name import check_name
from serving.settings import Settings
from serving.slot import LazySlot

Handler = Callable[[Request, Mapping[str, str], LazySlot[LoadedModel]], Reply]
Formats = tuple[BodyFormat, ...]
Parser = Callable[[Decoded, Request, LoadedModel], Inference]
GET = ("GET", "HEAD")
# Each body format's adapter: it reads the decoded body into an Inference, which answers.
ADAPTERS: dict[BodyFormat, Parser] = {
    "features": own_format.parse,
    "instances": own_format.parse,
    "inputs": row_inputs.parse,
    "tensors": oip_v2.parse,
    "dataframe_split": mlflow.parse,
    "dataframe_records": mlflow.parse,
    "calls": bigquery.parse,
    "csv": csv_body.parse,
}
ANY_BODY: Formats = ("csv", *FORMAT_KEYS)
MLFLOW_BODY: Formats = (
    "csv",
    "dataframe_split",
    "dataframe_records",
    "instances",
    "inputs",
)
_MODEL = r"/v2/models/(?P<name>[^/]+)(?:/versions/(?P<version>[^/]+))?"
# A page whose links are relative to it: with a trailing slash they would point elsewhere.
_PAGES = ("/docs",)


@dataclass(frozen=True)
class Route:
    """A path pattern, its methods, and either its handler or the body formats it takes."""

    pattern: re.Pattern[str]
    methods: tuple[str, ...]
    handler: Handler | None = None
    formats: Formats = ()

    @property
    def fixed(self) -> bool:
        """Whether the pattern is one path, with no parameter."""
        return re.escape(self.shown) == self.pattern.pattern

    @property
    def shown(self) -> str:
        """The pattern as the 404 lists it: /v2/models/{name}[/versions/{version}]."""
        shown = re.sub(r"\(\?P<(\w+)>[^)]*\)", r"{\1}", self.pattern.pattern)
        return shown.replace("(?:", "[").replace(")?", "]").replace("\\", "")


def _route(pattern: str, methods: tuple[str, ...], answer: Handler | Formats) -> Route:
    if isinstance(answer, tuple):
        return Route(re.compile(pattern), methods, formats=answer)
    return Route(re.compile(pattern), methods, handler=answer)


ROUTES = [
    _route("/", GET, own_routes.metadata),
    _route("/", ("POST",), ANY_BODY),
    # The path of the FastAPI service this replaces: clients move by changing the host.
    _route("/predict", ("POST",), ANY_BODY),
    _route("/docs", GET, own_routes.docs_page),
    _route("/health", GET, own_routes.health),
    _route("/invocations", ("POST",), MLFLOW_BODY),
    _route("/ping", GET, own_routes.health),
    _route("/version", GET, own_routes.version),
    _route(r"/assets/(?P<name>[^/]+)", GET, own_routes.web_asset),
    _route("/v1/models", GET, kserve_v1.models),
    _route(r"/v1/models/(?P<name>[^/:]+)", GET, kserve_v1.model_ready),
    _route(r"/v1/models/(?P<name>[^/:]+):predict", ("POST",), kserve_v1.FORMATS),
    _route("/v2", GET, oip_v2.server_metadata),
    _route("/v2/health/live", GET, oip_v2.live),
    _route("/v2/health/ready", GET, oip_v2.ready),
    _route(_MODEL, GET, oip_v2.model_metadata_route),
    _route(_MODEL + "/ready", GET, oip_v2.model_ready),
    _route(_MODEL + "/infer", ("POST",), ("tensors",)),
]


def routes(settings: Settings) -> list[Route]:
    """Every route, in the order they are matched: an operator's Vertex AI routes first."""
    operator = []
    if settings.vertex_predict_route:
        operator.append(_route(re.escape(settings.vertex_predict_route), ("POST",), ANY_BODY))
    if settings.vertex_health_route:
        operator.append(_route(re.escape(settings.vertex_health_route), GET, own_routes.health))
    return [*operator, *ROUTES]


class Endpoint:
    """The whole function: settings, the lazily loaded model and the routes."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.model: LazySlot[LoadedModel] = LazySlot(
            lambda: load_model(settings), retry_seconds=settings.model_retry_seconds
        )
        self.routes = routes(settings)
        # A path without parameters is looked up, not matched: most requests' paths are those.
        self._fixed: dict[str, list[Route]] = {}
        for route in self.routes:
            if route.fixed:
                self._fixed.setdefault(route.shown, []).append(route)
        self._patterns = [route for route in self.routes if not route.fixed]
        # The 404 lists the function's own routes, then the operator's.
        shown = dict.fromkeys(route.shown for route in (*ROUTES, *self.routes))
        self._listing = "; routes: " + ", ".join(shown)

    def answer(
        self,
        method: str,
        path: str,
        media_type: str,
        body: bytes,
        query: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> Reply:
        """Answer one request; raises the project's errors for anything that is not a 2xx.

        `headers` must read case-insensitively (the web framework's do), as HTTP says.
        """
        stripped = path.rstrip("/") or "/"
        if stripped != path and stripped in _PAGES and method in GET:
            return _redirect(stripped, len(path) - len(stripped))
        request = Request(method, stripped, media_type, body, query or {}, headers or {})
        allowed: list[str] = []
        for route in self._fixed.get(stripped, []) + self._patterns:
            found = route.pattern.fullmatch(request.path)
            if found is None:
                continue
            if request.method in route.methods:
                match = {k: v for k, v in found.groupdict().items() if v is not None}
                if route.handler is not None:
                    return route.handler(request, match, self.model)
                return self._infer(request, match, route.formats)
            allowed += [m for m in route.methods if m not in allowed]
        if allowed:
            raise MethodNotAllowed(request.method, tuple(allowed))
        raise NotFound(f"no route {request.path[:200]}{self._listing}")

    def _infer(self, request: Request, match: Mapping[str, str], formats: Formats) -> Reply:
        """A body's one way to the model: decoded once, read by its format's adapter,
        predicted by the data plane, answered in the format's idiom."""
        try:
            decoded = detect(request, formats, self.settings.max_rows)
        except TooManyRows as exc:
            # Refused while still bytes, before its format is known: a body naming "calls"
            # gets BigQuery's errorMessage, as its 400s do, for the SQL user to read.
            if "calls" in formats and b'"calls"' in request.body:
                bigquery.explain(exc)
            raise
        model = self.model.get()
        if "name" in match:
            check_name(model, match["name"], match.get("version"))
        try:
            inference = ADAPTERS[decoded.format](decoded, request, model)
            prediction = predict(
                model, inference.batch, inference.methods, self.settings.max_rows, inference.explain
            )
        except RequestError as exc:
            if decoded.format == "calls":
                bigquery.explain(exc)
            raise
        return inference.answer(prediction)

    @property
    def model_version(self) -> str | None:
        """The loaded model's version, None before it loads (never loads it), for log lines."""
        model = self.model.value
        return model.manifest.model_version if model else None


def _redirect(path: str, slashes: int) -> Reply:
    """A page asked for with trailing slashes: sent to its own path, relative to the one asked
    for (the function may be served under a prefix, as at cloudfunctions.net/NAME)."""
    location = "../" * slashes + path.rsplit("/", 1)[-1]
    return Reply(301, {"location": location}, headers={"Location": location})
