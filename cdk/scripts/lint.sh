#!/usr/bin/env bash
# cfn-lint over every synthesized template (all deployable examples + a central-vault app).
# Errors fail; warnings are printed. W3005 (a DependsOn that a Ref already implies) is how CDK
# writes IAM policy ordering, so it is ignored.
set -euo pipefail
cd "$(dirname "$0")/.."

CFN_LINT="${CFN_LINT:-}"
if [[ -z "$CFN_LINT" ]]; then
  if [[ -x ../.venv/bin/cfn-lint ]]; then CFN_LINT=../.venv/bin/cfn-lint
  elif command -v cfn-lint >/dev/null; then CFN_LINT=cfn-lint
  else
    echo "cfn-lint not found: python3 -m venv ../.venv && ../.venv/bin/pip install cfn-lint" >&2
    exit 1
  fi
fi

OUT=cdk.out.lint
QSBACKUP_SKIP_BUNDLING=1 npx ts-node --transpile-only scripts/synth-all.ts "$OUT"
mapfile -t templates < <(find "$OUT" -name '*.template.json' | sort)
echo "cfn-lint $("$CFN_LINT" --version | awk '{print $2}') on ${#templates[@]} templates"
"$CFN_LINT" --non-zero-exit-code error --ignore-checks W3005 -- "${templates[@]}"
echo "cfn-lint: ${#templates[@]} passed, 0 failed"
