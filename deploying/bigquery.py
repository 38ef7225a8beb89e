"""--bigquery: the deployed model as a BigQuery remote function, typed from the served model's
manifest. Its SQL is written by deploying/remote_function.py."""

from __future__ import annotations

import json
import os

from deploying import commands, remote_function
from deploying.checks import BigQuery
from deploying.commands import Service
from deploying.errors import DeployError
from deploying.model import Model, load_manifest, sha256_of
from deploying.remote_function import RemoteFunctionError
from deploying.shell import Shell, say, tell


def manifest_of(bigquery: BigQuery, model: Model) -> str:
    """The manifest the SQL is typed from: the served model's, refused when it is not."""
    path = bigquery.manifest or model.manifest
    if not path:
        raise DeployError(
            "--bigquery reads the model's features from its manifest.json: for --model-uri "
            f"{model.uri} pass a local copy with --bigquery-manifest PATH"
        )
    if not os.path.isfile(path):
        raise DeployError(f"--bigquery: manifest not found: {path}")
    if model.sha256 and sha256_of(path) != model.sha256:
        raise DeployError(
            f"--bigquery-manifest {path} is not the deployed model's: its sha256 differs from "
            f"MODEL_SHA256 ({model.sha256})"
        )
    manifest = load_manifest(path)
    try:
        remote_function.parse_output(bigquery.output, manifest)
        remote_function.features(manifest)
    except RemoteFunctionError as exc:
        raise DeployError(str(exc)) from None
    return path


def create(
    shell: Shell, service: Service, target: str, bigquery: BigQuery, manifest: str, url: str
) -> None:
    """After the deploy: the connection (reused when it exists), the invoker role for its
    service account, CREATE OR REPLACE FUNCTION, and a SELECT to paste."""
    project = service.project
    connection = f"{project}.{bigquery.location}.{bigquery.connection}"
    routine = f"{project}.{bigquery.function}"
    show = commands.show_connection(project, connection)
    make = commands.make_connection(project, bigquery.location, bigquery.connection)
    if shell.dry_run:
        shell.show(show)
        shell.show(make)
        account = "CONNECTION_SERVICE_ACCOUNT"
    else:
        account = _connection_account(shell, show, make, connection)
    shell.run(commands.allow_invoker(target, service, account), output_to_stderr=True)
    loaded = load_manifest(manifest)
    sql = remote_function.create_sql(
        loaded, bigquery.output, routine, connection, url, bigquery.batch_rows
    )
    shell.run(commands.bigquery_query(project, bigquery.location, sql), output_to_stderr=True)
    report = (
        f"\nBigQuery function {routine} ({bigquery.output}), through the connection "
        f"{connection}:\nscore a table whose columns are the model's features (renamed ones "
        f"are listed first):\n\n{remote_function.select_sql(loaded, routine)}\n"
    )
    # A dry run's stdout holds only commands: the SELECT goes beside them, on stderr.
    (tell if shell.dry_run else say)(report)


def _connection_account(shell: Shell, show: list[str], make: list[str], connection: str) -> str:
    """The connection's service account; the connection is made first when there is none."""
    shell.trace(show)
    found = shell.output(show, quiet=True)
    if found is not None:
        tell(f"deploy.sh: reusing the connection {connection}\n")
    else:
        shell.run(make, output_to_stderr=True)
        found = shell.output(show)
        if found is None:
            raise DeployError(f"cannot read the connection {connection} after creating it")
    try:
        account = json.loads(found).get("cloudResource", {}).get("serviceAccountId", "")
    except (ValueError, AttributeError):
        account = ""
    if not account:
        raise DeployError(
            f"the connection {connection} has no cloudResource.serviceAccountId: not a "
            "CLOUD_RESOURCE connection? (name another with --bigquery-connection)"
        )
    return str(account)
