#!/usr/bin/env bash
# One-shot `airflow-init` service: migrate the metadata database, then give the
# admin user of Airflow's simple auth manager the password from .env (the
# manager would otherwise generate one and print it to the log).
set -euo pipefail

# Refuse the placeholders of .env.example (container variable -> its name in .env).
for pair in AIRFLOW__CORE__FERNET_KEY:AIRFLOW_FERNET_KEY AIRFLOW__API_AUTH__JWT_SECRET:AIRFLOW_JWT_SECRET \
            AIRFLOW_ADMIN_PASSWORD:AIRFLOW_ADMIN_PASSWORD AIRFLOW__DATABASE__SQL_ALCHEMY_CONN:POSTGRES_PASSWORD; do
    variable="${pair%%:*}"
    value="${!variable:-}"
    if [ -z "$value" ] || [[ "$value" == change-me* ]] || [[ "$value" == *:change-me* ]]; then
        echo "airflow-init: set a real ${pair#*:} in .env (see .env.example)" >&2
        exit 1
    fi
done

airflow db migrate

python - <<'PY'
import json
import os

path = os.environ["AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE"]
user = os.environ["AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS"].split(":")[0]
descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
with os.fdopen(descriptor, "w") as handle:
    json.dump({user: os.environ["AIRFLOW_ADMIN_PASSWORD"]}, handle)
print(f"airflow-init: database migrated, password of {user!r} set from AIRFLOW_ADMIN_PASSWORD")
PY
