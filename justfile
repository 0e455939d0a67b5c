# synthmix tasks. `just --list` shows them.

set shell := ["bash", "-euo", "pipefail", "-c"]

# Real data: env SYNTHMIX_DATA, else data/ (fetch it with `just data-fetch`).
export SYNTHMIX_DATA := env_var_or_default("SYNTHMIX_DATA", "data")

default:
    @just --list

# Build every binary (release).
build:
    cargo build --release --workspace

# Run the whole test suite (unit, format and end-to-end tests on real data).
test:
    cargo test --workspace

# Download the official dataset files into $SYNTHMIX_DATA, checksum-verified.
data-fetch *DATASETS:
    cargo run --release -q -p synthmix -- data fetch {{DATASETS}}

# Verify the data dir against the checksum table.
data-verify *DATASETS:
    cargo run --release -q -p synthmix -- data verify {{DATASETS}}

# Images/s of every stage's hot loop against PyTorch on this CPU, same run
# (needs `pip install -r scripts/requirements-bench.txt`). Args go to the bench,
# e.g. `just bench --seconds 8 --strict`.
bench *ARGS:
    cargo bench --bench stages -- {{ARGS}}
