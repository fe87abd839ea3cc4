# Sourced by the Slurm tests: skips the test (exit 77, which ctest reports as
# skipped) with the reason when this machine cannot start a real Slurm: not
# root (slurmd runs each task as the user who submitted it) or the packages
# missing. With BERTH_REQUIRE_SLURM=1 (scripts/test.sh sets it when it runs as
# root, as in CI) the same reasons fail the test instead: CI must run it.
need_slurm() {
  local why=""
  if [ "$(id -u)" != 0 ]; then
    why="needs root (slurmd runs each task as the user who submitted it); run as root"
  else
    local bin
    for bin in slurmctld slurmd srun sinfo squeue scancel munged; do
      if ! command -v "$bin" >/dev/null 2>&1; then
        why="$bin is not installed; run scripts/install-deps.sh (Debian: slurmctld slurmd slurm-client munge)"
        break
      fi
    done
  fi
  [ -z "$why" ] && return 0
  if [ "${BERTH_REQUIRE_SLURM:-0}" = 1 ]; then
    echo "FAIL: $why (BERTH_REQUIRE_SLURM=1)" >&2
    exit 1
  fi
  echo "SKIPPED: $why" >&2
  exit 77
}
