#!/bin/sh
# Attacks on the run directory of `berth run`, with real processes: symbolic
# links planted where berth writes (a worker's log, merged.log, state.json,
# its temporary file, logs/ itself, the lock) and a second `berth run` on a
# directory in use. Each asserts that berth refuses naming the file (or the
# pid that holds the directory), that nothing outside the run directory was
# written or created, and that no process is left.
# Usage: run_dir_attack_test.sh BERTH DEMO_WORKER
set -u
TEST_NAME=berth-run-dir-attack-test
. "$(dirname "$0")/run_test_lib.sh"

OUT="$T/outside"  # where every link points; it must stay as it is
mkdir -p "$OUT"
printf 'precious\n' > "$OUT/precious"
outside_untouched() {
  [ "$(cat "$OUT/precious")" = precious ] && [ "$(ls -A "$OUT" | tr '\n' ' ')" = "precious " ]
}

cat > "$T/one.yaml" <<YAML
name: one
cluster: {gpus: 0, cpu: 2, mem: 1}
roles:
  - name: w
    scheduling_spec: {cpu: 1, cmd: [/bin/sh, -c, "echo written-by-worker; exec sleep 300"]}
    readiness: none
YAML

# A fresh run dir $T/$1 with a link at $2 (relative to it) pointing to $3.
plant() {
  mkdir -p "$T/$1/logs"
  [ "$2" = logs ] && rmdir "$T/$1/logs"
  ln -s "$3" "$T/$1/$2"
}
# berth run on $T/$1 must exit 2 naming $T/$1/$2 as a link, write nothing
# outside, start nothing.
expect_refused() {
  berth run "$T/one.yaml" --run-dir "$T/$1" > "$T/$1.out" 2> "$T/$1.err" < /dev/null
  rc=$?
  if [ $rc -eq 2 ] && grep -qF "$T/$1/$2: is a symbolic link (to '$3'); berth writes nothing through a link" "$T/$1.err" \
    && outside_untouched && wait_unmarked 50; then
    ok "link at $2: refused (exit 2) naming it, nothing written outside"
  else
    fail "link at $2: rc=$rc outside: $(ls -A "$OUT") $(cat "$OUT/precious") stderr: $(cat "$T/$1.err") left: $(marked)"
  fi
}

# 1. A link at each name berth writes, planted before it starts.
plant log logs/w.0.log "$OUT/precious";            expect_refused log logs/w.0.log "$OUT/precious"
plant merged merged.log "$OUT/precious";           expect_refused merged merged.log "$OUT/precious"
plant dangling merged.log "$OUT/created";          expect_refused dangling merged.log "$OUT/created"
plant state state.json "$OUT/precious";            expect_refused state state.json "$OUT/precious"
plant logsdir logs "$OUT";                         expect_refused logsdir logs "$OUT"
plant lock berth.lock "$OUT/precious";             expect_refused lock berth.lock "$OUT/precious"

# 2. state.json.tmp.<berth's pid>: the shell plants it with its own pid, then
#    becomes berth (exec keeps the pid).
mkdir -p "$T/tmp"
BERTH_TEST_MARK="$MARK" /bin/sh -c 'ln -s "$1/precious" "$2/state.json.tmp.$$" && exec "$3" run "$4" --run-dir "$2"' \
  sh "$OUT" "$T/tmp" "$BERTH" "$T/one.yaml" > "$T/tmp.out" 2> "$T/tmp.err" < /dev/null
rc=$?
if [ $rc -eq 2 ] && grep -q "$T/tmp/state.json.tmp.[0-9]*: is a symbolic link (to '$OUT/precious')" "$T/tmp.err" \
  && outside_untouched && wait_unmarked 50; then
  ok "link at state.json.tmp.<pid>: refused (exit 2), nothing written outside"
else
  fail "link at state.json.tmp.<pid>: rc=$rc stderr: $(cat "$T/tmp.err")"
fi

# 3. The same link planted while berth runs: the next save of state.json
#    (at berth down) is refused naming it, and the run still stops cleanly.
berth run "$T/one.yaml" --run-dir "$T/live" > "$T/live.out" 2> "$T/live.err" < /dev/null &
if wait_phase "$T/live" running 150; then ok "live: running"; else fail "live never running: $(cat "$T/live.err")"; fi
live_pid=$($PY -c 'import json,sys; print(json.load(open(sys.argv[1]))["berth_pid"])' "$T/live/state.json")
ln -s "$OUT/precious" "$T/live/state.json.tmp.$live_pid"
berth down "$T/live" > "$T/live-down.out" 2>&1 || fail "live: down: $(cat "$T/live-down.out")"
wait
if grep -qF "$T/live/state.json.tmp.$live_pid: is a symbolic link (to '$OUT/precious')" "$T/live.err" \
  && outside_untouched && wait_unmarked 50; then
  ok "link planted during the run: each save refused naming it, nothing written outside"
else
  fail "link planted during the run: $(cat "$T/live.err") outside: $(ls -A "$OUT")"
fi
grep -q "written-by-worker" "$T/live/logs/w.0.log" && grep -q "\[w/0\] written-by-worker" "$T/live/merged.log" \
  && ok "live: the worker's logs were written in the run dir" || fail "live: logs: $(ls -la "$T/live" "$T/live/logs")"

