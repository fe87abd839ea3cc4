#!/usr/bin/env bash
# The clang-tidy gate: runs clang-tidy (.clang-tidy at the root) on every
# non-test .cc of src/, tools/ and python/core/, or on the .cc files given as
# arguments, and fails if any of them (or a project header it includes) has a
# warning.
#
#   scripts/tidy.sh [FILE.cc...]
#
# Environment:
#   BUILD       the build folder whose compile_commands.json to use (default
#               build; a relative path is taken from the current folder if it
#               exists there, otherwise from the repository root). Configure it
#               first: cmake -S . -B build -G Ninja (BERTH_PYTHON=ON, the
#               default, for python/core/module.cc).
#   CLANG_TIDY  the clang-tidy program (default /usr/bin/clang-tidy, Debian's).
#   JOBS        files checked at a time (default: nproc).
#
# A file found clean is remembered in $BUILD/tidy-cache/ under the sha256 of
# clang-tidy --version, the .clang-tidy files that apply, the compile command,
# the file's preprocessed output (the compile command with -E -C: comments, and
# so NOLINTs, kept) and the text of every project file it includes; a later run
# skips it while none of those changed. Files with warnings are never cached.
# rm -rf "$BUILD/tidy-cache" forgets everything.
set -euo pipefail

readonly cache_format="berth tidy cache 1"
root=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/.." && pwd -P)
self=$root/scripts/$(basename -- "${BASH_SOURCE[0]}")

die() {
  echo "tidy: $*" >&2
  exit 2
}

