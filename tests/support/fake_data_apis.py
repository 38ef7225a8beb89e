"""The BigQuery, BigQuery Connection and Cloud Logging parts of the local fake of the Google APIs.

`bq` asks the fake for its discovery documents first (`GET /$discovery/rest?version=v2` for
BigQuery, `version=v1` for the Connection API): BigQuery's is the SDK's own copy with its root
URL pointed here; the SDK ships none for connections, so a minimal one with the methods `bq`
calls (connections get and create) is served. Query jobs finish at once and their SQL is kept
in `DataState.queries`; `CREATE OR REPLACE FUNCTION` also stores the routine, and `CREATE OR
REPLACE MODEL ... OPTIONS (MODEL_TYPE = 'ONNX', MODEL_PATH = ...)` imports the model file from
Cloud Storage (`DataState.storage_url`, a fake-gcs-server) as BigQuery ML does: the job fails
when the object is missing or above 450 MB. Sinks get a writer identity of their own, as Cloud
Logging gives them.
"""

from __future__ import annotations

import json
import re
import shutil
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

Reply = tuple[int, Any]

CONNECTION_METHODS = {
    "get": ("GET", "v1/{+name}", {"name": "path"}),
    "create": ("POST", "v1/{+parent}/connections", {"parent": "path", "connectionId": "query"}),
    "list": ("GET", "v1/{+parent}/connections", {"parent": "path", "pageSize": "query"}),
    "delete": ("DELETE", "v1/{+name}", {"name": "path"}),
}
ROUTINE = re.compile(r"CREATE OR REPLACE FUNCTION `([^`]+)`", re.IGNORECASE)
ONNX_MODEL = re.compile(
    r"CREATE OR REPLACE MODEL `([^`]+)` OPTIONS \(MODEL_TYPE = 'ONNX', "
    r"MODEL_PATH = [\"']gs://([^/\"']+)/([^\"']+)[\"']\)",
    re.IGNORECASE,
)
MAX_ONNX_BYTES = 450 * 1024 * 1024


def bigquery_discovery_document() -> dict[str, Any]:
    """The BigQuery v2 discovery document the installed SDK ships (`bq` reads it first)."""
    bq = shutil.which("bq")
    if bq is None:
        raise FileNotFoundError("bq is not installed")
    sdk = Path(bq).resolve().parent.parent
    return dict(json.loads((sdk / "platform/bq/discovery_next/bigquery.json").read_text()))


def connection_discovery_document(root_url: str) -> dict[str, Any]:
    """A minimal BigQuery Connection API v1 discovery document."""
    methods = {
        verb: {
            "id": f"bigqueryconnection.projects.locations.connections.{verb}",
            "httpMethod": http_method,
            "path": path,
            "flatPath": path,
            "parameters": {
                parameter: {"type": "string", "location": where, "required": where == "path"}
                for parameter, where in parameters.items()
            },
            "parameterOrder": [p for p, where in parameters.items() if where == "path"],
            "request": {"$ref": "Connection"} if verb == "create" else None,
            "response": {"$ref": "Connection"},
        }
        for verb, (http_method, path, parameters) in CONNECTION_METHODS.items()
    }
    for method in methods.values():
        if method["request"] is None:
            del method["request"]
    return {
        "kind": "discovery#restDescription",
        "discoveryVersion": "v1",
        "id": "bigqueryconnection:v1",
        "name": "bigqueryconnection",
        "version": "v1",
        "protocol": "rest",
        "rootUrl": root_url,
        "servicePath": "bigqueryconnection/",
        "basePath": "/bigqueryconnection/",
        "baseUrl": f"{root_url}bigqueryconnection/",
        "batchPath": "batch",
        "parameters": {},
        "schemas": {"Connection": {"id": "Connection", "type": "object", "properties": {}}},
        "resources": {
            "projects": {
                "resources": {"locations": {"resources": {"connections": {"methods": methods}}}}
            }
        },
    }


@dataclass
class DataState:
    """BigQuery connections, query jobs, routines and dataset policies; logging sinks."""

    connections: dict[str, dict[str, Any]] = field(default_factory=dict)
    queries: list[str] = field(default_factory=list)
    routines: dict[str, str] = field(default_factory=dict)
    models: dict[str, bytes] = field(default_factory=dict)  # imported ONNX files, by model
    storage_url: str = ""  # the fake-gcs-server BigQuery ML imports model files from
    jobs: dict[str, dict[str, Any]] = field(default_factory=dict)
    dataset_policies: dict[str, dict[str, Any]] = field(default_factory=dict)
    sinks: dict[str, dict[str, Any]] = field(default_factory=dict)


def not_found(what: str) -> Reply:
    return 404, {"error": {"code": 404, "message": f"Not found: {what}", "status": "NOT_FOUND"}}


def discovery(version: str, root_url: str) -> Reply:
    if version == "v1":
        return 200, connection_discovery_document(root_url)
    document = bigquery_discovery_document()
    document["rootUrl"] = root_url
    document["baseUrl"] = f"{root_url}{document.get('servicePath', 'bigquery/v2/')}"
    return 200, document


def connection(
    state: DataState, method: str, rest: str, query: dict[str, list[str]], body: Any
) -> Reply:
    """projects.locations.connections get and create; a new one gets its service account."""
    match = re.fullmatch(r"/v1/(projects/([^/]+)/locations/([^/]+))/connections(?:/([^/]+))?", rest)
    if not match:
        return not_found(rest)
    parent, _, _, connection_id = match.groups()
    if method == "POST":
        connection_id = query["connectionId"][0]
        name = f"{parent}/connections/{connection_id}"
        if name in state.connections:
            return 409, {"error": {"code": 409, "message": f"Already exists: {name}"}}
        account = f"bqcx-123456789012-{len(state.connections) + 1:04d}@gcp-sa-bigquery-condel"
        state.connections[name] = {
            **(body or {}),
            "name": name,
            "cloudResource": {"serviceAccountId": f"{account}.iam.gserviceaccount.com"},
        }
        return 200, state.connections[name]
    name = f"{parent}/connections/{connection_id}"
    return (200, state.connections[name]) if name in state.connections else not_found(name)


