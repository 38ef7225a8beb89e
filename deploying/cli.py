"""deploy.sh's program: read the options, refuse bad values before anything runs, then run (or
with --dry-run print) the gcloud and bq commands in order."""

from __future__ import annotations

import os
import signal
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from deploying import bigquery, commands, environment, prediction_log, requirements, rollout
from deploying.checks import Checked, check, check_project
from deploying.commands import Deployment, Service
from deploying.errors import CommandFailed, DeployError
from deploying.model import Model, named_by_env, served_model
from deploying.options import HelpAsked, Options, parse
from deploying.shell import PROGRAM, Shell, quote, say, tell, warn
from deploying.source import source_folder
from deploying.usage import usage


def run_from_shell() -> None:
    """deploy.sh's entry: `python -c ... HOME "RUNTIMES" ARGS...`. Like a shell program, it
    ends quietly when its output is closed early (`./deploy.sh --dry-run | head`)."""
    signal.signal(signal.SIGPIPE, signal.SIG_DFL)
    home, runtimes, *argv = sys.argv[1:]
    sys.exit(main(argv, os.environ, runtimes.split(), home))


def main(
    argv: Sequence[str], environ: Mapping[str, str], runtimes: Sequence[str], home: str
) -> int:
    """Run deploy.sh with these arguments; the exit status. `runtimes` are the Python runtimes
    deploy.sh supports, `home` its folder (the default --source)."""
    try:
        _deploy(argv, environ, runtimes, home)
    except HelpAsked:
        say(usage(runtimes))
    except DeployError as exc:
        tell(f"{PROGRAM}: error: {exc}\n")
        return 1
    except CommandFailed as exc:
        return exc.status
    return 0


def _deploy(
    argv: Sequence[str], environ: Mapping[str, str], runtimes: Sequence[str], home: str
) -> None:
    checked = check(parse(argv, environ, home), runtimes)
    shell = Shell(dry_run=checked.options.dry_run, env=environ)
    service = _service(shell, checked.options)
    if checked.options.action == "promote":
        rollout.promote(shell, service)
    elif checked.options.action == "rollback":
        rollout.rollback(shell, service)
    else:
        _run(shell, _plan(shell, checked, service))


@dataclass(frozen=True)
class Plan:
    """A deploy whose every value is checked: nothing has run yet."""

    checked: Checked
    deployment: Deployment
    model: Model
    added_requirements: tuple[str, ...]
    sql_manifest: str | None  # --bigquery: the manifest its SQL is typed from
    stable: str | None  # --canary: the revision serving all requests now


def _service(shell: Shell, o: Options) -> Service:
    """Where the function is; the project from gcloud's configuration when not given."""
    if not shell.has("gcloud"):
        if not o.dry_run:
            raise DeployError(
                "gcloud is not installed or not on PATH: see https://cloud.google.com/sdk/docs/install"
            )
        warn("gcloud is not installed: printing the commands anyway")
    project = o.project
    if not project and shell.has("gcloud"):
        project = shell.output(["gcloud", "config", "get-value", "project"], quiet=True) or ""
    if not project:
        raise DeployError(
            "no project: pass --project, set DEPLOY_PROJECT or GOOGLE_CLOUD_PROJECT, or run "
            "'gcloud config set project ID'"
        )
    return Service(project=check_project(project), region=o.region, name=o.name)


def _plan(shell: Shell, checked: Checked, service: Service) -> Plan:
    """Every check that needs the files, the model or gcloud's answers, in deploy.sh's order."""
    o = checked.options
    source = source_folder(o.source, shell.env)
    uri, sha256, extra_env = named_by_env(o.model_uri, checked.model_sha256, o.env)
    model = served_model(
        shell=shell,
        source=source,
        uri=uri,
        sha256=sha256,
        allow_unpinned=o.allow_unpinned,
        upload_to=o.upload_model,
        model_dir=o.model_dir or f"{source}/model",
    )
    added = requirements.added_lines(source, requirements.needed(shell, model))
    sql_manifest = None
    if checked.bigquery is not None:
        sql_manifest = bigquery.manifest_of(checked.bigquery, model)
    if (checked.bigquery or checked.prediction_log) and not o.dry_run and not shell.has("bq"):
        raise DeployError(
            "bq is not installed or not on PATH: it ships with the gcloud CLI (gcloud "
            "components install bq)"
        )
    deployment = _deployment(checked, service, source, model, extra_env)
    stable = None
    if checked.canary_percent is not None:
        stable = rollout.serving_revision(shell, service)
    return Plan(checked, deployment, model, added, sql_manifest, stable)


