"""A small stdlib HTTP fake of the Google APIs that `gcloud functions|run deploy` call.

It records every request (method, path, query, JSON or raw body) so a test can assert what
gcloud actually sent. It answers just enough of Cloud Functions v2, Service Usage, Cloud
Resource Manager, Cloud Build, Artifact Registry and Cloud Run (v1 and v2) for a deploy to
finish, and (tests/support/fake_data_apis.py) the BigQuery, Connection and Logging calls of `bq`
and `gcloud logging sinks`. Source uploads (the signed URL of `generateUploadUrl`) land in
`uploads`. Storage is not faked here: tests use fake-gcs-server for it. Binds to 127.0.0.1
only.

Cloud Run services behave like knative ones: a changed revision template is a new revision,
`spec.traffic` is resolved into `status.traffic` (tags get URLs; `tag_urls` can point one at a
local server). A gen2 function owns its Cloud Run service (same name): every create or update
writes a new revision whose template comes only from serviceConfig, so an annotation set
through Cloud Run (startup CPU boost) is not carried over; traffic moves to it only with
allTrafficOnLatestRevision (or on create).
"""

from __future__ import annotations

import json
import re
import threading
from dataclasses import dataclass, field
from http.server import ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from tests.support import fake_data_apis
from tests.support.fake_data_apis import DataState
from tests.support.servers import JsonHandler

PROJECT_NUMBER = "123456789012"

# The API names gcloud accepts in CLOUDSDK_API_ENDPOINT_OVERRIDES_<API>, mapped to the
# path prefix this fake serves them under.
API_PREFIXES = {
    "CLOUDFUNCTIONS": "cloudfunctions",
    "SERVICEUSAGE": "serviceusage",
    "CLOUDRESOURCEMANAGER": "cloudresourcemanager",
    "CLOUDBUILD": "cloudbuild",
    "ARTIFACTREGISTRY": "artifactregistry",
    "RUN": "run",
    "IAM": "iam",
    "LOGGING": "logging",
}


@dataclass
class RecordedRequest:
    """One request as the fake received it."""

    method: str
    path: str
    query: dict[str, list[str]]
    body: bytes
    headers: dict[str, str]

    @property
    def json(self) -> Any:
        """The body parsed as JSON (None when empty)."""
        return json.loads(self.body) if self.body else None


@dataclass
class FakeState:
    """What the fake knows: deployed functions and services, uploads, IAM bindings."""

    requests: list[RecordedRequest] = field(default_factory=list)
    functions: dict[str, dict[str, Any]] = field(default_factory=dict)
    services: dict[str, dict[str, Any]] = field(default_factory=dict)
    uploads: dict[str, bytes] = field(default_factory=dict)
    iam_policies: dict[str, dict[str, Any]] = field(default_factory=dict)
    # Revision names per service key ("namespace/name"), oldest first.
    revisions: dict[str, list[str]] = field(default_factory=dict)
    # Each revision's template, by revision name.
    revision_templates: dict[str, dict[str, Any]] = field(default_factory=dict)
    functions_deploys: list[str] = field(default_factory=list)
    # Where a traffic tag's URL points (tag -> URL), e.g. a local server for health checks.
    tag_urls: dict[str, str] = field(default_factory=dict)
    # BigQuery, BigQuery Connection and Cloud Logging (tests/support/fake_data_apis.py).
    data: DataState = field(default_factory=DataState)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def put_service(self, key: str, service: dict[str, Any]) -> dict[str, Any]:
        """Store a knative Service like Cloud Run does: a changed template is a new revision.

        A revision's name is the template's metadata.name when the client set one (gcloud
        does for --tag and --no-traffic), else NAME-0000N-xyz. `spec.traffic` entries with
        latestRevision follow the newest revision; tagged entries get their own URL.
        """
        namespace, name = key.split("/", 1)
        with self.lock:
            previous = self.services.get(key)
            revisions = self.revisions.setdefault(key, [])
            template = service["spec"]["template"]
            if previous is None or _without_name(template) != _without_name(
                previous["spec"]["template"]
            ):
                given = template.get("metadata", {}).get("name")
                revisions.append(given or f"{name}-{len(revisions) + 1:05d}-xyz")
                self.revision_templates[revisions[-1]] = template
            generation = (previous or {}).get("metadata", {}).get("generation", 0) + 1
            service["metadata"].update(
                {"generation": generation, "namespace": namespace, "uid": "fake-uid"}
            )
            traffic = service["spec"].get("traffic") or [{"latestRevision": True, "percent": 100}]
            service["spec"]["traffic"] = traffic
            url = f"https://{name}-{PROJECT_NUMBER}.us-central1.run.app"
            service["status"] = {
                "observedGeneration": generation,
                "url": url,
                "address": {"url": url},
                "latestCreatedRevisionName": revisions[-1],
                "latestReadyRevisionName": revisions[-1],
                "traffic": [self._traffic_status(entry, name, revisions[-1]) for entry in traffic],
                "conditions": [
                    {"type": condition, "status": "True"}
                    for condition in ("Ready", "ConfigurationsReady", "RoutesReady")
                ],
            }
            self.services[key] = service
            return service

    def _traffic_status(self, entry: dict[str, Any], name: str, latest: str) -> dict[str, Any]:
        status = {**entry}
        if entry.get("latestRevision"):
            status["revisionName"] = latest
        tag = entry.get("tag")
        if tag:
            default = f"https://{tag}---{name}-{PROJECT_NUMBER}.us-central1.run.app"
            status["url"] = self.tag_urls.get(tag, default)
        return status


