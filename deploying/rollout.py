"""Canary, promote and rollback, through the Cloud Run service behind the function.

--canary tags the revision serving all requests `stable` and pins the traffic on it, deploys
the new revision with no traffic and the tag `canary`, checks its /health through the tag's
own URL, and only then sends it PERCENT % of requests.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import tempfile
from typing import Any

from deploying import commands
from deploying.commands import CANARY_TAG, STABLE_TAG, Service
from deploying.errors import DeployError
from deploying.shell import Shell, quote, say


def promote(shell: Shell, service: Service) -> None:
    """Send 100 % of requests to the newest revision."""
    shell.run(commands.update_traffic(service, "--to-latest"))


def rollback(shell: Shell, service: Service) -> None:
    """Send 100 % back to the revision tagged stable; refused when there is none."""
    if shell.dry_run:
        shell.show(commands.describe_service(service))
    elif not tag_url(service_json(shell, service), STABLE_TAG):
        raise DeployError(
            f"no revision of {service.name} is tagged '{STABLE_TAG}': nothing to roll back to "
            "(a --canary rollout tags the revision it replaces)"
        )
    shell.run(commands.update_traffic(service, f"--to-tags={STABLE_TAG}=100"))


def serving_revision(shell: Shell, service: Service) -> str:
    """The revision a canary replaces: the one serving all requests now."""
    if shell.dry_run:
        return "SERVING_REVISION"
    traffic = _traffic(service_json(shell, service))
    serving = [entry.get("revisionName", "") for entry in traffic if entry.get("percent") == 100]
    if not serving or not serving[0]:
        raise DeployError(
            f"no revision of {service.name} serves 100 % of requests (a canary under way?): "
            "--promote or --rollback first"
        )
    return str(serving[0])


def pin_stable(shell: Shell, service: Service, stable: str) -> None:
    """All traffic on the serving revision (a new one then gets none), tagged stable:
    --rollback sends the traffic back to that tag."""
    pin = [f"--to-revisions={stable}=100", f"--update-tags={STABLE_TAG}={stable}"]
    shell.run(commands.update_traffic(service, *pin))


def open_canary(shell: Shell, service: Service, stable: str, percent: int) -> None:
    """After the deploy: check the canary's /health, then send it `percent` % of requests."""
    if shell.dry_run:
        shell.show(commands.describe_service(service))
        url = "CANARY_URL"
    else:
        url = tag_url(service_json(shell, service), CANARY_TAG)
        if not url:
            raise DeployError(
                f"the new revision has no '{CANARY_TAG}' tag URL: no traffic moved, {stable} "
                "still serves all"
            )
    _check_health(shell, url, stable)
    shell.run(commands.update_traffic(service, f"--to-tags={CANARY_TAG}={percent}"))
    if not shell.dry_run:
        say(_canary_report(service, stable, percent, url))


def service_json(shell: Shell, service: Service) -> dict[str, Any]:
    """The service's description, or a clear stop when there is none to roll out on."""
    found = shell.output(commands.describe_service(service), quiet=True)
    if found is None:
        raise DeployError(
            f"no Cloud Run service '{service.name}' in {service.region} of {service.project}: "
            "deploy once without --canary, --promote or --rollback first"
        )
    described: dict[str, Any] = json.loads(found)
    return described


def tag_url(described: dict[str, Any], tag: str) -> str:
    """The URL of a traffic tag; empty when there is none."""
    urls = [entry.get("url", "") for entry in _traffic(described) if entry.get("tag") == tag]
    return str(urls[0]) if urls else ""


def _traffic(described: dict[str, Any]) -> list[dict[str, Any]]:
    traffic: list[dict[str, Any]] = described.get("status", {}).get("traffic", [])
    return traffic


def _check_health(shell: Shell, url: str, stable: str) -> None:
    """GET URL/health with an identity token; stops with the answer when it is not a 200."""
    health = f"{url}/health"
    if shell.dry_run:
        shell.show(commands.health_check(health))
        return
    token = shell.env.get("DEPLOY_IDENTITY_TOKEN") or shell.output(
        ["gcloud", "auth", "print-identity-token"], quiet=True
    )
    if token is None:
        raise DeployError(
            "no identity token for the health check: set DEPLOY_IDENTITY_TOKEN or log in with "
            "'gcloud auth login'; no traffic moved"
        )
    shell.trace(commands.health_check_shown(health))
    descriptor, body_file = tempfile.mkstemp()
    os.close(descriptor)
    try:
        request = commands.health_check_request(health, token, body_file)
        status = _status(request, shell)
        with open(body_file, "rb") as body_bytes:
            body = body_bytes.read(300).decode(errors="replace")
    finally:
        os.unlink(body_file)
    body = re.sub(" +", " ", body.replace("\n", " "))
    if status != "200":
        raise DeployError(
            f"canary health check failed: {health} answered {status} {body or '(no body)'}; "
            f"no traffic moved, {stable} still serves all requests"
        )


def _status(request: list[str], shell: Shell) -> str:
    """curl's HTTP status; 000 when it could not ask."""
    try:
        done = subprocess.run(
            request,
            env=dict(shell.env),
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
            check=False,
        )
    except OSError:
        return "000"
    return done.stdout.rstrip("\n") or "000"


def _canary_report(service: Service, stable: str, percent: int, url: str) -> str:
    where = f"--project {quote(service.project)} --region {quote(service.region)}"
    command = f"./deploy.sh {where} --name {service.name}"
    token = "$(gcloud auth print-identity-token)"
    return (
        f"\nCanary of {service.name}: {percent} % of requests go to the new revision, the rest "
        f"to {stable} ('{STABLE_TAG}').\n"
        f"The new revision alone: {url}\n"
        "Compare the two model versions: every answer and every request log line carries "
        "model_version;\n"
        "in Cloud Logging, count the requests and the errors (severity>=ERROR) per "
        "jsonPayload.model_version.\n\n"
        f'  curl -s -H "Authorization: Bearer {token}" {quote(url + "/health")}\n'
        f"  {command} --promote    # 100 % to the new revision\n"
        f"  {command} --rollback   # 100 % back to {stable}\n"
    )
