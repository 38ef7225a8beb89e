"""Every path the function serves, mapped to its handler: dispatch on the path first."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from serving.errors import MethodNotAllowed, NotFound
from serving.exchange import Call, Host, Reply
from serving.protocols import formats, kserve_v1, oip_v2
from serving.protocols.detect import FORMAT_KEYS, detect
from serving.settings import Settings

Handler = Callable[[Host, Call, dict[str, str]], Reply]
GET = ("GET", "HEAD")
MLFLOW_KEYS = ("dataframe_split", "dataframe_records", "instances", "inputs")
_MODEL = r"/v2/models/(?P<name>[^/]+)(?:/versions/(?P<version>[^/]+))?"


@dataclass(frozen=True)
class Route:
    """A path pattern, the methods it accepts and what answers it."""

    pattern: re.Pattern[str]
    methods: tuple[str, ...]
    handler: Handler


def any_body(host: Host, call: Call, match: dict[str, str]) -> Reply:
    """POST of any supported body (JSON by its keys, or CSV): the base URL and Vertex's route."""
    return answer_call(host, call, FORMAT_KEYS)


def invocations(host: Host, call: Call, match: dict[str, str]) -> Reply:
    """MLflow's POST /invocations: its four JSON formats, or CSV."""
    return answer_call(host, call, MLFLOW_KEYS)


def answer_call(host: Host, call: Call, accepted: tuple[str, ...]) -> Reply:
    """CSV by its media type; JSON by its keys, limited to the formats this path accepts."""
    body = detect(call, accepted, host.settings.max_rows, csv=True)
    return formats.answer(host.model.get(), body, call.query, host.settings.max_rows)


def version(host: Host, call: Call, match: dict[str, str]) -> Reply:
    """MLflow's GET /version, answered with the served model's version."""
    return Reply(200, {"version": host.model.get().manifest.model_version})


def docs_page(host: Host, call: Call, match: dict[str, str]) -> Reply:
    """GET /docs: interactive API docs (serving/docs.py, imported only when asked for)."""
    from serving import docs

    return docs.page()


def web_asset(host: Host, call: Call, match: dict[str, str]) -> Reply:
    """GET /assets/{name}: the card's and the docs' own files, served by the function."""
    from serving import docs

    return docs.asset(match["name"])


class Router:
    """Matches a path to a route; 404 lists the paths, 405 the methods."""

    def __init__(self, settings: Settings, metadata: Handler, health: Handler) -> None:
        routes: list[tuple[str, tuple[str, ...], Handler]] = []
        if settings.vertex_predict_route:
            routes.append((re.escape(settings.vertex_predict_route), ("POST",), any_body))
        if settings.vertex_health_route:
            routes.append((re.escape(settings.vertex_health_route), GET, health))
        routes += [
            ("/", GET, metadata),
            ("/", ("POST",), any_body),
            # The path of the FastAPI service this replaces: clients move by changing the host.
            ("/predict", ("POST",), any_body),
            ("/health", GET, health),
            ("/ping", GET, health),
            ("/version", GET, version),
            ("/docs", GET, docs_page),
            (r"/assets/(?P<name>[^/]+)", GET, web_asset),
            ("/invocations", ("POST",), invocations),
            ("/v1/models", GET, kserve_v1.models),
            (r"/v1/models/(?P<name>[^/:]+)", GET, kserve_v1.model_ready),
            (r"/v1/models/(?P<name>[^/:]+):predict", ("POST",), kserve_v1.predict),
            ("/v2", GET, oip_v2.server_metadata),
            ("/v2/health/live", GET, oip_v2.live),
            ("/v2/health/ready", GET, oip_v2.ready),
            (_MODEL, GET, oip_v2.model_metadata_route),
            (_MODEL + "/ready", GET, oip_v2.model_ready),
            (_MODEL + "/infer", ("POST",), oip_v2.infer_route),
        ]
        self.routes = [Route(re.compile(p), m, h) for p, m, h in routes]

    def dispatch(self, host: Host, call: Call) -> Reply:
        allowed: list[str] = []
        for route in self.routes:
            found = route.pattern.fullmatch(call.path)
            if found is None:
                continue
            if call.method in route.methods:
                match = {k: v for k, v in found.groupdict().items() if v is not None}
                return route.handler(host, call, match)
            allowed += [m for m in route.methods if m not in allowed]
        if allowed:
            raise MethodNotAllowed(call.method, tuple(allowed))
        raise NotFound(
            f"no route {call.path[:200]}; routes: /, /predict, /docs, /health, /invocations, "
            "/ping, /version, "
            "/v1/models/{name}[:predict], /v2/health/{live,ready}, "
            "/v2/models/{name}[/versions/{version}][/ready|/infer]"
        )