def _run(shell: Shell, plan: Plan) -> None:
    """The deploy and what follows it, each command run (or printed) in order."""
    o = plan.checked.options
    d = plan.deployment
    if o.public:
        warn(
            f"--public: anyone on the internet can call {o.name} and every call is billed "
            f"to {d.service.project}"
        )
    _upload(shell, plan.model, d.service.project)
    if plan.stable is not None:
        rollout.pin_stable(shell, d.service, plan.stable)
    if o.dry_run and not plan.model.manifest:
        requirements.unread_in_dry_run(plan.model)
    with requirements.upload_folder(shell, d.source, plan.added_requirements) as folder:
        shell.run(commands.deploy(d, folder))
    after = commands.after_deploy(d)
    if after is not None:
        shell.run(after)
    if plan.stable is not None and plan.checked.canary_percent is not None:
        rollout.open_canary(shell, d.service, plan.stable, plan.checked.canary_percent)
        return
    bq = plan.checked.bigquery
    url = _function_url(shell, d, show=bq is not None)
    if bq is not None and plan.sql_manifest is not None:
        bigquery.create(shell, d.service, d.target, bq, plan.sql_manifest, url)
    if plan.checked.prediction_log is not None:
        prediction_log.route(shell, d.service.project, o.name, plan.checked.prediction_log)


def _deployment(
    checked: Checked, service: Service, source: str, model: Model, extra_env: Sequence[str]
) -> Deployment:
    """The deploy command's values; the function's environment checked on the way."""
    o = checked.options
    log = checked.prediction_log
    pairs = environment.variables(
        cpu=o.cpu,
        concurrency=int(o.concurrency),
        model=model,
        prediction_log_rate=log.rate if log else None,
        extra=extra_env,
    )
    if checked.bigquery is not None:
        max_rows = environment.max_rows(pairs)
        if checked.bigquery.batch_rows > max_rows:
            raise DeployError(
                f"--bigquery-batch-rows {checked.bigquery.batch_rows} is above the function's "
                f"MAX_ROWS ({max_rows}): BigQuery would send batches it refuses"
            )
    env_flag = environment.gcloud_flag(pairs)
    environment.function_settings(pairs)
    return Deployment(
        service=service,
        target=o.target,
        source=source,
        runtime=o.runtime,
        memory=o.memory,
        cpu=o.cpu,
        min_instances=o.min_instances,
        max_instances=o.max_instances,
        concurrency=o.concurrency,
        timeout=o.timeout,
        service_account=o.service_account,
        public=o.public,
        cpu_boost=o.cpu_boost,
        canary=checked.canary_percent is not None,
        env_flag=env_flag,
        gcloud_args=o.gcloud_args,
    )


def _upload(shell: Shell, model: Model, project: str) -> None:
    """--upload-model: the artifacts first, the manifest last, so that a reader never sees a
    manifest whose files are not there yet."""
    if model.upload is None:
        return
    upload = model.upload
    if upload.artifacts:
        shell.run(commands.copy_to_gcs(upload.artifacts, upload.destination, project))
    shell.run(commands.copy_to_gcs([upload.manifest], upload.destination, project))


def _function_url(shell: Shell, deployment: Deployment, *, show: bool) -> str:
    """The deployed URL, with how to call it; FUNCTION_URL in a dry run."""
    describe = commands.describe_url(deployment)
    if shell.dry_run:
        if show:
            shell.show(describe)
        return "FUNCTION_URL"
    url = shell.capture(describe)
    name = deployment.service.name
    token = "$(gcloud auth print-identity-token)"
    say(
        f"\nDeployed {name}: {url}\n"
        "Call it with an identity token (private: the caller needs roles/run.invoker):\n\n"
        f'  curl -s -H "Authorization: Bearer {token}" {quote(url + "/health")}\n'
        f"  curl -s -H \"Authorization: Bearer {token}\" -H 'Content-Type: application/json' "
        f"--data @request.json {quote(url)}\n"
    )
    return url