def _without_name(template: dict[str, Any]) -> dict[str, Any]:
    """A revision template without its name: what decides whether a new revision is made."""
    metadata = {k: v for k, v in template.get("metadata", {}).items() if k != "name"}
    return {**template, "metadata": metadata}


def _done_operation(name: str, response: dict[str, Any] | None = None) -> dict[str, Any]:
    """A finished long-running operation; gcloud's GCF v2 poller needs metadata.stages."""
    return {
        "name": name,
        "done": True,
        "metadata": {
            "@type": "type.googleapis.com/google.cloud.functions.v2.OperationMetadata",
            "stages": [{"name": "BUILD", "state": "COMPLETE"}],
        },
        "response": response or {},
    }


class _Handler(JsonHandler):
    server: _Server
    protocol_version = "HTTP/1.1"

    def _record(self) -> RecordedRequest:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        parts = urlsplit(self.path)
        recorded = RecordedRequest(
            method=self.command,
            path=parts.path,
            query=parse_qs(parts.query),
            body=body,
            headers={key.lower(): value for key, value in self.headers.items()},
        )
        with self.server.state.lock:
            self.server.state.requests.append(recorded)
        return recorded

    def _handle(self) -> None:
        request = self._record()
        status, payload = self.server.route(request)
        self.reply_json(status, payload)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _handle


