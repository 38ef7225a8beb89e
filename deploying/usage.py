"""deploy.sh --help: every option, its environment fallback and its default."""

from __future__ import annotations

from collections.abc import Sequence

from deploying import options
from deploying.commands import CANARY_TAG, ENTRY_POINT, STABLE_TAG

USAGE = """\
Usage: ./deploy.sh [OPTIONS] [-- EXTRA_GCLOUD_ARGS...]
       ./deploy.sh [OPTIONS] --canary PERCENT
       ./deploy.sh --project ID [--region R] [--name N] --promote | --rollback

Deploys main.py (entry point '{ENTRY_POINT}') with an HTTP trigger, private by default.
Each option falls back to the environment variable in brackets, then to the default.

Where:
  --project ID            Google Cloud project [DEPLOY_PROJECT, GOOGLE_CLOUD_PROJECT,
                          CLOUDSDK_CORE_PROJECT, then 'gcloud config get-value project']
  --region REGION         region [DEPLOY_REGION] (default: {region})
  --name NAME             function or service name: lowercase letters, digits and '-',
                          starting with a letter, at most 63 characters
                          [DEPLOY_NAME] (default: {name})
  --target TARGET         functions: gcloud functions deploy --gen2 --trigger-http
                          run: gcloud run deploy --source --function (Cloud Run functions)
                          [DEPLOY_TARGET] (default: {target})
  --source DIR            folder to upload, filtered by its .gcloudignore [DEPLOY_SOURCE]
                          (default: the folder of this script)

Instance size and scaling:
  --runtime RUNTIME       {runtimes} [DEPLOY_RUNTIME] (default: {runtime})
  --memory SIZE           128Mi to 32Gi, e.g. 512Mi, 1Gi (units k, M, G, Ki, Mi, Gi)
                          [DEPLOY_MEMORY] (default: {memory})
  --cpu CPU               e.g. 0.583, 1, 2 [DEPLOY_CPU] (default: left to gcloud: derived
                          from memory on Cloud Functions, 1 on Cloud Run)
  --min-instances N       instances kept warm [DEPLOY_MIN_INSTANCES] (default: {min_instances})
  --max-instances N       scaling cap [DEPLOY_MAX_INSTANCES] (default: {max_instances})
  --concurrency N         requests per instance, 1 to 1000; N > 1 needs --cpu 1 or more. Sets
                          functions-framework's WORKERS to the whole vCPUs (at most N)
                          and THREADS to N shared out among them
                          [DEPLOY_CONCURRENCY] (default: {concurrency})
  --timeout DURATION      request timeout, 1s to 3600s (e.g. 60s, 5m, 1h)
                          [DEPLOY_TIMEOUT] (default: {timeout})
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
                          A model whose manifest.json lists "requirements" (libraries it
                          needs beyond requirements.txt, e.g. xgboost) is deployed with
                          exactly those lines added to the uploaded requirements.txt
                          (a copy of the upload; requirements.txt itself is not changed)
  --env KEY=VALUE         another handler setting, e.g. MODEL_RUNTIME=onnx, MAX_ROWS=1000,
                          MAX_BODY_BYTES, LOG_LEVEL (repeatable); checked with the
                          function's own parser (serving/settings.py) before deploying.
                          Values may hold ',' or '@', not both (gcloud's list delimiter).
                          OPENBLAS_NUM_THREADS=1 is always set (one BLAS thread: a second
                          one only burns billed CPU at start-up)

Rollouts (both targets, through the Cloud Run service behind the function):
  --canary PERCENT        deploy as a new revision tagged '{CANARY_TAG}' with no traffic, check
                          its /health through its tag URL, then send it PERCENT % (1-99)
                          of requests. The revision serving before is tagged '{STABLE_TAG}'.
                          Health check token: DEPLOY_IDENTITY_TOKEN, else
                          'gcloud auth print-identity-token'
  --promote               send 100 % of requests to the newest revision
  --rollback              send 100 % back to the revision tagged '{STABLE_TAG}'

BigQuery (after the deploy):
  --bigquery DATASET.FUNCTION
                          make the model callable from SQL as PROJECT.DATASET.FUNCTION, a
                          remote function: a CLOUD_RESOURCE connection (reused if it exists),
                          the invoker role for its service account, CREATE OR REPLACE FUNCTION
                          with one typed parameter per feature of the model's manifest. Prints
                          a SELECT that scores a table
  --bigquery-output OUT   label, probabilities (JSON) or probability:CLASS (FLOAT64)
                          (default: {bigquery_output})
  --bigquery-connection ID  connection id (default: the function's name)
  --bigquery-location LOC the connection's location: the dataset's (default: --region)
  --bigquery-batch-rows N max_batching_rows, 1 to MAX_ROWS (default: {bigquery_batch_rows})
  --bigquery-manifest PATH  the model's manifest.json, needed for a gs:// --model-uri (default:
                          --model-dir's with --upload-model, else the local model folder's)
  --prediction-log PROJECT.DATASET
                          log a share of the requests (PREDICTION_LOG_RATE) and route those
                          entries into that BigQuery dataset with a Cloud Logging sink
                          named NAME-predictions, its writer given roles/bigquery.dataEditor
  --prediction-log-rate R share of requests logged, 0 < R <= 1 (default: {prediction_log_rate})

Access and control:
  --public                allow unauthenticated calls (anyone on the internet); warns
  --dry-run               print the exact commands, shell-quoted, and run nothing
  -h, --help              show this help
  -- ARGS...              passed to the gcloud deploy command as they are, e.g. -- --quiet

After a real deploy it prints the URL and an authenticated curl command.
"""


def usage(runtimes: Sequence[str]) -> str:
    """The help text, with the defaults and the runtimes deploy.sh supports."""
    defaults = {
        name.removeprefix("DEFAULT_").lower(): value
        for name, value in vars(options).items()
        if name.startswith("DEFAULT_")
    }
    return USAGE.format(
        **defaults,
        runtimes=" ".join(runtimes),
        ENTRY_POINT=ENTRY_POINT,
        CANARY_TAG=CANARY_TAG,
        STABLE_TAG=STABLE_TAG,
    )