# $1: a path given by the user; prints it absolute: from the current folder if
# it exists there, otherwise from the repository root.
absolute() {
  local p=$1
  if [[ $p != /* ]]; then
    if [[ -e $p ]]; then p=$PWD/$p; else p=$root/$p; fi
  fi
  if [[ -d $p ]]; then
    (cd -- "$p" && pwd -P)
  elif [[ -e $p ]]; then
    echo "$(cd -- "$(dirname -- "$p")" && pwd -P)/$(basename -- "$p")"
  else
    echo "$p"
  fi
}

# --- one file (run by xargs below): tidy_one INDEX ---------------------------

# cache_key DIR FILE COMMAND...: prints the file's cache key, or nothing when
# it does not preprocess (such a file is never cached).
cache_key() {
  local dir=$1 file=$2
  shift 2
  local pp
  pp=$(mktemp "$work/pp.XXXXXX")
  if ! (cd -- "$dir" && "$@") >"$pp" 2>/dev/null; then
    rm -f -- "$pp"
    return 0
  fi
  {
    printf '%s\n%s\nfile %s\n' "$cache_format" "$TIDY_VERSION" "${file#"$root"/}"
    # Every .clang-tidy from the file's folder up to the root applies.
    local d
    d=$(dirname -- "$file")
    while :; do
      if [[ -f $d/.clang-tidy ]]; then
        printf 'config %s\n' "$d"
        cat -- "$d/.clang-tidy"
      fi
      [[ $d == "$root" || $d == / ]] && break
      d=$(dirname -- "$d")
    done
    printf 'command'
    printf ' %q' "$@"
    printf '\n'
    cat -- "$pp"
    # The project's files as written (whitespace, comments, branches the
    # compiler's -E left out): from the line markers of the -E output.
    local f
    while IFS= read -r f; do
      [[ $f == /* ]] || f=$dir/$f
      if [[ $f == "$root"/* && -f $f ]]; then
        printf 'source %s\n' "${f#"$root"/}"
        cat -- "$f"
      fi
    done < <(sed -n 's/^# [0-9][0-9]* "\(.*\)".*$/\1/p' "$pp" | sort -u)
  } | sha256sum | cut -d' ' -f1
  rm -f -- "$pp"
}

# Reads $work/cmd/INDEX (the compile folder, the file and the -E command, NUL
# separated), prints "tidy [INDEX/TOTAL] FILE" and any warnings under the print
# lock, and records the outcome in $work/result/INDEX (clean, cached or dirty).
tidy_one() {
  local idx=$1
  local -a entry
  mapfile -d '' -t entry <"$work/cmd/$idx"
  local dir=${entry[0]} file=${entry[1]}
  local -a preprocess=("${entry[@]:2}")
  local rel=${file#"$root"/}
  local out=$work/out.$idx key
  key=$(cache_key "$dir" "$file" "${preprocess[@]}")

  local result status=0
  if [[ -n $key && -f $cache/$key ]]; then
    result=cached
    : >"$out"
  else
    "$CLANG_TIDY" -p "$build" --quiet "$file" >"$out" 2>&1 || status=$?
    if [[ $status -eq 0 ]] && ! grep -Eq ': (warning|error): ' "$out"; then
      result=clean
      # Only if nothing changed while clang-tidy ran: what it read is what
      # the key describes.
      if [[ -n $key && $(cache_key "$dir" "$file" "${preprocess[@]}") == "$key" ]]; then
        : >"$cache/$key"
      fi
    else
      result=dirty
    fi
  fi
  echo "$result" >"$work/result/$idx"

  # clang-tidy's own tallies ("12 warnings generated.", "... treated as
  # errors") are left out; paths are shown from the repository root.
  {
    printf 'tidy [%s/%s] %s\n' "$idx" "$TIDY_TOTAL" "$rel"
    if [[ $result == dirty ]]; then
      grep -Ev '^[0-9]+ warnings? (generated|treated as errors)\.?$' "$out" |
        awk -v prefix="$root/" '{
          while ((i = index($0, prefix)) > 0)
            $0 = substr($0, 1, i - 1) substr($0, i + length(prefix))
          print
        }' || true
      if [[ $status -ne 0 ]] && ! grep -Eq ': (warning|error): ' "$out"; then
        echo "$rel: clang-tidy exited with status $status"
      fi
    fi
  } >"$out.msg"
  flock "$work/print.lock" cat -- "$out.msg"
  rm -f -- "$out" "$out.msg"
}

if [[ ${1-} == --one ]]; then
  shift
  for idx in "$@"; do tidy_one "$idx"; done
  exit 0
fi

# --- the whole run -------------------------------------------------------------
build=$(absolute "${BUILD:-build}")
CLANG_TIDY=${CLANG_TIDY:-/usr/bin/clang-tidy}
jobs=${JOBS:-$(nproc)}
command -v -- "$CLANG_TIDY" >/dev/null || die "no $CLANG_TIDY (apt-get install clang-tidy)"
command -v python3 >/dev/null || die "python3 is needed to read compile_commands.json"
[[ -f $build/compile_commands.json ]] ||
  die "no $build/compile_commands.json: configure first (cmake -S $root -B $build -G Ninja)"

files=()
if [[ $# -gt 0 ]]; then
  for f in "$@"; do
    f=$(absolute "$f")
    [[ -f $f ]] || die "no such file: $f"
    [[ $f == "$root"/* ]] || die "$f is outside the repository $root"
    [[ $f == *.cc ]] || die "$f: give .cc files (headers are checked through them)"
    files+=("$f")
  done
else
  while IFS= read -r -d '' f; do files+=("$root/$f"); done < <(
    cd -- "$root" &&
      find src tools python/core -name '*.cc' ! -name '*_test.cc' ! -path '*/testdata/*' -print0 |
      sort -z
  )
fi
[[ ${#files[@]} -gt 0 ]] || die "no files to check"

work=$(mktemp -d "${TMPDIR:-/tmp}/berth-tidy.XXXXXX")
trap 'rm -rf -- "$work"' EXIT
mkdir -p -- "$work/cmd" "$work/result"
cache=$build/tidy-cache
mkdir -p -- "$cache"

# Each file's compile command from compile_commands.json, turned into one that
# preprocesses (-E -C, to stdout): $work/cmd/INDEX holds the folder, the file
# and that command, NUL separated. A file without an entry fails the run.
printf '%s\0' "${files[@]}" | python3 -c '
import json, os, shlex, sys

root, build, work = sys.argv[1:4]
with open(os.path.join(build, "compile_commands.json")) as f:
    entries = json.load(f)
by_file = {}
for e in entries:
    path = os.path.realpath(os.path.join(e["directory"], e["file"]))
    by_file.setdefault(path, e)
files = sys.stdin.buffer.read().decode().split("\0")[:-1]
missing = [f for f in files if os.path.realpath(f) not in by_file]
if missing:
    for f in missing:
        hint = " -DBERTH_PYTHON=ON" if f.endswith("/python/core/module.cc") else ""
        print(f"tidy: {f} has no entry in {build}/compile_commands.json: re-run cmake "
              f"(cmake -S {root} -B {build}{hint}) so that it lists every source file",
              file=sys.stderr)
    sys.exit(1)
# Flags that write files or name the output; -E -C replaces them.
drop_with_arg = {"-o", "-MF", "-MT", "-MQ"}
drop = {"-c", "-M", "-MM", "-MD", "-MMD", "-MP", "-E", "-S"}
for i, f in enumerate(files, 1):
    e = by_file[os.path.realpath(f)]
    args = e["arguments"] if "arguments" in e else shlex.split(e["command"])
    out, skip = [], False
    for a in args:
        if skip:
            skip = False
        elif a in drop_with_arg:
            skip = True
        elif a in drop or any(a.startswith(p) and len(a) > len(p) for p in drop_with_arg):
            pass
        else:
            out.append(a)
    out[1:1] = ["-E", "-C"]
    with open(os.path.join(work, "cmd", str(i)), "wb") as c:
        c.write(b"".join(s.encode() + b"\0" for s in [e["directory"], f] + out))
' "$root" "$build" "$work" || exit 2

TIDY_VERSION=$("$CLANG_TIDY" --version)
TIDY_TOTAL=${#files[@]}
export TIDY_VERSION TIDY_TOTAL CLANG_TIDY root build work cache

# Indexes in order; each xargs child checks one file. One that stops early
# leaves no result: its file counts as having warnings.
seq 1 "$TIDY_TOTAL" | xargs -P "$jobs" -n 1 -- bash -- "$self" --one ||
  echo "tidy: a check stopped early (status $?)" >&2

dirty=() cached=0
for i in $(seq 1 "$TIDY_TOTAL"); do
  result=$(cat -- "$work/result/$i" 2>/dev/null || echo dirty)
  case $result in
    cached) cached=$((cached + 1)) ;;
    clean) ;;
    *) dirty+=("${files[i - 1]#"$root"/}") ;;
  esac
done
echo "tidy: $TIDY_TOTAL files, $cached unchanged since a clean run (cache), ${#dirty[@]} with warnings"
if [[ ${#dirty[@]} -gt 0 ]]; then
  printf 'tidy: warnings in %s\n' "${dirty[@]}" >&2
  exit 1
fi
