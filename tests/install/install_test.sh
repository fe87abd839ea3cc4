#!/usr/bin/env bash
# The installed package works from outside: `cmake --install` of a build into
# a scratch prefix, then this folder's project, copied out of the source tree,
# configured with CMAKE_PREFIX_PATH=<prefix> only (find_package(berth),
# berth::berth, <berth/...> headers), built and run; its output must be
# expected_output.txt. Also checks the prefix's layout, and that neither the
# package nor the outside build names the source or build tree (src/ is not
# visible to an embedding program).
#
#   tests/install/install_test.sh BUILD_DIR [CXX_COMPILER] [CXX_AND_LINK_FLAGS]
#
# ctest runs it (test install_package, label integration) with the build's
# compiler and, in the sanitizer build, its sanitizer flags.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd -P)
root=$(cd "$here/../.." && pwd -P)
[ $# -ge 1 ] || { echo "usage: $0 BUILD_DIR [CXX_COMPILER] [FLAGS]" >&2; exit 2; }
build=$(cd "$1" && pwd -P)
cxx=${2:-c++}
flags=${3:-}

scratch=$(mktemp -d "${TMPDIR:-/tmp}/berth-install-test.XXXXXX")
trap 'rm -rf "$scratch"' EXIT
prefix=$scratch/prefix

fail() {
  echo "FAIL: $*" >&2
  exit 1
}
# run LOG COMMAND...: runs it quietly; on failure shows its output and fails.
run() {
  local log=$1
  shift
  if ! "$@" >"$log" 2>&1; then
    cat "$log" >&2
    fail "$*"
  fi
}

run "$scratch/install.log" cmake --install "$build" --prefix "$prefix"
for f in include/berth/status.h include/berth/placement.h include/berth/json.h \
  include/berth/ports.h include/berth/local.h include/berth/scheduler_json.h \
  lib/cmake/berth/berthConfig.cmake lib/cmake/berth/berthConfigVersion.cmake \
  lib/cmake/berth/berthTargets.cmake lib/libberth_common.a lib/libberth_scheduler.a; do
  [ -f "$prefix/$f" ] || fail "cmake --install did not install $f"
done
# Exactly the public headers, and no internal one.
diff <(cd "$root/include/berth" && ls) <(cd "$prefix/include/berth" && ls) ||
  fail "the installed headers are not include/berth/'s"
if grep -rlF -e "$root" -e "$build" "$prefix/lib/cmake" "$prefix/include"; then
  fail "the package names the source or the build tree (above)"
fi
echo "ok: installed into a scratch prefix"

cp -r "$here" "$scratch/project"
run "$scratch/configure.log" cmake -S "$scratch/project" -B "$scratch/build" -G Ninja \
  -DCMAKE_BUILD_TYPE=Release -DCMAKE_CXX_COMPILER="$cxx" -DCMAKE_CXX_FLAGS="$flags" \
  -DCMAKE_EXE_LINKER_FLAGS="$flags" -DCMAKE_PREFIX_PATH="$prefix" \
  -DCMAKE_FIND_USE_PACKAGE_REGISTRY=OFF -DCMAKE_EXPORT_COMPILE_COMMANDS=ON
grep -qxF "berth_DIR:PATH=$prefix/lib/cmake/berth" "$scratch/build/CMakeCache.txt" ||
  fail "find_package(berth) found $(grep berth_DIR "$scratch/build/CMakeCache.txt")"
run "$scratch/build.log" cmake --build "$scratch/build"
# Neither a compile (-I) nor a link line names the source or build tree.
if grep -F -e "$root" -e "$build" "$scratch/build/compile_commands.json" \
  "$scratch/build/build.ninja"; then
  fail "the outside build looks into the source or build tree (above)"
fi
echo "ok: an outside project built against it ($(grep -c '"file"' \
  "$scratch/build/compile_commands.json") files; every public header on its own)"

if ! "$scratch/build/berth_embed" >"$scratch/out.txt" 2>&1; then
  cat "$scratch/out.txt" >&2
  fail "the outside program failed"
fi
diff -u "$here/expected_output.txt" "$scratch/out.txt" || fail "unexpected output (diff above)"
cat "$scratch/out.txt"
echo "install: all checks passed"
