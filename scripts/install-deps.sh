#!/usr/bin/env bash
# Installs what berth needs to build and test on Debian 12, and nothing that
# is already there. Runs apt-get update at most once.
set -euo pipefail

packages=(
  g++ cmake ninja-build pkg-config
  nlohmann-json3-dev libcli11-dev libcpp-httplib-dev libyaml-cpp-dev
  googletest libgtest-dev libgmock-dev libbenchmark-dev
  clang libclang-rt-14-dev   # sanitizer and libFuzzer builds
  clang-format clang-tidy    # the format and lint gates
  python3 python3-dev pybind11-dev python3-pytest   # the Python module and its tests (Debian's /usr/bin/python3)
  slurmctld slurmd slurm-client munge   # a real single-machine Slurm for the Slurm backend's tests
  chromium python3-websocket   # the status page's browser test (headless, DevTools protocol)
)

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done
if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi

echo "berth: installing ${missing[*]}" >&2
sudo=""
if [ "$(id -u)" != 0 ]; then
  if command -v sudo >/dev/null; then
    sudo="sudo"
  else
    echo "berth: need root (or sudo) to install: ${missing[*]}" >&2
    exit 1
  fi
fi
export DEBIAN_FRONTEND=noninteractive
. "$(dirname "$0")/progress.sh"
log_dir=${TMPDIR:-/tmp}/berth-install-deps
# shellcheck disable=SC2086 # $sudo is empty or one word
progress_run "apt-get update" "$log_dir/update.log" $sudo apt-get update
# shellcheck disable=SC2086
progress_run "apt-get install (${#missing[@]} packages and what they need)" "$log_dir/install.log" \
  $sudo apt-get install -y --no-install-recommends "${missing[@]}"
