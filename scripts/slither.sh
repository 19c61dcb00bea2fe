#!/usr/bin/env bash
# Static analysis of contracts/ with Slither, offline.
#
#   scripts/slither.sh [extra slither options...]
#
# * Slither lives in its own venv (.venv-slither, created here if missing): slither-analyzer pins web3 < 8, the
#   project venv needs web3 8.
# * The compiler is npm's solc-js 0.8.37 through scripts/solc-js (no compiler download). crytic-compile gets one
#   solc standard-JSON input (the "solc-json" platform) built from tracecert/chain/compile.py's standard_json_input(),
#   so Slither sees exactly the pinned sources and settings (optimizer 200, prague, no metadata), plus every other
#   contracts/**/*.sol file, the AST output and the remapping @openzeppelin/ => node_modules/@openzeppelin/.
#   (crytic-compile's default "solc" platform runs `solc FILE --combined-json ...`, which solc-js cannot answer.)
# * Findings in node_modules (OpenZeppelin) are filtered out.
# * Exit status: 0 no High finding, 1 at least one High finding, 2 Slither or the compiler failed.
#
# Environment: SLITHER_VENV (default ROOT/.venv-slither), SLITHER_VERSION (pip requirement version, default 0.11.6),
# PYTHON (interpreter that creates the venv, default python3), SLITHER_JSON (also keep Slither's JSON report there).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

VENV="${SLITHER_VENV:-$ROOT/.venv-slither}"
SLITHER_VERSION="${SLITHER_VERSION:-0.11.6}"

if [[ ! -x "$VENV/bin/slither" ]]; then
  echo "slither.sh: creating $VENV with slither-analyzer==$SLITHER_VERSION" >&2
  "${PYTHON:-python3}" -m venv "$VENV"
  "$VENV/bin/python" -m pip install --quiet "slither-analyzer==$SLITHER_VERSION"
fi

for needed in node_modules/solc/soljson.js node_modules/@openzeppelin/contracts/package.json; do
  if [[ ! -e "$needed" ]]; then
    echo "slither.sh: $needed is missing: run 'npm ci' first" >&2
    exit 2
  fi
done
# scripts/solc-js runs on any Node >= 18; prefer the project's Node 22 when installed.
if [[ -x node_modules/node/bin/node ]]; then
  export PATH="$ROOT/node_modules/node/bin:$PATH"
fi

WORK="$(mktemp -d "${TMPDIR:-/tmp}/tracecert-slither.XXXXXX")"
trap 'rm -rf "$WORK"' EXIT
INPUT="$WORK/standard-input.json"
REPORT="$WORK/slither.json"

# The standard-JSON input: compile.py is loaded by file path (it needs only the standard library at import time),
# so the settings cannot drift from the ones that produce the committed artifacts.
"$VENV/bin/python" - "$ROOT" "$INPUT" <<'PY'
import importlib.util
import json
import sys
from pathlib import Path

root, out = Path(sys.argv[1]), Path(sys.argv[2])
spec = importlib.util.spec_from_file_location("_tracecert_chain_compile", root / "tracecert" / "chain" / "compile.py")
module = importlib.util.module_from_spec(spec)
spec.loader.exec_module(module)
data = module.standard_json_input(root)
for path in sorted((root / "contracts").rglob("*.sol")):
    data["sources"].setdefault(path.relative_to(root).as_posix(), {"content": path.read_text(encoding="utf-8")})
settings = data["settings"]
settings["remappings"] = ["@openzeppelin/=node_modules/@openzeppelin/"]
settings["outputSelection"] = {
    "*": {
        "*": ["abi", "metadata", "devdoc", "userdoc", "evm.bytecode", "evm.deployedBytecode"],
        "": ["ast"],
    }
}
out.write_text(json.dumps(data), encoding="utf-8")
PY

status=0
"$VENV/bin/slither" "$INPUT" \
  --compile-force-framework solc-json \
  --solc scripts/solc-js \
  --solc-disable-warnings \
  --filter-paths node_modules \
  --exclude-dependencies \
  --fail-high \
  --json "$REPORT" \
  "$@" || status=$?

if [[ -n "${SLITHER_JSON:-}" && -f "$REPORT" ]]; then
  cp "$REPORT" "$SLITHER_JSON"
fi

"$VENV/bin/python" - "$REPORT" "$status" <<'PY'
import json
import sys
from collections import Counter
from pathlib import Path

report, status = Path(sys.argv[1]), int(sys.argv[2])
if not report.is_file():
    print(f"slither.sh: Slither wrote no report (exit status {status})", file=sys.stderr)
    sys.exit(2)
data = json.loads(report.read_text(encoding="utf-8"))
if not data.get("success"):
    print(f"slither.sh: Slither failed: {data.get('error')}", file=sys.stderr)
    sys.exit(2)
findings = (data.get("results") or {}).get("detectors", [])
order = ["High", "Medium", "Low", "Informational", "Optimization"]


def where(finding):
    elements = finding.get("elements", [])
    # The most precise location: a statement ("node") when the finding names one, else the first element.
    for element in [e for e in elements if e.get("type") == "node"] + elements:
        mapping = element.get("source_mapping") or {}
        lines = mapping.get("lines") or []
        if mapping.get("filename_relative") and lines:
            span = f"{lines[0]}" if len(lines) == 1 else f"{lines[0]}-{lines[-1]}"
            return f"{mapping['filename_relative']}:{span}"
    return "?"


counts = Counter(f["impact"] for f in findings)
print("\n== Slither summary (contracts/, dependencies excluded) ==")
print("  " + ", ".join(f"{impact}: {counts.get(impact, 0)}" for impact in order))
for impact in order:
    for f in sorted((f for f in findings if f["impact"] == impact), key=where):
        first_line = f["description"].strip().splitlines()[0]
        print(f"  [{impact}/{f['confidence']}] {f['check']:<22} {where(f):<40} {first_line}")
if counts.get("High"):
    print(f"slither.sh: FAILED: {counts['High']} High severity finding(s)")
    sys.exit(1)
print("slither.sh: OK: no High severity finding")
PY
