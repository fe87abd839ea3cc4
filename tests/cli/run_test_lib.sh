# Shared by the shell tests that start real `berth run`s (run_cli_test.sh,
# control_api_test.sh); sourced after setting TEST_NAME, with the test's
# arguments BERTH DEMO_WORKER. Sets BERTH, WORKER, PY, T (a scratch folder),
# MARK (an env marker only berth and its workers carry) and `fails`, and
# kills every marked process and removes T when the test exits.
BERTH=$(readlink -f "$1")
WORKER=$(readlink -f "$2")
PY=/usr/bin/python3
T=$(mktemp -d "/tmp/$TEST_NAME.XXXXXX")
MARK="$TEST_NAME-$$"
fails=0
cleanup() {
  # Nothing of ours may survive the test, whatever happened.
  for p in $(grep -l "$MARK" /proc/[0-9]*/environ 2>/dev/null | cut -d/ -f3); do kill -9 "$p" 2>/dev/null; done
  rm -rf "$T"
}
trap cleanup EXIT
fail() { echo "FAIL: $*"; fails=$((fails + 1)); }
ok() { echo "ok: $*"; }

# Processes carrying this test's marker in their environment.
marked() { grep -l "$MARK" /proc/[0-9]*/environ 2>/dev/null | cut -d/ -f3 | while read -r p; do [ "$p" != "$$" ] && echo "$p"; done; }
wait_unmarked() {  # up to $1 tenths of a second
  i=0
  while [ -n "$(marked)" ] && [ $i -lt "$1" ]; do sleep 0.1; i=$((i + 1)); done
  [ -z "$(marked)" ]
}
wait_phase() {  # run_dir phase tenths
  i=0
  while ! grep -q "\"phase\": \"$2\"" "$1/state.json" 2>/dev/null && [ $i -lt "$3" ]; do sleep 0.1; i=$((i + 1)); done
  grep -q "\"phase\": \"$2\"" "$1/state.json" 2>/dev/null
}

# Only berth (and so its workers) carries the marker; the test's shell and
# its probes do not, so they never count as leftovers.
berth() { BERTH_TEST_MARK="$MARK" "$BERTH" "$@"; }
