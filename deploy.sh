#!/usr/bin/env bash
# Deploy the model server (main.py, entry point `predict`) as a private HTTPS endpoint on
# Cloud Functions (gen2) or Cloud Run functions. Run `./deploy.sh --help` for the options.
set -euo pipefail

# ---------------------------------------------------------------------------------------
# Defaults: one block, so cold-start measurements can retune them in one place.
# ---------------------------------------------------------------------------------------
DEFAULT_TARGET=functions        # functions (gcloud functions deploy --gen2) | run
DEFAULT_REGION=us-central1
DEFAULT_NAME=sklearn-predict
DEFAULT_RUNTIME=python312       # one of SUPPORTED_RUNTIMES
DEFAULT_MEMORY=512Mi           # chosen from bench/tiers.py: README, "Choosing memory and CPU"
DEFAULT_CPU=                    # empty: left to gcloud (derived from memory on gen2, 1 on Run)
DEFAULT_MIN_INSTANCES=0         # scale to zero: no idle cost, cold starts after idle
DEFAULT_MAX_INSTANCES=10        # caps cost and load on anything downstream
DEFAULT_CONCURRENCY=1           # requests per instance; >1 needs --cpu 1 or more
DEFAULT_TIMEOUT=60s
SUPPORTED_RUNTIMES=(python311 python312)   # what requirements.txt is pinned for
ENTRY_POINT=predict

