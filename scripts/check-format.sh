#!/usr/bin/env bash
# Fails, listing each file and its diff, when a C++ file in git does not
# follow .clang-format. Fix with: clang-format -i FILE (or --fix here).
set -euo pipefail
cd "$(dirname "$0")/.."
fix=0
[ "${1:-}" = --fix ] && fix=1
mapfile -t files < <(git ls-files --cached --others --exclude-standard -- '*.cc' '*.h' |
  while read -r f; do [ -f "$f" ] && echo "$f"; done)
bad=()
for f in "${files[@]}"; do
  if ! clang-format --dry-run -Werror "$f" >/dev/null 2>&1; then
    bad+=("$f")
  fi
done
if [ ${#bad[@]} -eq 0 ]; then
  echo "format: ${#files[@]} files follow .clang-format"
  exit 0
fi
if [ $fix = 1 ]; then
  clang-format -i "${bad[@]}"
  echo "format: reformatted ${bad[*]}"
  exit 0
fi
for f in "${bad[@]}"; do
  echo "format: $f does not follow .clang-format:"
  diff -u "$f" <(clang-format "$f") | head -20 || true
done
echo "format: ${#bad[@]} of ${#files[@]} files differ; run scripts/check-format.sh --fix" >&2
exit 1
