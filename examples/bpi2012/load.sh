#!/usr/bin/env bash
# Load BPI Challenge 2012: events become stage changes, outcomes and activities; then the
# applications give each deal its amount and registration time.
# Usage: examples/bpi2012/load.sh DB DATA_DIR     (DB: a file path or database URL)
set -euo pipefail
db=${1:?usage: load.sh DB DATA_DIR}; data=${2:?usage: load.sh DB DATA_DIR}
here=$(cd "$(dirname "$0")" && pwd)
dealflow import events "$data/events.csv" --mapping "$here/events.toml" --db "$db"
dealflow import deals "$data/applications.csv" --mapping "$here/applications.toml" --db "$db"
