#!/usr/bin/env bash
# Load Maven CRM (accounts, products, sales teams, the pipeline) into a dealflow store.
# Usage: examples/maven_crm/load.sh DB DATA_DIR     (DB: a file path or database URL)
set -euo pipefail
db=${1:?usage: load.sh DB DATA_DIR}; data=${2:?usage: load.sh DB DATA_DIR}
here=$(cd "$(dirname "$0")" && pwd)
dealflow import accounts "$data/accounts.csv" --mapping "$here/accounts.toml" --db "$db"
dealflow import products "$data/products.csv" --mapping "$here/products.toml" --db "$db"
dealflow import owners "$data/sales_teams.csv" --mapping "$here/sales_teams.toml" --db "$db"
dealflow import deals "$data/sales_pipeline.csv" --mapping "$here/sales_pipeline.toml" --db "$db"
