#!/usr/bin/env bash
# Runs every test of qsbackup on a fresh machine: installs what the tests need (a Python venv
# with moto and cfn-lint, the CDK app's npm packages), then runs the Rust and CDK suites.
# The tests start their own servers (the QuickSight emulator in-process, moto on a free port).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD

echo "== Python tools (.venv)"
[ -x .venv/bin/python ] || python3 -m venv .venv
.venv/bin/pip install --quiet --disable-pip-version-check -r tests/requirements.txt
export PATH="$root/.venv/bin:$PATH"

echo "== CDK packages (the Rust state-machine test runs the synthesized workflow with them)"
(cd cdk && npm ci --no-audit --no-fund --loglevel=error)

echo "== Rust: format and lints"
cargo fmt --all --check
cargo clippy --workspace --all-targets --quiet -- -D warnings

echo "== Rust: tests"
cargo test --workspace

echo "== CDK: jest (templates, snapshots, cdk-nag, asl-validator), cfn-lint"
(cd cdk && npm test)
