#!/usr/bin/env bash
# Load the X Education leads (not bundled: its license is unknown).
# Usage: examples/x_education/load.sh DB DATA_DIR     (DB: a file path or database URL)
set -euo pipefail
db=${1:?usage: load.sh DB DATA_DIR}; data=${2:?usage: load.sh DB DATA_DIR}
here=$(cd "$(dirname "$0")" && pwd)
dealflow import leads "$data/Leads.csv" --mapping "$here/leads.toml" --db "$db"
