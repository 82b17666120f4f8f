#!/usr/bin/env bash
# Runs once, on the first start of the postgres container (empty data volume), as the superuser:
# one login role and database per component, passwords from the environment (see docker-compose.yml).
#   airflow -> airflow          mlflow -> mlflow (tracking + registry), mlflow_auth (basic-auth users)
#   optuna  -> optuna
# Identifiers and passwords are quoted by PostgreSQL (format %I / %L), never pasted into SQL.
set -euo pipefail

: "${AIRFLOW_DB_PASSWORD:?}" "${MLFLOW_DB_PASSWORD:?}" "${OPTUNA_DB_PASSWORD:?}"

create_role_and_databases() {
    local role=$1 password=$2
    shift 2
    psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname postgres \
         -v role="$role" -v password="$password" <<'SQL'
SELECT format('CREATE ROLE %I LOGIN PASSWORD %L', :'role', :'password')
 WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = :'role')
\gexec
SQL
    local db
    for db in "$@"; do
        psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname postgres \
             -v role="$role" -v db="$db" <<'SQL'
SELECT format('CREATE DATABASE %I OWNER %I', :'db', :'role')
 WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = :'db')
\gexec
SELECT format('REVOKE ALL ON DATABASE %I FROM PUBLIC', :'db')
\gexec
SQL
        echo "init-databases: database ${db} owned by ${role}"
    done
}

create_role_and_databases airflow "$AIRFLOW_DB_PASSWORD" airflow
create_role_and_databases mlflow "$MLFLOW_DB_PASSWORD" mlflow mlflow_auth
create_role_and_databases optuna "$OPTUNA_DB_PASSWORD" optuna
