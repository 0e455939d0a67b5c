# synthmix tasks. `just --list` shows them.

set shell := ["bash", "-euo", "pipefail", "-c"]

# Real data: env SYNTHMIX_DATA, else data/ if it exists, else the shared
# ../shared/data beside the clone if that exists, else data/ (fetched there by
# `just data-fetch` or by a reproduction). Exported as an absolute path: the
# tests and the pipeline runner start programs in other working directories.
export SYNTHMIX_DATA := absolute_path(env_var_or_default("SYNTHMIX_DATA", if path_exists(justfile_directory() / "data") == "true" { justfile_directory() / "data" } else if path_exists(justfile_directory() / "../shared/data") == "true" { justfile_directory() / "../shared/data" } else { justfile_directory() / "data" }))

default:
    @just --list

# Build every binary (release).
build:
    cargo build --release --workspace

# Its binaries need the NVIDIA driver just to start, so they stay apart from
# target/release. No GPU or toolkit needed here: NVIDIA's CUDA 13.0 wheels are
# fetched into .cuda-toolchain/ once (~600 MB). Args go to cargo build: none
# builds `synthmix` (every stage in one file), `--workspace` all binaries.
# CUDA build (candle's `cuda` feature) into target/cuda/release/.
build-cuda *ARGS:
    bash scripts/build-cuda.sh {{ARGS}}

# Run the whole test suite (unit, format and end-to-end tests on real data).
# The end-to-end tests run every stage binary, so all binaries are built first
# (`cargo test` builds only the tested package's own binaries).
test:
    cargo build --workspace --bins
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

# Args go to the runner, e.g. `just reproduce -j 1`, `just reproduce --dry-run`.
# Without CIFAR-10: REPRODUCE_DATASETS="mnist fashion-mnist" just reproduce --skip '*cifar-10*'
# Report in artifacts/report/paper/.
# The paper's whole study (pipelines/paper.toml): 3 datasets, every mix, 3 seeds.
reproduce *ARGS: build (_ensure-data env_var_or_default("REPRODUCE_DATASETS", "mnist fashion-mnist cifar-10"))
    target/release/synthmix run pipelines/paper.toml {{ARGS}}
    @echo "report: artifacts/report/paper/report.md"

# Report in artifacts/report/quick/. Run again: everything comes from the cache.
# The paper's graph for MNIST at reduced sizes (pipelines/quick.toml; minutes on 2 cores).
reproduce-quick *ARGS: build (_ensure-data "mnist")
    target/release/synthmix run pipelines/quick.toml {{ARGS}}
    @echo "report: artifacts/report/quick/report.md"

# Which targets of a pipeline are up to date, and why the others are not.
status SPEC="pipelines/quick.toml":
    cargo run --release -q -p synthmix -- status {{SPEC}}

# Present and checksum-verified, or fetched; a clear error when neither.
_ensure-data DATASETS:
    @target/release/synthmix data ensure {{DATASETS}} || { echo "error: the data for this pipeline is not in $SYNTHMIX_DATA and could not be fetched; see README, Data (or set SYNTHMIX_DATA)" >&2; exit 1; }
