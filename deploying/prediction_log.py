"""--prediction-log, after the deploy: a Cloud Logging sink routing the function's prediction
entries into a BigQuery dataset, its writer allowed to write there, and where to read them."""

from __future__ import annotations

from deploying import commands
from deploying.checks import PredictionLog
from deploying.errors import DeployError
from deploying.shell import Shell, say

# Where Cloud Run's stdout lands in BigQuery: a sink names the table after the log,
# run.googleapis.com/stdout.
TABLE = "run_googleapis_com_stdout"


def sink_name(function: str) -> str:
    return f"{function}-predictions"


def log_filter(function: str) -> str:
    """Exactly the function's prediction entries: its label and message (serving/
    prediction_log.py writes them), on this function's Cloud Run service."""
    from serving.prediction_log import LOG_LABEL, LOG_MESSAGE  # numpy: only when asked

    return (
        f'resource.type="cloud_run_revision" AND resource.labels.service_name="{function}" '
        f'AND labels.log="{LOG_LABEL}" AND jsonPayload.message="{LOG_MESSAGE}"'
    )


def route(shell: Shell, project: str, function: str, log: PredictionLog) -> None:
    """Create (or update) the sink, grant its writer the dataset, say where to read."""
    sink = sink_name(function)
    destination = f"bigquery.googleapis.com/projects/{log.project}/datasets/{log.dataset}"
    verb = "create"
    exists = commands.describe_sink(project, sink, "name")
    if shell.dry_run:
        shell.show(exists)
    elif shell.output(exists, quiet=True) is not None:
        verb = "update"
    write = commands.write_sink(verb, sink, destination, project, log_filter(function))
    shell.run(write, output_to_stderr=True)
    writer_of = commands.describe_sink(project, sink, "writerIdentity")
    if shell.dry_run:
        shell.show(writer_of)
        writer = "SINK_WRITER_IDENTITY"
    else:
        writer = shell.output(writer_of) or ""
        if not writer:
            raise DeployError(
                f"the sink {sink} has no writer identity to grant access to "
                f"{log.project}:{log.dataset}"
            )
    shell.run(commands.grant_dataset(log.project, log.dataset, writer), output_to_stderr=True)
    if shell.dry_run:
        return
    table = f"{log.project}.{log.dataset}.{TABLE}"
    say(
        f"\nPrediction log: {log.rate} of requests are logged; the sink {sink} writes them into\n"
        f"{table} (partitioned by day on timestamp; the table appears with the first entry). "
        "Read them:\n\n"
        "  SELECT timestamp, jsonPayload.prediction_log.model_version, "
        "TO_JSON_STRING(jsonPayload.prediction_log) AS prediction_log "
        f"FROM `{table}` WHERE DATE(timestamp) >= DATE_SUB(CURRENT_DATE(), INTERVAL 7 DAY) "
        "ORDER BY timestamp DESC LIMIT 100\n"
        f"  python monitor.py --bigquery {table} --model model\n"
    )
