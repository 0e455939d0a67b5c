# synthmix tasks. `just --list` shows them; arguments after a recipe's name go
# to the command it runs. The data dir follows the binaries' own rule
# (--data-dir, SYNTHMIX_DATA, ./data, ../shared/data): see README, Data.

set shell := ["bash", "-euo", "pipefail", "-c"]

stages := "gan-train dpm-train synth-sample mix-build clf-train evaluate"

default:
    @just --list

# Build every binary (release): the one build the tests, the studies and `just install` share.
build:
    cargo build --release --workspace --bins

# Install synthmix into PREFIX/bin (default ~/.cargo/bin, on PATH with rustup) and the five stage names as symlinks to it (under a stage's name synthmix is that stage).
install PREFIX=(env_var("HOME") / ".cargo"): build
    install -d "{{PREFIX}}/bin"
    install -m 755 target/release/synthmix "{{PREFIX}}/bin/synthmix"
    for s in {{stages}}; do ln -sfn synthmix "{{PREFIX}}/bin/$s"; done
    @echo "installed synthmix into {{PREFIX}}/bin, and {{stages}} as links to it"

# CUDA build (candle's `cuda` feature) into target/cuda/release/; args go to cargo build.
build-cuda *ARGS:
    bash scripts/build-cuda.sh {{ARGS}}

# The whole test suite (unit, format, golden and end-to-end tests on real data), on the release build.
test *ARGS: build
    cargo test --release --workspace {{ARGS}}

# Download the official dataset files into the data dir, checksum-verified.
data-fetch *DATASETS: build
    target/release/synthmix data fetch {{DATASETS}}

# Verify the data dir against the checksum table.
data-verify *DATASETS: build
    target/release/synthmix data verify {{DATASETS}}

# Images/s of every stage's hot loop against PyTorch on this CPU, same run, and % of the measured fp32 peak (args to the bench, e.g. --no-peak); --e2e: whole stage processes (benches/e2e.rs).
bench *ARGS:
    #!/usr/bin/env bash
    set -euo pipefail
    if [[ " {{ARGS}} " == *" --e2e "* ]]; then
        # The e2e bench times the stage programs themselves: build them first.
        cargo build --release --workspace --bins
        cargo bench --bench e2e -- {{ARGS}}
    else
        cargo bench --bench stages -- {{ARGS}}
    fi

# The paper's study (pipelines/paper.toml); args to `synthmix run`, e.g. --skip '*cifar-10*'.
reproduce *ARGS: build (_ensure-data env_var_or_default("REPRODUCE_DATASETS", "mnist fashion-mnist cifar-10"))
    target/release/synthmix run pipelines/paper.toml {{ARGS}}
    @echo "report: artifacts/report/paper/report.md"

# The paper's graph for CIFAR-10 at reduced sizes (minutes; the official files or the JPEG copy); args to `synthmix run`.
reproduce-cifar-quick *ARGS: build (_ensure-data "cifar-10")
    target/release/synthmix run pipelines/cifar-quick.toml {{ARGS}}
    @echo "report: artifacts/report/cifar-quick/report.md"

# The paper's graph for MNIST at reduced sizes (minutes); args to `synthmix run`.
reproduce-quick *ARGS: build (_ensure-data "mnist")
    target/release/synthmix run pipelines/quick.toml {{ARGS}}
    @echo "report: artifacts/report/quick/report.md"

# Beyond the paper: class imbalance, scarce real data, the CAS gap (pipelines/regimes.toml); args to `synthmix run`.
regimes *ARGS: build (_ensure-data "mnist fashion-mnist")
    target/release/synthmix run pipelines/regimes.toml {{ARGS}}
    @echo "report: artifacts/report/regimes/report.md"

# The regimes study on CIFAR-10 (pipelines/regimes-cifar.toml: DCGANs, Deep CNNs; many hours on 2 cores); args to `synthmix run`.
regimes-cifar *ARGS: build (_ensure-data "cifar-10")
    target/release/synthmix run pipelines/regimes-cifar.toml {{ARGS}}
    @echo "report: artifacts/report/regimes-cifar/report.md"

# The strategies study on CIFAR-10 at 1 % and 10 % real (pipelines/strategies-cifar.toml; shares regimes-cifar's generators); args to `synthmix run`.
strategies-cifar *ARGS: build (_ensure-data "cifar-10")
    target/release/synthmix run pipelines/strategies-cifar.toml {{ARGS}}
    @echo "report: artifacts/report/strategies-cifar/report.md"

# The regimes study on MNIST at reduced sizes (minutes); args to `synthmix run`.
regimes-quick *ARGS: build (_ensure-data "mnist")
    target/release/synthmix run pipelines/regimes-quick.toml {{ARGS}}
    @echo "report: artifacts/report/regimes-quick/report.md"

# Strategies that close the synthetic-to-real gap: filtering, latent scaling, down-weighting, recycling, two-stage (pipelines/strategies.toml); args to `synthmix run`.
strategies *ARGS: build (_ensure-data "mnist fashion-mnist")
    target/release/synthmix run pipelines/strategies.toml {{ARGS}}
    @echo "report: artifacts/report/strategies/report.md"

# The strategies study on MNIST at reduced sizes (minutes); args to `synthmix run`.
strategies-quick *ARGS: build (_ensure-data "mnist")
    target/release/synthmix run pipelines/strategies-quick.toml {{ARGS}}
    @echo "report: artifacts/report/strategies-quick/report.md"

# Publish a study's report (Markdown, CSV, PNG, SVG and the HTML page; never weights) into results/STUDY/ (paper, regimes or strategies).
publish STUDY="paper":
    test -f artifacts/report/{{STUDY}}/report.md || { echo "error: no artifacts/report/{{STUDY}}/report.md: run the study first" >&2; exit 1; }
    rm -rf results/{{STUDY}} && mkdir -p results/{{STUDY}}
    cp artifacts/report/{{STUDY}}/*.md artifacts/report/{{STUDY}}/*.csv artifacts/report/{{STUDY}}/*.png results/{{STUDY}}/
    cp artifacts/report/{{STUDY}}/index.html results/{{STUDY}}/
    for f in artifacts/report/{{STUDY}}/*.svg; do [ -e "$f" ] && cp "$f" results/{{STUDY}}/; done; true
    cp artifacts/report/{{STUDY}}/run.json results/{{STUDY}}/
    @echo "results/{{STUDY}}/ now holds the report of artifacts/report/{{STUDY}}/"

# Which targets of a pipeline are up to date and why the others are not; args to `synthmix status`.
status SPEC="pipelines/quick.toml" *ARGS: build
    target/release/synthmix status {{SPEC}} {{ARGS}}

# Present and checksum-verified, or fetched; one error line when neither.
# `cifar-10` is satisfied by the official files or, where they are absent, by
# the verified JPEG copy (pipelines/paper.toml takes whichever is present).
_ensure-data DATASETS:
    #!/usr/bin/env bash
    set -euo pipefail
    sm=target/release/synthmix
    ds=()
    for d in {{DATASETS}}; do
        if [[ $d == cifar-10 ]] && ! $sm data verify -q cifar-10 >/dev/null 2>&1 \
            && $sm data verify -q cifar-10-jpeg >/dev/null 2>&1; then
            echo "cifar-10: the official files are absent; using the verified JPEG copy (cifar-10-jpeg)"
            continue
        fi
        ds+=("$d")
    done
    if (( ${#ds[@]} )); then $sm data ensure -q "${ds[@]}"; fi
