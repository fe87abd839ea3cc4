#!/usr/bin/env bash
# The layer check passes on this tree, and fails, naming the file and the
# rule, on copies of it with an upward include, a sibling include, a wrong
# namespace and a folder that is not a library.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
check="$root/tests/arch/check_layers.py"
py=/usr/bin/python3
"$py" "$check" "$root"

scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
fails_with() {  # fails_with WHAT PATTERN: the check on $scratch/t must fail and print PATTERN
  local out
  if out=$("$py" "$check" "$scratch/t" 2>&1); then
    echo "FAIL: the check passed with $1" >&2
    exit 1
  fi
  if ! grep -q -- "$2" <<<"$out"; then
    echo "FAIL: with $1 the check did not say '$2':" >&2
    echo "$out" >&2
    exit 1
  fi
  echo "ok: $1 is refused"
}
fresh() {
  rm -rf "$scratch/t"
  mkdir -p "$scratch/t"
  cp -r "$root/src" "$root/include" "$root/CMakeLists.txt" "$scratch/t/"
}

fresh
echo '#include "run/run.h"' >>"$scratch/t/src/placement/solver.cc"
fails_with "placement including run" "placement/solver.cc: includes run/run.h: placement (level 1) may not use run"

fresh
echo '#include "runtime/slurm/step.h"' >>"$scratch/t/src/runtime/local/spawn.cc"
fails_with "a sibling include" "siblings and must not know each other"

fresh
echo 'namespace berth::run {}' >>"$scratch/t/src/roles/split.cc"
fails_with "a foreign namespace" "src/roles/split.cc: opens namespace berth::run"

fresh
sed -i 's/berth_library(berth_control control/berth_library(berth_control ctl/' "$scratch/t/CMakeLists.txt"
fails_with "a folder that is no library" "src/control is not built as library berth_control"

fresh
echo '#include "roles/names.h"' >>"$scratch/t/include/berth/status.h"
fails_with "a public header including an internal one" "public headers include only other public headers"
echo "layers: all checks passed"
