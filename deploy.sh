#!/usr/bin/env bash
# Deploy the model server (main.py, entry point `predict`) as a private HTTPS endpoint on
# Cloud Functions (gen2) or Cloud Run functions, roll a new model out as a canary, promote
# or roll it back. Run `./deploy.sh --help` for the options.
set -euo pipefail

# ---------------------------------------------------------------------------------------
# Defaults: one block, so cold-start measurements can retune them in one place.
# ---------------------------------------------------------------------------------------
DEFAULT_TARGET=functions        # functions (gcloud functions deploy --gen2) | run
DEFAULT_REGION=us-central1
DEFAULT_NAME=sklearn-predict
DEFAULT_RUNTIME=python312       # one of SUPPORTED_RUNTIMES
DEFAULT_MEMORY=512Mi           # chosen from bench/tiers.py: docs/deploying.md, "Choosing memory and CPU"
DEFAULT_CPU=                    # empty: left to gcloud (derived from memory on gen2, 1 on Run)
DEFAULT_MIN_INSTANCES=0         # scale to zero: no idle cost, cold starts after idle
DEFAULT_MAX_INSTANCES=10        # caps cost and load on anything downstream
DEFAULT_CONCURRENCY=1           # requests per instance; >1 needs --cpu 1 or more
DEFAULT_TIMEOUT=60s
SUPPORTED_RUNTIMES=(python311 python312 python313)   # proven by tests/deploy/test_deploy_runtimes.py
ENTRY_POINT=predict
STABLE_TAG=stable               # the revision that served before a canary (--rollback target)
CANARY_TAG=canary               # the canary revision; its own URL is https://canary---...
# Platform limits, checked before anything runs. Service names: RFC 1035 labels of at most
# 63 characters (https://cloud.google.com/run/docs/reference/rest/v1/ObjectMeta "name";
# https://cloud.google.com/functions/docs/reference/rest/v2/projects.locations.functions).
# Memory 128 MiB to 32 GiB (https://cloud.google.com/run/docs/configuring/services/memory-limits,
# https://cloud.google.com/functions/docs/configuring/memory). Concurrency at most 1000
# (https://cloud.google.com/run/docs/about-concurrency). Request timeout at most 60 min for
# HTTP (https://cloud.google.com/run/docs/configuring/request-timeout,
# https://cloud.google.com/functions/docs/configuring/timeout). A traffic tag and the service
# name together at most 46 characters (Cloud Run's own error for longer ones: the tag URL is
# one DNS label).
MIN_MEMORY_BYTES=$((128 * 1024 * 1024))
MAX_MEMORY_BYTES=$((32 * 1024 * 1024 * 1024))
MAX_CONCURRENCY=1000
MAX_TIMEOUT_SECONDS=3600
MAX_TAG_AND_NAME=46
HEALTH_TIMEOUT_SECONDS=120      # a canary's first /health may be a cold start at 0.083 vCPU
DEFAULT_BIGQUERY_OUTPUT=label   # --bigquery: label | probabilities | probability:CLASS
DEFAULT_BIGQUERY_BATCH_ROWS=500 # rows per call BigQuery sends (max_batching_rows)
FUNCTION_MAX_ROWS=10000         # the function's own MAX_ROWS default (serving/settings.py)
DEFAULT_PREDICTION_LOG_RATE=0.1 # share of requests logged with --prediction-log
# What the function writes per sampled request (one JSON line on stdout, see docs/operating.md,
# "Watch for drift"), and where Cloud Run's stdout lands in BigQuery: a sink names the table after the
# log, run.googleapis.com/stdout.
PREDICTION_LOG_LABEL=sklearn-predictions
PREDICTION_LOG_MESSAGE=prediction
PREDICTION_LOG_TABLE=run_googleapis_com_stdout