def _not_found(what: str) -> tuple[int, dict[str, Any]]:
    return 404, {"error": {"code": 404, "message": f"{what} not found", "status": "NOT_FOUND"}}


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, state: FakeState) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.state = state

    @property
    def base_url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host}:{port}"

    def route(self, request: RecordedRequest) -> tuple[int, Any]:
        """Answer one request; unknown paths get a 404 the test will notice."""
        api, _, rest = request.path.lstrip("/").partition("/")
        if api == "$discovery":
            return fake_data_apis.discovery(request.query["version"][0], f"{self.base_url}/")
        handler = getattr(self, f"_api_{api}", None)
        if handler is None:
            return _not_found(request.path)
        return handler(request, "/" + rest)

    def _api_upload(self, request: RecordedRequest, rest: str) -> tuple[int, Any]:
        with self.state.lock:
            self.state.uploads[rest] = request.body
        return 200, {}

    def _api_cloudfunctions(self, request: RecordedRequest, rest: str) -> tuple[int, Any]:
        state = self.state
        if rest.endswith("/runtimes"):
            return 200, {
                "runtimes": [
                    {"name": name, "displayName": name, "stage": "GA", "environment": "GEN_2"}
                    for name in ("python311", "python312", "python313")
                ]
            }
        if rest.endswith("/functions:generateUploadUrl"):
            upload_id = f"source-{len(state.uploads) + 1}.zip"
            return 200, {
                "uploadUrl": f"{self.base_url}/upload/{upload_id}",
                "storageSource": {"bucket": "gcf-v2-uploads", "object": upload_id},
            }
        match = re.fullmatch(r"/v2/(projects/[^/]+/locations/[^/]+)/functions", rest)
        if match and request.method == "POST":
            function_id = request.query["functionId"][0]
            name = f"{match.group(1)}/functions/{function_id}"
            return 200, self._store_function(name, request.json)
        match = re.fullmatch(r"/v2/(projects/[^/]+/locations/[^/]+/functions/[^/:]+)", rest)
        if match:
            name = match.group(1)
            if request.method == "PATCH":
                if name not in state.functions:
                    return _not_found(name)
                return 200, self._store_function(name, request.json)
            if name in state.functions:
                return 200, state.functions[name]
            return _not_found(name)
        match = re.fullmatch(r"/v2/(projects/[^/]+/locations/[^/]+/operations/[^/]+)", rest)
        if match:
            return 200, _done_operation(match.group(1))
        return _not_found(rest)

    def _store_function(self, name: str, body: dict[str, Any]) -> dict[str, Any]:
        function_id = name.rsplit("/", 1)[-1]
        url = f"https://{function_id}-{PROJECT_NUMBER}.us-central1.run.app"
        resource = {
            **body,
            "name": name,
            "state": "ACTIVE",
            "environment": "GEN_2",
            "url": url,
            "serviceConfig": {
                **body.get("serviceConfig", {}),
                "service": f"projects/fake/locations/us-central1/services/{function_id}",
                "uri": url,
            },
        }
        with self.state.lock:
            self.state.functions[name] = resource
            builds = len(self.state.functions_deploys) + 1
            self.state.functions_deploys.append(name)
        self._deploy_function_service(name, resource["serviceConfig"], builds)
        return _done_operation(f"{name.rsplit('/functions/', 1)[0]}/operations/op-1", resource)

    def _deploy_function_service(
        self, name: str, service_config: dict[str, Any], build: int
    ) -> None:
        """What a gen2 deploy does to the function's Cloud Run service: a new revision.

        The Cloud Functions API owns the revision template and writes it whole from
        serviceConfig, so anything set on it through Cloud Run (the startup CPU boost
        annotation) is gone from the new revision. Traffic goes to the new revision when
        allTrafficOnLatestRevision is set (or on create); otherwise the split is kept.
        """
        project, function_id = name.split("/")[1], name.rsplit("/", 1)[-1]
        key = f"{project}/{function_id}"
        limits = {"memory": service_config.get("availableMemory", "256M")}
        if "availableCpu" in service_config:
            limits["cpu"] = service_config["availableCpu"]
        environment = service_config.get("environmentVariables", {})
        template = {
            "metadata": {
                "annotations": {
                    "autoscaling.knative.dev/maxScale": str(
                        service_config.get("maxInstanceCount", 100)
                    ),
                    "cloudfunctions.googleapis.com/trigger-type": "HTTP_TRIGGER",
                }
            },
            "spec": {
                "containerConcurrency": service_config.get("maxInstanceRequestConcurrency", 1),
                "timeoutSeconds": service_config.get("timeoutSeconds", 60),
                "containers": [
                    {
                        "image": f"us-central1-docker.pkg.dev/{project}/gcf-artifacts/"
                        f"{function_id}:build-{build}",
                        "env": [{"name": k, "value": v} for k, v in environment.items()],
                        "resources": {"limits": limits},
                    }
                ],
            },
        }
        with self.state.lock:
            existing = self.state.services.get(key)
        traffic = [{"latestRevision": True, "percent": 100}]
        if existing is not None and not service_config.get("allTrafficOnLatestRevision"):
            traffic = existing["spec"]["traffic"]
        service = {
            "apiVersion": "serving.knative.dev/v1",
            "kind": "Service",
            "metadata": {
                "name": function_id,
                "annotations": {"cloudfunctions.googleapis.com/function-id": function_id},
            },
            "spec": {"template": template, "traffic": traffic},
        }
        self.state.put_service(key, service)

    def _api_serviceusage(self, request: RecordedRequest, rest: str) -> tuple[int, Any]:
        return 200, {"name": rest.removeprefix("/v1/"), "state": "ENABLED"}

    def _api_cloudresourcemanager(self, request: RecordedRequest, rest: str) -> tuple[int, Any]:
        project_id = rest.rstrip("/").rsplit("/", 1)[-1]
        return 200, {
            "projectId": project_id,
            "projectNumber": PROJECT_NUMBER,
            "name": f"projects/{PROJECT_NUMBER}",
            "lifecycleState": "ACTIVE",
        }

    def _api_cloudbuild(self, request: RecordedRequest, rest: str) -> tuple[int, Any]:
        if rest.endswith("/defaultServiceAccount"):
            return 200, {
                "name": rest.removeprefix("/v1/"),
                "serviceAccountEmail": f"projects/fake/serviceAccounts/{PROJECT_NUMBER}"
                "-compute@developer.gserviceaccount.com",
            }
        match = re.fullmatch(r"/v1/projects/([^/]+)/locations/([^/]+)/operations/([^/]+)", rest)
        if match:
            return 200, {
                "name": rest.removeprefix("/v1/"),
                "done": True,
                "response": {
                    "@type": "type.googleapis.com/google.devtools.cloudbuild.v1.Build",
                    "id": match.group(3),
                    "name": f"projects/{match.group(1)}/locations/{match.group(2)}/builds/"
                    f"{match.group(3)}",
                    "status": "SUCCESS",
                    "results": {"images": [{"digest": "sha256:" + "0" * 64}]},
                },
            }
        return _not_found(rest)

    def _api_artifactregistry(self, request: RecordedRequest, rest: str) -> tuple[int, Any]:
        name = rest.split("/v1/", 1)[-1]
        return 200, {"name": name, "format": "DOCKER"}

    def _api_iam(self, request: RecordedRequest, rest: str) -> tuple[int, Any]:
        match = re.fullmatch(r"/v1/projects/[^/]+/serviceAccounts/([^/]+)", rest)
        if match:
            email = match.group(1)
            return 200, {"name": f"projects/demo/serviceAccounts/{email}", "email": email}
        return _not_found(rest)

    def _api_bigquery(self, request: RecordedRequest, rest: str) -> tuple[int, Any]:
        with self.state.lock:
            return fake_data_apis.bigquery(self.state.data, request.method, rest, request.json)

    def _api_bigqueryconnection(self, request: RecordedRequest, rest: str) -> tuple[int, Any]:
        with self.state.lock:
            return fake_data_apis.connection(
                self.state.data, request.method, rest, request.query, request.json
            )

    def _api_logging(self, request: RecordedRequest, rest: str) -> tuple[int, Any]:
        with self.state.lock:
            return fake_data_apis.logging_sinks(
                self.state.data, request.method, rest, request.query, request.json
            )

    def _api_run(self, request: RecordedRequest, rest: str) -> tuple[int, Any]:
        match = re.fullmatch(r"/v2/projects/([^/]+)/locations/([^/]+)/builds:submit", rest)
        if match:
            project, location = match.groups()
            build = {
                "id": "build-1",
                "projectId": project,
                "logUrl": "http://127.0.0.1/logs",
                "name": f"projects/{project}/locations/{location}/builds/build-1",
            }
            return 200, {
                "buildOperation": {
                    "name": f"projects/{project}/locations/{location}/operations/build-1",
                    "metadata": {
                        "@type": "type.googleapis.com/google.devtools.cloudbuild.v1"
                        ".BuildOperationMetadata",
                        "build": build,
                    },
                },
                "baseImageUri": "us-central1-docker.pkg.dev/serverless-runtimes/python312",
            }
        match = re.fullmatch(r"/(v\d)/(.+):(getIamPolicy|setIamPolicy)", rest)
        if match:
            resource, verb = match.group(2), match.group(3)
            if verb == "setIamPolicy":
                with self.state.lock:
                    self.state.iam_policies[resource] = request.json["policy"]
            return 200, self.state.iam_policies.get(resource, {"etag": "BwYAAAAAAAA="})
        return self._run_service(request, rest)

    def _run_service(self, request: RecordedRequest, rest: str) -> tuple[int, Any]:
        match = re.fullmatch(
            r"/apis/serving\.knative\.dev/v1/namespaces/([^/]+)/services"
            r"(?:/([^/]+))?",
            rest,
        )
        if not match:
            return _not_found(rest)
        namespace, service_name = match.groups()
        if request.method == "POST":
            service_name = request.json["metadata"]["name"]
        key = f"{namespace}/{service_name}"
        if request.method in ("POST", "PUT"):
            return 200, self.state.put_service(key, request.json)
        with self.state.lock:
            service = self.state.services.get(key)
        return (200, service) if service is not None else _not_found(key)