def bigquery(state: DataState, method: str, rest: str, body: Any) -> Reply:
    """Query jobs (insert, get, results) and dataset IAM policies."""
    match = re.fullmatch(
        r"/v2/projects/([^/]+)/datasets/([^/:]+):(getIamPolicy|setIamPolicy)", rest
    )
    if match:
        project, dataset, verb = match.groups()
        key = f"{project}.{dataset}"
        if verb == "setIamPolicy":
            state.dataset_policies[key] = body["policy"]
        return 200, state.dataset_policies.get(key, {"etag": "BwYAAAAAAAA=", "version": 1})
    match = re.fullmatch(r"/v2/projects/([^/]+)/jobs", rest)
    if match and method == "POST":
        return 200, _insert_job(state, match.group(1), body)
    match = re.fullmatch(r"/v2/projects/([^/]+)/(jobs|queries)/([^/]+)", rest)
    if match:
        job = state.jobs.get(match.group(3))
        if job is None:
            return not_found(match.group(3))
        if match.group(2) == "jobs":
            return 200, job
        return 200, {
            "kind": "bigquery#getQueryResultsResponse",
            "jobReference": job["jobReference"],
            "jobComplete": True,
            "totalRows": "0",
            "schema": {"fields": []},
            "rows": [],
        }
    return not_found(rest)


def _insert_job(state: DataState, project: str, body: dict[str, Any]) -> dict[str, Any]:
    sql = body["configuration"]["query"]["query"]
    state.queries.append(sql)
    routine = ROUTINE.search(sql)
    if routine:
        state.routines[routine.group(1)] = sql
    reference = {**body.get("jobReference", {}), "projectId": project}
    reference.setdefault("jobId", f"job_{len(state.jobs) + 1}")
    reference.setdefault("location", "us-central1")
    statistics: dict[str, Any] = {"query": {"statementType": "SELECT"}}
    if routine:
        statistics = {
            "query": {"statementType": "CREATE_FUNCTION", "ddlOperationPerformed": "REPLACE"}
        }
    status: dict[str, Any] = {"state": "DONE"}
    model = ONNX_MODEL.search(sql)
    if model:
        statistics = {
            "query": {"statementType": "CREATE_MODEL", "ddlOperationPerformed": "REPLACE"}
        }
        problem = _import_model(state, *model.groups())
        if problem is not None:
            status["errorResult"] = {"reason": "invalid", "message": problem}
            status["errors"] = [status["errorResult"]]
    job = {
        "kind": "bigquery#job",
        "id": f"{project}:{reference['location']}.{reference['jobId']}",
        "jobReference": reference,
        "configuration": body["configuration"],
        "status": status,
        "statistics": {"creationTime": "1", "startTime": "1", "endTime": "2", **statistics},
    }
    state.jobs[reference["jobId"]] = job
    return job


def _import_model(state: DataState, model: str, bucket: str, name: str) -> str | None:
    """Read the ONNX file from Cloud Storage into `state.models`; what went wrong, if anything."""
    quoted = urllib.parse.quote(name, safe="")
    url = f"{state.storage_url}/storage/v1/b/{bucket}/o/{quoted}?alt=media"
    try:
        with urllib.request.urlopen(url, timeout=30) as response:
            data = response.read(MAX_ONNX_BYTES + 1)
    except urllib.error.HTTPError as exc:
        return f"Not found: gs://{bucket}/{name} ({exc.code})"
    if len(data) > MAX_ONNX_BYTES:
        return f"gs://{bucket}/{name} is larger than 450 MB"
    state.models[model] = data
    return None


def logging_sinks(
    state: DataState, method: str, rest: str, query: dict[str, list[str]], body: Any
) -> Reply:
    """projects.sinks get, create and update (PUT or PATCH); each sink has a writer identity."""
    match = re.fullmatch(r"/v2/projects/([^/]+)/sinks(?:/([^/]+))?", rest)
    if not match:
        return not_found(rest)
    project, sink_id = match.groups()
    if method == "POST":
        sink_id = body["name"]
    key = f"{project}/{sink_id}"
    if method == "GET":
        return (200, state.sinks[key]) if key in state.sinks else not_found(key)
    if method == "POST" and key in state.sinks:
        return 409, {"error": {"code": 409, "message": f"sink {sink_id} already exists"}}
    if method in ("PUT", "PATCH") and key not in state.sinks:
        return not_found(key)
    writer = f"serviceAccount:service-123456789012-{len(state.sinks) + 1}@gcp-sa-logging"
    previous = state.sinks.get(key, {"writerIdentity": f"{writer}.iam.gserviceaccount.com"})
    mask = query.get("updateMask", [""])[0]
    updated = dict(previous)
    for name, value in body.items():
        if method == "POST" or not mask or name in mask.split(",") or _camel(name) in mask:
            updated[name] = value
    updated["name"] = sink_id
    updated["writerIdentity"] = previous["writerIdentity"]
    state.sinks[key] = updated
    return 200, updated


def _camel(name: str) -> str:
    return re.sub(r"[A-Z]", lambda m: f"_{m.group(0).lower()}", name)
