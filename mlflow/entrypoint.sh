#!/bin/sh
# Start the MLflow tracking server with basic auth (docker-compose.yml service `mlflow`).
#
#   mlflow server --app-name basic-auth \
#     --backend-store-uri postgresql+psycopg2://mlflow:…@postgres:5432/mlflow  (via MLFLOW_BACKEND_STORE_URI)
#     "$@"   (compose passes --artifacts-destination s3://BUCKET/mlartifacts --serve-artifacts --host --port)
#
# The auth config (basic_auth.ini) cannot read environment variables, so it is rendered here from the
# template, into a private temporary folder, and handed to MLflow via MLFLOW_AUTH_CONFIG_PATH. The
# database password is URL-quoted for the URIs and "%"-escaped for configparser; it is passed through
# the environment, not the command line, so it does not show in `ps`.
set -eu

: "${MLFLOW_DB_PASSWORD:?MLFLOW_DB_PASSWORD is not set}"
: "${MLFLOW_AUTH_ADMIN_USERNAME:?MLFLOW_AUTH_ADMIN_USERNAME is not set}"
: "${MLFLOW_AUTH_ADMIN_PASSWORD:?MLFLOW_AUTH_ADMIN_PASSWORD is not set}"
: "${MLFLOW_FLASK_SERVER_SECRET_KEY:?MLFLOW_FLASK_SERVER_SECRET_KEY is not set}"
export MLFLOW_DB_HOST="${MLFLOW_DB_HOST:-postgres}"
export MLFLOW_DB_PORT="${MLFLOW_DB_PORT:-5432}"
export MLFLOW_DB_USER="${MLFLOW_DB_USER:-mlflow}"
export MLFLOW_DB_NAME="${MLFLOW_DB_NAME:-mlflow}"
export MLFLOW_AUTH_DB_NAME="${MLFLOW_AUTH_DB_NAME:-mlflow_auth}"
TEMPLATE="${MLFLOW_AUTH_TEMPLATE:-/opt/mlflow/basic_auth.ini}"

umask 077
CONFIG_DIR="$(mktemp -d)"
export MLFLOW_AUTH_CONFIG_PATH="$CONFIG_DIR/basic_auth.ini"

MLFLOW_BACKEND_STORE_URI="$(python - "$TEMPLATE" "$MLFLOW_AUTH_CONFIG_PATH" <<'PY'
import os
import sys
from urllib.parse import quote

env = os.environ
base = "postgresql+psycopg2://{}:{}@{}:{}/".format(
    quote(env["MLFLOW_DB_USER"], safe=""), quote(env["MLFLOW_DB_PASSWORD"], safe=""),
    env["MLFLOW_DB_HOST"], env["MLFLOW_DB_PORT"],
)
template, target = sys.argv[1], sys.argv[2]
auth_uri = base + env["MLFLOW_AUTH_DB_NAME"]
with open(template) as fh:
    text = fh.read()
if "@AUTH_DATABASE_URI@" not in text:
    sys.exit(f"{template}: no @AUTH_DATABASE_URI@ placeholder")
with open(target, "w") as fh:
    fh.write(text.replace("@AUTH_DATABASE_URI@", auth_uri.replace("%", "%%")))
print(base + env["MLFLOW_DB_NAME"])
PY
)"
export MLFLOW_BACKEND_STORE_URI

exec mlflow server --app-name basic-auth "$@"