class FakeGoogleApis:
    """Runs the fake in a background thread; use as a context manager."""

    def __init__(self) -> None:
        self.state = FakeState()
        self._server = _Server(self.state)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        """http://127.0.0.1:PORT of the fake."""
        return self._server.base_url

    @property
    def port(self) -> int:
        """The port the fake listens on."""
        return int(self._server.server_address[1])

    @property
    def requests(self) -> list[RecordedRequest]:
        """A snapshot of the requests received so far."""
        with self.state.lock:
            return list(self.state.requests)

    def endpoint_overrides(self, run_host: str = "127.0.0.1") -> dict[str, str]:
        """CLOUDSDK_API_ENDPOINT_OVERRIDES_* pointing every faked API here.

        Cloud Functions reaches Cloud Run IAM on the Run host as given, but `gcloud run`
        puts the region in front of it (us-central1-HOST); for that, pass a `run_host`
        name that the caller maps, with and without the prefix, to 127.0.0.1.
        """
        overrides = {
            f"CLOUDSDK_API_ENDPOINT_OVERRIDES_{api}": f"{self.base_url}/{prefix}/"
            for api, prefix in API_PREFIXES.items()
        }
        overrides["CLOUDSDK_API_ENDPOINT_OVERRIDES_RUN"] = f"http://{run_host}:{self.port}/run/"
        return overrides

    def start(self) -> FakeGoogleApis:
        """Start serving in a daemon thread."""
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and close the socket."""
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> FakeGoogleApis:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()