script_path=${BASH_SOURCE[0]}
[[ $script_path == */* ]] || script_path=./$script_path
SCRIPT_DIR=$(cd "${script_path%/*}" && pwd)

usage() {
    cat <<EOF
Usage: ./deploy.sh [OPTIONS] [-- EXTRA_GCLOUD_ARGS...]
       ./deploy.sh [OPTIONS] --canary PERCENT
       ./deploy.sh --project ID [--region R] [--name N] --promote | --rollback

Deploys main.py (entry point '${ENTRY_POINT}') with an HTTP trigger, private by default.
Each option falls back to the environment variable in brackets, then to the default.

Where:
  --project ID            Google Cloud project [DEPLOY_PROJECT, GOOGLE_CLOUD_PROJECT,
                          CLOUDSDK_CORE_PROJECT, then 'gcloud config get-value project']
  --region REGION         region [DEPLOY_REGION] (default: ${DEFAULT_REGION})
  --name NAME             function or service name: lowercase letters, digits and '-',
                          starting with a letter, at most 63 characters
                          [DEPLOY_NAME] (default: ${DEFAULT_NAME})
  --target TARGET         functions: gcloud functions deploy --gen2 --trigger-http
                          run: gcloud run deploy --source --function (Cloud Run functions)
                          [DEPLOY_TARGET] (default: ${DEFAULT_TARGET})
  --source DIR            folder to upload, filtered by its .gcloudignore [DEPLOY_SOURCE]
                          (default: the folder of this script)

Instance size and scaling:
  --runtime RUNTIME       ${SUPPORTED_RUNTIMES[*]} [DEPLOY_RUNTIME] (default: ${DEFAULT_RUNTIME})
  --memory SIZE           128Mi to 32Gi, e.g. 512Mi, 1Gi (units k, M, G, Ki, Mi, Gi)
                          [DEPLOY_MEMORY] (default: ${DEFAULT_MEMORY})
  --cpu CPU               e.g. 0.583, 1, 2 [DEPLOY_CPU] (default: left to gcloud: derived
                          from memory on Cloud Functions, 1 on Cloud Run)
  --min-instances N       instances kept warm [DEPLOY_MIN_INSTANCES] (default: ${DEFAULT_MIN_INSTANCES})
  --max-instances N       scaling cap [DEPLOY_MAX_INSTANCES] (default: ${DEFAULT_MAX_INSTANCES})
  --concurrency N         requests per instance, 1 to 1000; N > 1 needs --cpu 1 or more. Sets
                          functions-framework's WORKERS to the whole vCPUs (at most N)
                          and THREADS to N shared out among them
                          [DEPLOY_CONCURRENCY] (default: ${DEFAULT_CONCURRENCY})
  --timeout DURATION      request timeout, 1s to 3600s (e.g. 60s, 5m, 1h)
                          [DEPLOY_TIMEOUT] (default: ${DEFAULT_TIMEOUT})
  --no-cpu-boost          no startup CPU boost (default: on; an instance of 1 vCPU or less
                          gets 2 vCPU while it starts and for 10 s after, billed). Cloud Run:
                          'gcloud run deploy --cpu-boost'; Cloud Functions: 'gcloud run
                          services update NAME --cpu-boost' after every deploy, since
                          'gcloud functions deploy' has no flag for it and rewrites the
                          revision template
  --service-account EMAIL runtime identity [DEPLOY_SERVICE_ACCOUNT] (default: gcloud's,
                          the Compute Engine default service account)

Model:
  --model-uri URI         folder with manifest.json, e.g. gs://BUCKET/PREFIX/ [MODEL_URI]
                          (default: unset, the handler serves the bundled model/ folder)
  --model-sha256 HEX      sha256 of that manifest.json; required for gs:// [MODEL_SHA256]
  --allow-unpinned        allow a gs:// model without MODEL_SHA256
                          (sets MODEL_ALLOW_UNPINNED=true on the function)
  --upload-model GS_URI   upload --model-dir to gs://BUCKET/PREFIX/ with 'gcloud storage cp'
                          (artifacts first, manifest.json last), then deploy with
                          MODEL_URI=GS_URI and MODEL_SHA256 set to the manifest's sha256
                          [DEPLOY_UPLOAD_MODEL]
  --model-dir DIR         local model folder [DEPLOY_MODEL_DIR] (default: SOURCE/model)
  --env KEY=VALUE         another handler setting, e.g. MODEL_RUNTIME=onnx, MAX_ROWS=1000,
                          MAX_BODY_BYTES, LOG_LEVEL (repeatable); checked with the
                          function's own parser (serving/settings.py) before deploying.
                          Values may hold ',' or '@', not both (gcloud's list delimiter).
                          OPENBLAS_NUM_THREADS=1 is always set (one BLAS thread: a second
                          one only burns billed CPU at start-up)

Rollouts (both targets, through the Cloud Run service behind the function):
  --canary PERCENT        deploy as a new revision tagged '${CANARY_TAG}' with no traffic, check
                          its /health through its tag URL, then send it PERCENT % (1-99)
                          of requests. The revision serving before is tagged '${STABLE_TAG}'.
                          Health check token: DEPLOY_IDENTITY_TOKEN, else
                          'gcloud auth print-identity-token'
  --promote               send 100 % of requests to the newest revision
  --rollback              send 100 % back to the revision tagged '${STABLE_TAG}'

BigQuery (after the deploy):
  --bigquery DATASET.FUNCTION
                          make the model callable from SQL as PROJECT.DATASET.FUNCTION, a
                          remote function: a CLOUD_RESOURCE connection (reused if it exists),
                          the invoker role for its service account, CREATE OR REPLACE FUNCTION
                          with one typed parameter per feature of the model's manifest. Prints
                          a SELECT that scores a table
  --bigquery-output OUT   label, probabilities (JSON) or probability:CLASS (FLOAT64)
                          (default: ${DEFAULT_BIGQUERY_OUTPUT})
  --bigquery-connection ID  connection id (default: the function's name)
  --bigquery-location LOC the connection's location: the dataset's (default: --region)
  --bigquery-batch-rows N max_batching_rows, 1 to MAX_ROWS (default: ${DEFAULT_BIGQUERY_BATCH_ROWS})
  --bigquery-manifest PATH  the model's manifest.json, needed for a gs:// --model-uri (default:
                          --model-dir's with --upload-model, else the local model folder's)
  --prediction-log PROJECT.DATASET
                          log a share of the requests (PREDICTION_LOG_RATE) and route those
                          entries into that BigQuery dataset with a Cloud Logging sink
                          named NAME-predictions, its writer given roles/bigquery.dataEditor
  --prediction-log-rate R share of requests logged, 0 < R <= 1 (default: ${DEFAULT_PREDICTION_LOG_RATE})

Access and control:
  --public                allow unauthenticated calls (anyone on the internet); warns
  --dry-run               print the exact commands, shell-quoted, and run nothing
  -h, --help              show this help
  -- ARGS...              passed to the gcloud deploy command as they are, e.g. -- --quiet

After a real deploy it prints the URL and an authenticated curl command.
EOF
}

die() {
    printf 'deploy.sh: error: %s\n' "$*" >&2
    exit 1
}

warn() {
    printf 'deploy.sh: warning: %s\n' "$*" >&2
}

# Print one argument shell-quoted: plain when safe, else in single quotes.
quote() {
    if [[ $1 =~ ^[A-Za-z0-9_./:=@%+,-]+$ ]]; then
        printf '%s' "$1"
    else
        printf "'%s'" "${1//\'/\'\\\'\'}"
    fi
}

# Print a command on one line, shell-quoted, ready to paste.
print_command() {
    local first=1 arg
    for arg in "$@"; do
        ((first)) || printf ' '
        first=0
        quote "$arg"
    done
    printf '\n'
}

# Run a command, or only print it with --dry-run.
run() {
    if ((dry_run)); then
        print_command "$@"
    else
        printf '+ %s\n' "$(print_command "$@")" >&2
        "$@"
    fi
}

sha256_of() {
    local sum
    if command -v sha256sum >/dev/null; then
        read -r sum _ < <(sha256sum "$1")
    else
        read -r sum _ < <(shasum -a 256 "$1")
    fi
    printf '%s' "$sum"
}

# CPU count as millicores ("0.5" -> 500, "2" -> 2000, "1000m" -> 1000); fails when malformed.
cpu_millicores() {
    local cpu=$1 whole fraction
    if [[ $cpu =~ ^([0-9]+)m$ ]]; then
        printf '%d' "$((10#${BASH_REMATCH[1]}))"
    elif [[ $cpu =~ ^([0-9]*)(\.([0-9]{0,3})[0-9]*)?$ && -n ${BASH_REMATCH[1]}${BASH_REMATCH[3]} ]]; then
        whole=${BASH_REMATCH[1]:-0}
        fraction=${BASH_REMATCH[3]}000
        printf '%d' "$((10#$whole * 1000 + 10#${fraction:0:3}))"
    else
        return 1
    fi
}

require_value() {
    [[ $# -ge 2 && -n $2 && $2 != --* ]] || die "$1 needs a value (see --help)"
}

# Bytes in a Kubernetes-style size ("512Mi", "1Gi", "2G"); fails when malformed.
memory_bytes() {
    local -A unit=([k]=1000 [M]=1000000 [G]=1000000000 [Ki]=1024 [Mi]=1048576 [Gi]=1073741824)
    [[ $1 =~ ^([0-9]{1,6})(k|M|G|Ki|Mi|Gi)$ ]] || return 1
    printf '%d' "$((10#${BASH_REMATCH[1]} * ${unit[${BASH_REMATCH[2]}]}))"
}

# Seconds in a duration ("60s", "5m", "1h", "90"); fails when malformed.
duration_seconds() {
    local -A unit=([s]=1 [m]=60 [h]=3600)
    [[ $1 =~ ^([0-9]{1,6})(s|m|h)?$ ]] || return 1
    printf '%d' "$((10#${BASH_REMATCH[1]} * ${unit[${BASH_REMATCH[2]:-s}]}))"
}

# The proposed environment through the function's own parser (serving/settings.py of the
# source, else of this repo): the same rules the deployed function applies at start-up.
check_settings() {
    local serving_root=$source_dir
    [[ -f $serving_root/serving/settings.py ]] || serving_root=$SCRIPT_DIR
    command -v python3 >/dev/null ||
        die "python3 is needed to check the settings with serving/settings.py"
    python3 - "$serving_root" "$@" <<'PY' 2>&1
import sys

sys.path.insert(0, sys.argv[1])
try:
    from serving.errors import SettingsError
    from serving.settings import Settings
except Exception as error:
    sys.exit(f"cannot load {sys.argv[1]}/serving/settings.py: {error}")
try:
    Settings.from_env(dict(pair.split("=", 1) for pair in sys.argv[2:]))
except SettingsError as error:
    sys.exit(f"--env: {error}")
PY
}

# One field of a Cloud Run service's JSON (on stdin): `serving` prints the revision that
# has 100 % of the traffic, `tag TAG` the URL of that traffic tag; empty when there is none.
traffic_field() {
    python3 -c '
import json, sys
traffic = json.load(sys.stdin).get("status", {}).get("traffic", [])
if sys.argv[1] == "serving":
    found = [t.get("revisionName", "") for t in traffic if t.get("percent") == 100]
else:
    found = [t.get("url", "") for t in traffic if t.get("tag") == sys.argv[2]]
print(found[0] if found else "")
' "$@"
}

# GET URL/health with an identity token; stops with the answer when it is not a 200.
check_health() {
    local url=$1/health token status body_file body
    if ((dry_run)); then
        # shellcheck disable=SC2016 # printed for the reader to run, not expanded here
        print_command curl -sS --max-time "$HEALTH_TIMEOUT_SECONDS" \
            -H 'Authorization: Bearer $(gcloud auth print-identity-token)' "$url"
        return
    fi
    token=${DEPLOY_IDENTITY_TOKEN:-}
    if [[ -z $token ]]; then
        token=$(gcloud auth print-identity-token 2>/dev/null) ||
            die "no identity token for the health check: set DEPLOY_IDENTITY_TOKEN or log in with 'gcloud auth login'; no traffic moved"
    fi
    printf '+ %s\n' "$(print_command curl -sS --max-time "$HEALTH_TIMEOUT_SECONDS" "$url")" >&2
    body_file=$(mktemp)
    status=$(curl -sS --max-time "$HEALTH_TIMEOUT_SECONDS" -o "$body_file" -w '%{http_code}' \
        -H "Authorization: Bearer $token" "$url" 2>/dev/null) || status=${status:-000}
    body=$(head -c 300 "$body_file" | tr -s '\n' ' ')
    rm -f "$body_file"
    [[ $status == 200 ]] ||
        die "canary health check failed: $url answered $status ${body:-(no body)}; no traffic moved, $stable_revision still serves all requests"
}

# The service's JSON, or a clear stop when there is no service to roll out on.
service_json() {
    "${describe_service[@]}" 2>/dev/null ||
        die "no Cloud Run service '$name' in $region of $project: deploy once without --canary, --promote or --rollback first"
}

# `run`, with the command's own output on stderr: stdout is kept for what deploy.sh reports.
run_to_stderr() {
    if ((dry_run)); then
        print_command "$@"
    else
        run "$@" >&2
    fi
}

# The remote function's SQL (or its checks) from the model's manifest: deploying/remote_function.py.
remote_function() {
    python3 "$SCRIPT_DIR/deploying/remote_function.py" "$@" 2>&1
}

# The BigQuery side of --bigquery, after the deploy: the connection (reused when it exists),
# the invoker role for its service account, the CREATE OR REPLACE FUNCTION, a SELECT to paste.
create_remote_function() {
    local connection=$project.$bigquery_location.$bigquery_connection
    local routine=$project.$bigquery
    local show=(bq show --connection --format=json --project_id="$project" "$connection")
    local found account sql example
    if ((dry_run)); then
        print_command "${show[@]}"
        run_to_stderr bq mk --connection --connection_type=CLOUD_RESOURCE --location="$bigquery_location" \
            --project_id="$project" "$bigquery_connection"
        account=CONNECTION_SERVICE_ACCOUNT
    else
        printf '+ %s\n' "$(print_command "${show[@]}")" >&2
        if found=$("${show[@]}" 2>/dev/null); then
            printf 'deploy.sh: reusing the connection %s\n' "$connection" >&2
        else
            run_to_stderr bq mk --connection --connection_type=CLOUD_RESOURCE --location="$bigquery_location" \
                --project_id="$project" "$bigquery_connection"
            found=$("${show[@]}") || die "cannot read the connection $connection after creating it"
        fi
        account=$(python3 -c '
import json, sys
print(json.load(sys.stdin).get("cloudResource", {}).get("serviceAccountId", ""))
' <<<"$found") || account=
        [[ -n $account ]] ||
            die "the connection $connection has no cloudResource.serviceAccountId: not a CLOUD_RESOURCE connection? (name another with --bigquery-connection)"
    fi
    if [[ $target == functions ]]; then
        run_to_stderr gcloud functions add-invoker-policy-binding "$name" --project="$project" \
            --region="$region" --member="serviceAccount:$account"
    else
        run_to_stderr gcloud run services add-iam-policy-binding "$name" --project="$project" \
            --region="$region" --member="serviceAccount:$account" --role=roles/run.invoker
    fi
    sql=$(remote_function create "$bigquery_manifest" "$bigquery_output" "$routine" \
        "$connection" "$url" "$bigquery_batch_rows") || die "$sql"
    run_to_stderr bq query --project_id="$project" --location="$bigquery_location" --use_legacy_sql=false \
        "$sql"
    ((dry_run)) && return
    example=$(remote_function select "$bigquery_manifest" "$routine") || die "$example"
    cat <<EOF

BigQuery function $routine ($bigquery_output), through the connection $connection:
score a table whose columns are the model's features (renamed ones are listed first):

$example
EOF
}

# --prediction-log, after the deploy: a sink routing the function's prediction entries into
# the dataset, its writer allowed to write there, and where to read them.
route_prediction_log() {
    local sink=$name-predictions
    local destination=bigquery.googleapis.com/projects/$log_project/datasets/$log_dataset
    local filter="resource.type=\"cloud_run_revision\" AND resource.labels.service_name=\"$name\" AND labels.log=\"$PREDICTION_LOG_LABEL\" AND jsonPayload.message=\"$PREDICTION_LOG_MESSAGE\""
    local describe_sink=(gcloud logging sinks describe "$sink" --project="$project")
    local verb=create writer table=$log_project.$log_dataset.$PREDICTION_LOG_TABLE
    if ((dry_run)); then
        print_command "${describe_sink[@]}" --format='value(name)'
    elif "${describe_sink[@]}" --format='value(name)' >/dev/null 2>&1; then
        verb=update
    fi
    run_to_stderr gcloud logging sinks "$verb" "$sink" "$destination" --project="$project" \
        --log-filter="$filter" --use-partitioned-tables
    if ((dry_run)); then
        print_command "${describe_sink[@]}" --format='value(writerIdentity)'
        writer=SINK_WRITER_IDENTITY
    else
        writer=$("${describe_sink[@]}" --format='value(writerIdentity)') || writer=
        [[ -n $writer ]] || die "the sink $sink has no writer identity to grant access to $log_project:$log_dataset"
    fi
    run_to_stderr bq add-iam-policy-binding --project_id="$log_project" --member="$writer" \
        --role=roles/bigquery.dataEditor -d "$log_project:$log_dataset"
    ((dry_run)) && return
    cat <<EOF

Prediction log: $prediction_log_rate of requests are logged; the sink $sink writes them into
$table (partitioned by day on timestamp; the table appears with the first entry). Read them:

  SELECT timestamp, jsonPayload.prediction_log.model_version, TO_JSON_STRING(jsonPayload.prediction_log) AS prediction_log FROM \`$table\` WHERE DATE(timestamp) >= DATE_SUB(CURRENT_DATE(), INTERVAL 7 DAY) ORDER BY timestamp DESC LIMIT 100
  python monitor.py --bigquery $table --model model
EOF
}

# ---------------------------------------------------------------------------------------
# Options: flag, then environment, then default.
# ---------------------------------------------------------------------------------------
project=${DEPLOY_PROJECT:-${GOOGLE_CLOUD_PROJECT:-${CLOUDSDK_CORE_PROJECT:-}}}
region=${DEPLOY_REGION:-$DEFAULT_REGION}
name=${DEPLOY_NAME:-$DEFAULT_NAME}
target=${DEPLOY_TARGET:-$DEFAULT_TARGET}
source_dir=${DEPLOY_SOURCE:-$SCRIPT_DIR}
runtime=${DEPLOY_RUNTIME:-$DEFAULT_RUNTIME}
memory=${DEPLOY_MEMORY:-$DEFAULT_MEMORY}
cpu=${DEPLOY_CPU:-$DEFAULT_CPU}
min_instances=${DEPLOY_MIN_INSTANCES:-$DEFAULT_MIN_INSTANCES}
max_instances=${DEPLOY_MAX_INSTANCES:-$DEFAULT_MAX_INSTANCES}
concurrency=${DEPLOY_CONCURRENCY:-$DEFAULT_CONCURRENCY}
timeout=${DEPLOY_TIMEOUT:-$DEFAULT_TIMEOUT}
service_account=${DEPLOY_SERVICE_ACCOUNT:-}
model_uri=${MODEL_URI:-}
model_sha256=${MODEL_SHA256:-}
upload_model=${DEPLOY_UPLOAD_MODEL:-}
model_dir=${DEPLOY_MODEL_DIR:-}
allow_unpinned=0
public=0
dry_run=0
cpu_boost=1
action=deploy
canary_percent=
extra_env=()
extra_args=()
bigquery=
bigquery_output=
bigquery_connection=
bigquery_location=
bigquery_batch_rows=$DEFAULT_BIGQUERY_BATCH_ROWS
bigquery_manifest=
prediction_log=
prediction_log_rate=

while (($#)); do
    case $1 in
        -h | --help) usage; exit 0 ;;
        --dry-run) dry_run=1 ;;
        --public) public=1 ;;
        --allow-unpinned) allow_unpinned=1 ;;
        --no-cpu-boost) cpu_boost=0 ;;
        --promote | --rollback)
            [[ $action == deploy ]] || die "choose one of --canary, --promote and --rollback"
            action=${1#--}
            ;;
        --) shift; extra_args=("$@"); break ;;
        --*=*) set -- "${1%%=*}" "${1#*=}" "${@:2}"; continue ;;
        --project | --region | --name | --target | --source | --runtime | --memory | --cpu | \
        --min-instances | --max-instances | --concurrency | --timeout | --service-account | \
        --model-uri | --model-sha256 | --upload-model | --model-dir | --env | --canary | \
        --bigquery | --bigquery-output | --bigquery-connection | --bigquery-location | \
        --bigquery-batch-rows | --bigquery-manifest | --prediction-log | --prediction-log-rate)
            require_value "$@"
            case $1 in
                --project) project=$2 ;;
                --region) region=$2 ;;
                --name) name=$2 ;;
                --target) target=$2 ;;
                --source) source_dir=$2 ;;
                --runtime) runtime=$2 ;;
                --memory) memory=$2 ;;
                --cpu) cpu=$2 ;;
                --min-instances) min_instances=$2 ;;
                --max-instances) max_instances=$2 ;;
                --concurrency) concurrency=$2 ;;
                --timeout) timeout=$2 ;;
                --service-account) service_account=$2 ;;
                --model-uri) model_uri=$2 ;;
                --model-sha256) model_sha256=$2 ;;
                --upload-model) upload_model=$2 ;;
                --model-dir) model_dir=$2 ;;
                --env) extra_env+=("$2") ;;
                --bigquery) bigquery=$2 ;;
                --bigquery-output) bigquery_output=$2 ;;
                --bigquery-connection) bigquery_connection=$2 ;;
                --bigquery-location) bigquery_location=$2 ;;
                --bigquery-batch-rows) bigquery_batch_rows=$2 ;;
                --bigquery-manifest) bigquery_manifest=$2 ;;
                --prediction-log) prediction_log=$2 ;;
                --prediction-log-rate) prediction_log_rate=$2 ;;
                --canary)
                    [[ $action == deploy ]] || die "choose one of --canary, --promote and --rollback"
                    action=canary
                    canary_percent=$2
                    ;;
            esac
            shift
            ;;
        *) die "unknown argument: $1 (see --help; gcloud arguments go after --)" ;;
    esac
    shift
done

model_sha256=${model_sha256,,}   # sha256sum prints lowercase hex

# ---------------------------------------------------------------------------------------
# Checks: fail before anything is uploaded or deployed.
# ---------------------------------------------------------------------------------------
case $target in
    functions | run) ;;
    *) die "--target must be 'functions' or 'run', got '$target'" ;;
esac
[[ ${#name} -le 63 && $name =~ ^[a-z]([-a-z0-9]*[a-z0-9])?$ ]] ||
    die "--name must be 1-63 lowercase letters, digits or '-', starting with a letter and not ending with '-', got '$name'"
if [[ $action == canary ]]; then
    [[ $canary_percent =~ ^0*[1-9][0-9]?$ ]] ||
        die "--canary must be a whole percentage from 1 to 99, got '$canary_percent'"
    canary_percent=$((10#$canary_percent))
    ((${#name} + ${#CANARY_TAG} <= MAX_TAG_AND_NAME)) ||
        die "--canary needs a name of at most $((MAX_TAG_AND_NAME - ${#CANARY_TAG})) characters (tag '$CANARY_TAG' + name <= $MAX_TAG_AND_NAME on Cloud Run), got ${#name}"
fi
[[ " ${SUPPORTED_RUNTIMES[*]} " == *" $runtime "* ]] ||
    die "--runtime must be one of ${SUPPORTED_RUNTIMES[*]} (what requirements.txt supports), got '$runtime'"
for pair in "min-instances:$min_instances" "max-instances:$max_instances" "concurrency:$concurrency"; do
    [[ ${pair#*:} =~ ^[0-9]+$ ]] || die "--${pair%%:*} must be a whole number, got '${pair#*:}'"
done
((10#$min_instances <= 10#$max_instances)) ||
    die "--min-instances ($min_instances) is above --max-instances ($max_instances)"
((10#$concurrency >= 1 && 10#$concurrency <= MAX_CONCURRENCY)) ||
    die "--concurrency must be from 1 to $MAX_CONCURRENCY (Cloud Run's limit), got '$concurrency'"
memory_in_bytes=$(memory_bytes "$memory") ||
    die "--memory must be a number with a unit k, M, G, Ki, Mi or Gi (e.g. 512Mi, 1Gi), got '$memory'"
((memory_in_bytes >= MIN_MEMORY_BYTES && memory_in_bytes <= MAX_MEMORY_BYTES)) ||
    die "--memory must be from 128Mi to 32Gi, got '$memory'"
timeout_seconds=$(duration_seconds "$timeout") ||
    die "--timeout must be a duration such as 60s, 5m or 1h, got '$timeout'"
((timeout_seconds >= 1 && timeout_seconds <= MAX_TIMEOUT_SECONDS)) ||
    die "--timeout must be from 1s to ${MAX_TIMEOUT_SECONDS}s (60 min), got '$timeout'"
if [[ -n $cpu ]]; then
    cpu_millicores "$cpu" >/dev/null || die "--cpu must look like 0.5, 1, 2 or 1000m, got '$cpu'"
fi
if ((10#$concurrency > 1)); then
    if [[ -n $cpu ]]; then
        (($(cpu_millicores "$cpu") >= 1000)) ||
            die "--concurrency $concurrency needs --cpu 1 or more, got --cpu $cpu"
    elif [[ $target == functions ]]; then
        die "--concurrency $concurrency needs --cpu 1 or more on Cloud Functions gen2 (give --cpu)"
    fi
fi

if [[ -n $bigquery$prediction_log && $action != deploy ]]; then
    die "--bigquery and --prediction-log go with a plain deploy, not --$action"
fi
if [[ -n $bigquery ]]; then
    [[ $bigquery =~ ^[A-Za-z0-9_]{1,1024}\.[A-Za-z_][A-Za-z0-9_]{0,255}$ ]] ||
        die "--bigquery needs DATASET.FUNCTION (letters, digits and '_'; the function not starting with a digit), got '$bigquery'"
    bigquery_connection=${bigquery_connection:-$name}
    [[ $bigquery_connection =~ ^[A-Za-z0-9_-]{1,64}$ ]] ||
        die "--bigquery-connection must be 1-64 letters, digits, '_' or '-', got '$bigquery_connection'"
    bigquery_location=${bigquery_location:-$region}
    [[ $bigquery_location =~ ^[A-Za-z0-9-]+$ ]] ||
        die "--bigquery-location must be a BigQuery location such as us-central1, US or EU, got '$bigquery_location'"
    if [[ ! $bigquery_batch_rows =~ ^[0-9]{1,6}$ ]] || ((10#$bigquery_batch_rows < 1)); then
        die "--bigquery-batch-rows must be a whole number of rows, at least 1, got '$bigquery_batch_rows'"
    fi
    bigquery_batch_rows=$((10#$bigquery_batch_rows))
    bigquery_output=${bigquery_output:-$DEFAULT_BIGQUERY_OUTPUT}
elif [[ -n $bigquery_output$bigquery_connection$bigquery_location$bigquery_manifest ]]; then
    die "--bigquery-output, --bigquery-connection, --bigquery-location and --bigquery-manifest need --bigquery DATASET.FUNCTION"
fi
if [[ -n $prediction_log ]]; then
    [[ $prediction_log =~ ^([a-z][-a-z0-9.:]*[a-z0-9])\.([A-Za-z0-9_]{1,1024})$ ]] ||
        die "--prediction-log needs PROJECT.DATASET (the BigQuery dataset the entries go to), got '$prediction_log'"
    log_project=${BASH_REMATCH[1]}
    log_dataset=${BASH_REMATCH[2]}
    prediction_log_rate=${prediction_log_rate:-$DEFAULT_PREDICTION_LOG_RATE}
    if [[ ! $prediction_log_rate =~ ^([0-9]{1,3}(\.[0-9]{0,9})?|\.[0-9]{1,9})$ ]] ||
        ! awk -v rate="$prediction_log_rate" 'BEGIN { exit !(rate > 0 && rate <= 1) }'; then
        die "--prediction-log-rate must be a number with 0 < R <= 1 (the share of requests logged), got '$prediction_log_rate'"
    fi
elif [[ -n $prediction_log_rate ]]; then
    die "--prediction-log-rate needs --prediction-log PROJECT.DATASET (where the entries go)"
fi

if ! command -v gcloud >/dev/null; then
    if ((dry_run)); then
        warn "gcloud is not installed: printing the commands anyway"
    else
        die "gcloud is not installed or not on PATH: see https://cloud.google.com/sdk/docs/install"
    fi
fi
if [[ -z $project ]] && command -v gcloud >/dev/null; then
    project=$(gcloud config get-value project 2>/dev/null || true)
fi
[[ -n $project ]] ||
    die "no project: pass --project, set DEPLOY_PROJECT or GOOGLE_CLOUD_PROJECT, or run 'gcloud config set project ID'"

# A function's traffic is its Cloud Run service's traffic (same name): rollouts go through it.
describe_service=(gcloud run services describe "$name" --project="$project" --region="$region"
    --format=json)
update_traffic=(gcloud run services update-traffic "$name" --project="$project" --region="$region")
if [[ $action == promote ]]; then
    run "${update_traffic[@]}" --to-latest
    exit 0
fi
if [[ $action == rollback ]]; then
    if ((dry_run)); then
        print_command "${describe_service[@]}"
    else
        service=$(service_json)
        [[ -n $(traffic_field tag "$STABLE_TAG" <<<"$service") ]] ||
            die "no revision of $name is tagged '$STABLE_TAG': nothing to roll back to (a --canary rollout tags the revision it replaces)"
    fi
    run "${update_traffic[@]}" --to-tags="$STABLE_TAG=100"
    exit 0
fi

[[ -d $source_dir ]] || die "source folder not found: $source_dir"
source_dir=$(cd "$source_dir" && pwd)
for required in main.py requirements.txt .gcloudignore; do
    [[ -f $source_dir/$required ]] || die "$required is missing in $source_dir"
done
model_dir=${model_dir:-$source_dir/model}

if [[ -n $upload_model ]]; then
    [[ $upload_model == gs://?* ]] || die "--upload-model needs gs://BUCKET/PREFIX/, got '$upload_model'"
    [[ -z $model_uri || $model_uri == "$upload_model" || $model_uri == "$upload_model/" ]] ||
        die "--upload-model sets MODEL_URI itself: drop --model-uri / MODEL_URI ($model_uri)"
    [[ -f $model_dir/manifest.json ]] ||
        die "model missing: $model_dir/manifest.json not found (train first, or pass --model-dir)"
    upload_model=${upload_model%/}/
    local_sha256=$(sha256_of "$model_dir/manifest.json")
    [[ -z $model_sha256 || $model_sha256 == "$local_sha256" ]] ||
        die "MODEL_SHA256 ($model_sha256) does not match $model_dir/manifest.json ($local_sha256)"
    model_uri=$upload_model
    model_sha256=$local_sha256
elif [[ -z $model_uri ]]; then
    [[ -f $source_dir/model/manifest.json ]] ||
        die "model missing: $source_dir/model/manifest.json not found (train first, or use --model-uri / --upload-model)"
elif [[ $model_uri != gs://* && $model_uri != /* ]]; then
    [[ -f $source_dir/$model_uri/manifest.json ]] ||
        die "model missing: $source_dir/$model_uri/manifest.json not found"
    # The function reads it relative to the uploaded folder: it must be in the upload.
    if command -v gcloud >/dev/null; then
        listed_manifest=${model_uri#./}
        listed_manifest=${listed_manifest%/}/manifest.json
        gcloud meta list-files-for-upload "$source_dir" 2>/dev/null | grep -qxF "$listed_manifest" ||
            die "--model-uri $model_uri is not uploaded: .gcloudignore leaves out $listed_manifest (use a folder it lets in, such as model/, or --upload-model)"
    fi
fi
if [[ $model_uri == gs://* && -z $model_sha256 ]] && ((!allow_unpinned)); then
    die "remote model $model_uri has no pin: set MODEL_SHA256 (or --model-sha256) to the sha256 of its manifest.json, use --upload-model, or pass --allow-unpinned"
fi
if [[ -n $model_sha256 && ! $model_sha256 =~ ^[0-9a-f]{64}$ ]]; then
    die "MODEL_SHA256 must be 64 hex characters (a sha256), got '$model_sha256'"
fi

# --bigquery types the SQL function from the deployed model's manifest: read it locally.
if [[ -n $bigquery ]]; then
    if [[ -z $bigquery_manifest ]]; then
        if [[ -n $upload_model ]]; then
            bigquery_manifest=$model_dir/manifest.json
        elif [[ -z $model_uri ]]; then
            bigquery_manifest=$source_dir/model/manifest.json
        elif [[ $model_uri == gs://* || $model_uri == /* ]]; then
            die "--bigquery reads the model's features from its manifest.json: for --model-uri $model_uri pass a local copy with --bigquery-manifest PATH"
        else
            bigquery_manifest=$source_dir/${model_uri%/}/manifest.json
        fi
    fi
    [[ -f $bigquery_manifest ]] || die "--bigquery: manifest not found: $bigquery_manifest"
    if [[ -n $model_sha256 ]]; then
        [[ $(sha256_of "$bigquery_manifest") == "$model_sha256" ]] ||
            die "--bigquery-manifest $bigquery_manifest is not the deployed model's: its sha256 differs from MODEL_SHA256 ($model_sha256)"
    fi
    checked=$(remote_function check "$bigquery_manifest" "$bigquery_output") || die "$checked"
fi
if [[ -n $bigquery$prediction_log ]] && ((!dry_run)); then
    command -v bq >/dev/null ||
        die "bq is not installed or not on PATH: it ships with the gcloud CLI (gcloud components install bq)"
fi

# functions-framework serves WORKERS processes of THREADS threads. One process per whole
# vCPU (each holds its own copy of the model; Python runs one thread at a time per process),
# never more processes than requests; the threads share the instance's concurrency out.
workers=1
if [[ -n $cpu ]]; then
    workers=$(($(cpu_millicores "$cpu") / 1000))
    ((workers >= 1)) || workers=1
    ((workers <= 10#$concurrency)) || workers=$((10#$concurrency))
fi
threads=$(((10#$concurrency + workers - 1) / workers))
env_vars=("THREADS=$threads" "WORKERS=$workers" "OPENBLAS_NUM_THREADS=1")
[[ -n $model_uri ]] && env_vars+=("MODEL_URI=$model_uri")
[[ -n $model_sha256 ]] && env_vars+=("MODEL_SHA256=$model_sha256")
((allow_unpinned)) && env_vars+=("MODEL_ALLOW_UNPINNED=true")
[[ -n $prediction_log ]] && env_vars+=("PREDICTION_LOG_RATE=$prediction_log_rate")
max_rows=$FUNCTION_MAX_ROWS
for pair in ${extra_env[@]+"${extra_env[@]}"}; do
    [[ $pair =~ ^[A-Za-z_][A-Za-z0-9_]*= ]] || die "--env needs KEY=VALUE, got '$pair'"
    [[ -n $prediction_log && $pair == PREDICTION_LOG_RATE=* ]] &&
        die "--prediction-log sets PREDICTION_LOG_RATE itself: use --prediction-log-rate, not --env $pair"
    [[ $pair =~ ^MAX_ROWS=([0-9]{1,9})$ ]] && max_rows=$((10#${BASH_REMATCH[1]}))
    env_vars+=("$pair")
done
if [[ -n $bigquery ]] && ((bigquery_batch_rows > max_rows)); then
    die "--bigquery-batch-rows $bigquery_batch_rows is above the function's MAX_ROWS ($max_rows): BigQuery would send batches it refuses"
fi
# gcloud splits KEY=VALUE lists on commas; switch the delimiter to '@' when a value has one
# (see 'gcloud topic escaping'). A value with both cannot be passed this way.
delimiter=,
for pair in "${env_vars[@]}"; do
    [[ $pair == *,* ]] && delimiter='@'
done
if [[ $delimiter == @ ]]; then
    for pair in "${env_vars[@]}"; do
        [[ $pair != *@* ]] ||
            die "--env values may hold ',' or '@' but not both (deploy.sh passes them to gcloud separated by one of the two), got '$pair'"
    done
fi
settings_error=$(check_settings "${env_vars[@]}") || die "$settings_error"
env_flag=$(IFS=$delimiter; printf '%s' "${env_vars[*]}")
[[ $delimiter == , ]] || env_flag="^${delimiter}^${env_flag}"

# A canary replaces the revision that serves all requests now; refuse when none does.
if [[ $action == canary ]]; then
    if ((dry_run)); then
        stable_revision=SERVING_REVISION
    else
        stable_revision=$(service_json | traffic_field serving)
        [[ -n $stable_revision ]] ||
            die "no revision of $name serves 100 % of requests (a canary under way?): --promote or --rollback first"
    fi
fi

# ---------------------------------------------------------------------------------------
# The commands.
# ---------------------------------------------------------------------------------------

common=(--project="$project" --region="$region" --memory="$memory")
[[ -n $cpu ]] && common+=(--cpu="$cpu")
common+=(
    --min-instances="$min_instances" --max-instances="$max_instances"
    --concurrency="$concurrency" --timeout="$timeout"
)
[[ -n $service_account ]] && common+=(--service-account="$service_account")
if ((public)); then
    common+=(--allow-unauthenticated)
else
    common+=(--no-allow-unauthenticated)
fi
common+=(--set-env-vars="$env_flag")

after_deploy=()
if [[ $target == functions ]]; then
    deploy=(gcloud functions deploy "$name" --gen2 --runtime="$runtime"
        --entry-point="$ENTRY_POINT" --trigger-http --source="$source_dir" "${common[@]}")
    # A plain deploy serves at once; a canary leaves the traffic where it was pinned.
    [[ $action == deploy ]] && deploy+=(--serve-all-traffic-latest-revision)
    describe=(gcloud functions describe "$name" --project="$project" --region="$region"
        --format='value(serviceConfig.uri)')
    # 'gcloud functions deploy' has no boost flag and writes the Cloud Run revision template
    # whole, dropping the boost: set it (and the canary's tag) on the service after it.
    update_service=(gcloud run services update "$name" --project="$project" --region="$region")
    if [[ $action == canary ]]; then
        after_deploy=("${update_service[@]}" --no-traffic --tag="$CANARY_TAG")
        ((cpu_boost)) && after_deploy+=(--cpu-boost)
    elif ((cpu_boost)); then
        after_deploy=("${update_service[@]}" --cpu-boost)
    fi
else
    deploy=(gcloud run deploy "$name" --source="$source_dir" --function="$ENTRY_POINT"
        --base-image="$runtime" "${common[@]}")
    if ((cpu_boost)); then
        deploy+=(--cpu-boost)
    else
        deploy+=(--no-cpu-boost)
    fi
    [[ $action == canary ]] && deploy+=(--no-traffic --tag="$CANARY_TAG")
    describe=(gcloud run services describe "$name" --project="$project" --region="$region"
        --format='value(status.url)')
fi
deploy+=(${extra_args[@]+"${extra_args[@]}"})

if ((public)); then
    warn "--public: anyone on the internet can call $name and every call is billed to $project"
fi

if [[ -n $upload_model ]]; then
    artifacts=()
    for path in "$model_dir"/*; do
        [[ -d $path ]] && die "--upload-model copies a flat folder; $path is a subfolder"
        [[ ${path##*/} == manifest.json ]] || artifacts+=("$path")
    done
    # Artifacts first, the manifest last: a reader never sees a manifest whose files are
    # not there yet.
    if ((${#artifacts[@]})); then
        run gcloud storage cp "${artifacts[@]}" "$upload_model" --project="$project"
    fi
    run gcloud storage cp "$model_dir/manifest.json" "$upload_model" --project="$project"
fi

if [[ $action == canary ]]; then
    # Pin all traffic on the serving revision (a new revision then gets none) and tag it:
    # --rollback sends the traffic back to that tag.
    run "${update_traffic[@]}" --to-revisions="$stable_revision=100" \
        --update-tags="$STABLE_TAG=$stable_revision"
fi
run "${deploy[@]}"
((${#after_deploy[@]} == 0)) || run "${after_deploy[@]}"
if [[ $action == canary ]]; then
    if ((dry_run)); then
        print_command "${describe_service[@]}"
        canary_url=CANARY_URL
    else
        canary_url=$(service_json | traffic_field tag "$CANARY_TAG")
        [[ -n $canary_url ]] ||
            die "the new revision has no '$CANARY_TAG' tag URL: no traffic moved, $stable_revision still serves all"
    fi
    check_health "$canary_url"
    run "${update_traffic[@]}" --to-tags="$CANARY_TAG=$canary_percent"
    ((dry_run)) && exit 0
    cat <<EOF

Canary of $name: $canary_percent % of requests go to the new revision, the rest to $stable_revision ('$STABLE_TAG').
The new revision alone: $canary_url
Compare the two model versions: every answer and every request log line carries model_version;
in Cloud Logging, count the requests and the errors (severity>=ERROR) per jsonPayload.model_version.

  curl -s -H "Authorization: Bearer \$(gcloud auth print-identity-token)" $(quote "$canary_url/health")
  ./deploy.sh --project $(quote "$project") --region $(quote "$region") --name $name --promote    # 100 % to the new revision
  ./deploy.sh --project $(quote "$project") --region $(quote "$region") --name $name --rollback   # 100 % back to $stable_revision
EOF
    exit 0
fi
if ((dry_run)); then
    [[ -n $bigquery ]] && print_command "${describe[@]}"
    url=FUNCTION_URL
else
    url=$("${describe[@]}")
    cat <<EOF

Deployed $name: $url
Call it with an identity token (private: the caller needs roles/run.invoker):

  curl -s -H "Authorization: Bearer \$(gcloud auth print-identity-token)" $(quote "$url/health")
  curl -s -H "Authorization: Bearer \$(gcloud auth print-identity-token)" -H 'Content-Type: application/json' --data @request.json $(quote "$url")
EOF
fi
if [[ -n $bigquery ]]; then
    create_remote_function
fi
if [[ -n $prediction_log ]]; then
    route_prediction_log
fi