# 4. One run at a time: a second berth run on a directory in use is refused
#    naming the first's pid, and changes nothing of the first's; berth down
#    then stops the first.
berth run "$T/one.yaml" --run-dir "$T/busy" > "$T/busy1.out" 2> "$T/busy1.err" < /dev/null &
wait_phase "$T/busy" running 150 || fail "busy: first never running: $(cat "$T/busy1.err")"
first=$($PY -c 'import json,sys; print(json.load(open(sys.argv[1]))["berth_pid"])' "$T/busy/state.json")
procs=$(marked | wc -l)
before=$(cat "$T/busy/control.json" "$T/busy/control.token" "$T/busy/state.json" "$T/busy/berth.lock" | md5sum)
berth run "$T/one.yaml" --run-dir "$T/busy" > "$T/busy2.out" 2> "$T/busy2.err" < /dev/null
rc=$?
after=$(cat "$T/busy/control.json" "$T/busy/control.token" "$T/busy/state.json" "$T/busy/berth.lock" | md5sum)
if [ $rc -eq 3 ] && grep -qF "run dir $T/busy is in use by berth pid $first (started " "$T/busy2.err" \
  && grep -qF "stop it with \`berth down $T/busy\` or pick another run_dir" "$T/busy2.err" \
  && [ "$before" = "$after" ]; then
  ok "second run refused (exit 3) naming pid $first; the first's files unchanged"
else
  fail "second run: rc=$rc, files changed: $([ "$before" = "$after" ] && echo no || echo yes), stderr: $(cat "$T/busy2.err")"
fi
[ "$(marked | wc -l)" -eq "$procs" ] || fail "busy: the refused run changed the processes: $procs before, now $(marked)"
berth down "$T/busy" > "$T/busy-down.out" 2>&1 && ok "down stops the first run" || fail "busy down: $(cat "$T/busy-down.out")"
wait
wait_unmarked 50 && ok "busy: nothing left" || fail "busy left: $(marked)"

# 5. A berth killed with SIGKILL leaves the directory free again.
berth run "$T/one.yaml" --run-dir "$T/killed" > "$T/killed1.out" 2>&1 < /dev/null &
wait_phase "$T/killed" running 150 || fail "killed: never running: $(cat "$T/killed1.out")"
killed=$($PY -c 'import json,sys; print(json.load(open(sys.argv[1]))["berth_pid"])' "$T/killed/state.json")
kill -9 "$killed"
wait
wait_unmarked 100 || fail "SIGKILL left: $(marked)"
berth run "$T/one.yaml" --run-dir "$T/killed" > "$T/killed2.out" 2> "$T/killed2.err" < /dev/null &
# Running again (state.json still says "running" from the killed one): under
# a new pid, which the lock file names.
taken_again() {
  next=$(sed -n 's/^pid //p' "$T/killed/berth.lock")
  [ -n "$next" ] && [ "$next" != "$killed" ] &&
    grep -q "\"berth_pid\": $next," "$T/killed/state.json" && grep -q '"phase": "running"' "$T/killed/state.json"
}
i=0
while ! taken_again && [ $i -lt 150 ]; do sleep 0.1; i=$((i + 1)); done
if taken_again; then
  ok "after SIGKILL of the holder the directory is taken again"
else
  fail "after SIGKILL: $(cat "$T/killed2.err"); lock: $(cat "$T/killed/berth.lock")"
fi
berth down "$T/killed" > /dev/null 2>&1; wait
wait_unmarked 50 || fail "killed: left: $(marked)"

# 6. berth down stops the berth that holds the directory even when state.json
#    still names the dead one before it (a run that has just taken the dir):
#    here a stand-in holds the lock and names itself in the lock file.
# Marked: its sleep, orphaned when flock gets SIGTERM, is the test's to kill.
( BERTH_TEST_MARK="$MARK" exec flock "$T/killed/berth.lock" sleep 60 ) &
holder=$!
i=0
while ! grep -q " FLOCK .* $holder " /proc/locks && [ $i -lt 50 ]; do sleep 0.1; i=$((i + 1)); done
printf 'pid %s\nstarted now\n' "$holder" > "$T/killed/berth.lock"
BERTH_TEST_MARK="$MARK" "$BERTH" down --timeout 20 "$T/killed" > "$T/holder.out" 2>&1
rc=$?
if [ $rc = 0 ] && grep -q "berth (pid $holder) holds .* but has not saved its state yet" "$T/holder.out" \
  && grep -q "asking berth (pid $holder) to stop" "$T/holder.out" && ! kill -0 "$holder" 2>/dev/null; then
  ok "down stops the lock's holder, not the pid of an old state.json"
else
  fail "down with a newer holder: rc=$rc: $(cat "$T/holder.out")"
fi
wait "$holder" 2>/dev/null
for p in $(marked); do kill -9 "$p" 2>/dev/null; done

outside_untouched && ok "nothing outside the run directories was written" || fail "outside changed: $(ls -A "$OUT")"
if [ $fails -ne 0 ]; then echo "$fails failure(s)"; exit 1; fi
echo "all run dir attack tests passed"
