# shellcheck shell=bash
# Sourced by the set-up scripts: long steps show progress instead of going
# silent for minutes, and a failing one shows its last lines and its log.
#
# progress_run LABEL LOG CMD...
#   Runs CMD with its whole output in LOG. Prints "LABEL: ..." with what CMD
#   has got to (ninja's [n/N], or apt's count of packages set up) at most
#   every 3 s, and every 3 s of silence too, so nothing looks hung. On
#   failure prints the last 25 lines of LOG and its path, and returns CMD's
#   status.
progress_run() {
  local label=$1 log=$2
  shift 2
  mkdir -p "$(dirname "$log")"
  : >"$log"
  local begin=$SECONDS last=$SECONDS where="started" set_up=0 line rc
  set +e
  "$@" </dev/null >>"$log" 2>&1 &
  local pid=$!
  # Follow the log rather than a pipe: CMD's status stays its own, and a
  # step that prints nothing for a while still gets a line every 3 s.
  exec {tail_fd}< <(tail -n +1 -f --pid="$pid" "$log" 2>/dev/null)
  while true; do
    if IFS= read -r -t 3 -u "$tail_fd" line; then
      if [[ $line =~ ^\[([0-9]+)/([0-9]+)\] ]]; then
        where="[${BASH_REMATCH[1]}/${BASH_REMATCH[2]}]"
      elif [[ $line == "Setting up "* ]]; then
        set_up=$((set_up + 1))
        where="$set_up package(s) set up"
      fi
      [ $((SECONDS - last)) -lt 3 ] && continue
    elif [ $? -le 128 ]; then
      break # the log ended: CMD exited
    fi
    echo "  $label: $where, $((SECONDS - begin)) s"
    last=$SECONDS
  done
  exec {tail_fd}<&-
  wait "$pid"
  rc=$?
  set -e
  if [ $rc -ne 0 ]; then
    echo "$label failed (exit $rc) after $((SECONDS - begin)) s; its last lines:" >&2
    tail -n 25 "$log" | sed 's/^/    /' >&2
    echo "the whole output: $log" >&2
    return $rc
  fi
  echo "  $label: done in $((SECONDS - begin)) s (output in $log)"
}