script_path=${BASH_SOURCE[0]}
[[ $script_path == */* ]] || script_path=./$script_path
SCRIPT_DIR=$(cd "${script_path%/*}" && pwd)

usage() {
    cat <<EOF
Usage: ./deploy.sh [OPTIONS] [-- EXTRA_GCLOUD_ARGS...]

Deploys main.py (entry point '${ENTRY_POINT}') with an HTTP trigger, private by default.
Each option falls back to the environment variable in brackets, then to the default.

Where:
  --project ID            Google Cloud project [DEPLOY_PROJECT, GOOGLE_CLOUD_PROJECT,
                          CLOUDSDK_CORE_PROJECT, then 'gcloud config get-value project']
  --region REGION         region [DEPLOY_REGION] (default: ${DEFAULT_REGION})
  --name NAME             function or service name [DEPLOY_NAME] (default: ${DEFAULT_NAME})
  --target TARGET         functions: gcloud functions deploy --gen2 --trigger-http
                          run: gcloud run deploy --source --function (Cloud Run functions)
                          [DEPLOY_TARGET] (default: ${DEFAULT_TARGET})
  --source DIR            folder to upload, filtered by its .gcloudignore [DEPLOY_SOURCE]
                          (default: the folder of this script)

Instance size and scaling:
  --runtime RUNTIME       ${SUPPORTED_RUNTIMES[*]} [DEPLOY_RUNTIME] (default: ${DEFAULT_RUNTIME})
  --memory SIZE           e.g. 512Mi, 1Gi [DEPLOY_MEMORY] (default: ${DEFAULT_MEMORY})
  --cpu CPU               e.g. 0.583, 1, 2 [DEPLOY_CPU] (default: left to gcloud: derived
                          from memory on Cloud Functions, 1 on Cloud Run)
  --min-instances N       instances kept warm [DEPLOY_MIN_INSTANCES] (default: ${DEFAULT_MIN_INSTANCES})
  --max-instances N       scaling cap [DEPLOY_MAX_INSTANCES] (default: ${DEFAULT_MAX_INSTANCES})
  --concurrency N         requests per instance; N > 1 needs --cpu 1 or more. Sets
                          functions-framework's WORKERS to the whole vCPUs (at most N)
                          and THREADS to N shared out among them
                          [DEPLOY_CONCURRENCY] (default: ${DEFAULT_CONCURRENCY})
  --timeout DURATION      request timeout [DEPLOY_TIMEOUT] (default: ${DEFAULT_TIMEOUT})
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
                          MAX_BODY_BYTES, LOG_LEVEL (repeatable)

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
extra_env=()
extra_args=()

while (($#)); do
    case $1 in
        -h | --help) usage; exit 0 ;;
        --dry-run) dry_run=1 ;;
        --public) public=1 ;;
        --allow-unpinned) allow_unpinned=1 ;;
        --) shift; extra_args=("$@"); break ;;
        --*=*) set -- "${1%%=*}" "${1#*=}" "${@:2}"; continue ;;
        --project | --region | --name | --target | --source | --runtime | --memory | --cpu | \
        --min-instances | --max-instances | --concurrency | --timeout | --service-account | \
        --model-uri | --model-sha256 | --upload-model | --model-dir | --env)
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
[[ " ${SUPPORTED_RUNTIMES[*]} " == *" $runtime "* ]] ||
    die "--runtime must be one of ${SUPPORTED_RUNTIMES[*]} (what requirements.txt supports), got '$runtime'"
for pair in "min-instances:$min_instances" "max-instances:$max_instances" "concurrency:$concurrency"; do
    [[ ${pair#*:} =~ ^[0-9]+$ ]] || die "--${pair%%:*} must be a whole number, got '${pair#*:}'"
done
((10#$min_instances <= 10#$max_instances)) ||
    die "--min-instances ($min_instances) is above --max-instances ($max_instances)"
((10#$concurrency >= 1)) || die "--concurrency must be at least 1"
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
fi
if [[ $model_uri == gs://* && -z $model_sha256 ]] && ((!allow_unpinned)); then
    die "remote model $model_uri has no pin: set MODEL_SHA256 (or --model-sha256) to the sha256 of its manifest.json, use --upload-model, or pass --allow-unpinned"
fi
if [[ -n $model_sha256 && ! $model_sha256 =~ ^[0-9a-f]{64}$ ]]; then
    die "MODEL_SHA256 must be 64 hex characters (a sha256), got '$model_sha256'"
fi

# ---------------------------------------------------------------------------------------
# The commands.
# ---------------------------------------------------------------------------------------
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
env_vars=("THREADS=$threads" "WORKERS=$workers")
[[ -n $model_uri ]] && env_vars+=("MODEL_URI=$model_uri")
[[ -n $model_sha256 ]] && env_vars+=("MODEL_SHA256=$model_sha256")
((allow_unpinned)) && env_vars+=("MODEL_ALLOW_UNPINNED=true")
for pair in ${extra_env[@]+"${extra_env[@]}"}; do
    [[ $pair =~ ^[A-Za-z_][A-Za-z0-9_]*= ]] || die "--env needs KEY=VALUE, got '$pair'"
    env_vars+=("$pair")
done
# gcloud splits KEY=VALUE lists on commas; switch the delimiter when a value has one
# (see 'gcloud topic escaping').
delimiter=,
for pair in "${env_vars[@]}"; do
    [[ $pair == *,* ]] && delimiter='@'
done
env_flag=$(IFS=$delimiter; printf '%s' "${env_vars[*]}")
[[ $delimiter == , ]] || env_flag="^${delimiter}^${env_flag}"

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

if [[ $target == functions ]]; then
    deploy=(gcloud functions deploy "$name" --gen2 --runtime="$runtime"
        --entry-point="$ENTRY_POINT" --trigger-http --source="$source_dir" "${common[@]}")
    describe=(gcloud functions describe "$name" --project="$project" --region="$region"
        --format='value(serviceConfig.uri)')
else
    deploy=(gcloud run deploy "$name" --source="$source_dir" --function="$ENTRY_POINT"
        --base-image="$runtime" "${common[@]}")
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

run "${deploy[@]}"
((dry_run)) && exit 0

url=$("${describe[@]}")
cat <<EOF

Deployed $name: $url
Call it with an identity token (private: the caller needs roles/run.invoker):

  curl -s -H "Authorization: Bearer \$(gcloud auth print-identity-token)" $(quote "$url/health")
  curl -s -H "Authorization: Bearer \$(gcloud auth print-identity-token)" -H 'Content-Type: application/json' --data @request.json $(quote "$url")
EOF
