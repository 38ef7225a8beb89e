#!/usr/bin/env bash
# Deploy the model server (main.py, entry point `predict`) as a private HTTPS endpoint on
# Cloud Functions (gen2) or Cloud Run functions, roll a new model out as a canary, promote
# or roll it back. Run `./deploy.sh --help` for the options.
#
# The work is done in Python by deploying/ (deploying/cli.py), which checks every value
# before anything runs with the function's own code (serving/). This wrapper finds a Python
# for it: the repo's .venv (make serve or make test creates it), else python3 on PATH.
set -euo pipefail

# The Python runtimes the function may be deployed on: each proven by
# tests/deploying/test_deploy_runtimes.py (requirements.txt installs, every format answers).
SUPPORTED_RUNTIMES=(python311 python312 python313)

script_path=${BASH_SOURCE[0]}
[[ $script_path == */* ]] || script_path=./$script_path
SCRIPT_DIR=$(cd "${script_path%/*}" && pwd)

python=$SCRIPT_DIR/.venv/bin/python
if [[ ! -x $python ]]; then
    python=$(command -v python3) || {
        printf 'deploy.sh: error: %s\n' "python3 is needed to run deploy.sh (deploying/ is Python): install Python 3.11 or newer, or run 'make serve' once to create .venv" >&2
        exit 1
    }
fi

# deploying/ and serving/ are imported from this folder, whatever the current folder holds.
exec "$python" -c 'import sys; sys.path[0] = sys.argv[1]; from deploying.cli import run_from_shell; run_from_shell()' \
    "$SCRIPT_DIR" "${SUPPORTED_RUNTIMES[*]}" "$@"
