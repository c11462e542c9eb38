#!/usr/bin/env bash
# Wall time of whole `ddx train` processes, release build: start-up, parse,
# differentiate, compile, 1000 epochs, output, exit. The numbers are in
# docs/PERFORMANCE.md.
#
#   bash benches/train_process.sh [RUNS]
#
# Uses hyperfine (Debian: apt-get install -y hyperfine) when it is installed,
# without a shell in between (-N), unless NO_HYPERFINE=1; otherwise runs each
# command RUNS times itself (bash's EPOCHREALTIME, no fork for the clock).
# Prints the median and the fastest run of each command.
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-300}
cargo build --release --quiet
bin=target/release/ddx
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT

commands=(
  "$bin train examples/regression.ddx"
  "$bin train examples/regression.ddx --every 1"
  "$bin train examples/regression.ddx --json"
  "$bin train examples/tanh_net.ddx"
  "$bin train examples/regression.ddx --quiet --plot $out/fit.png"
  "$bin train examples/regression.ddx --quiet --plot $out/fit.svg"
  "$bin --version"
)

echo "machine: $(nproc) cores, $(lscpu | sed -n 's/^Model name: *//p')"
if [ -z "${NO_HYPERFINE:-}" ] && command -v hyperfine >/dev/null; then
  hyperfine -N --warmup 20 --runs "$runs" --output=null --style basic \
    --export-json "$out/times.json" "${commands[@]}"
  # hyperfine prints means; the medians are less sensitive to a busy machine
  python3 - "$out/times.json" "$bin " "$out/" <<'PY'
import json, sys
for r in json.load(open(sys.argv[1]))["results"]:
    cmd = r["command"].replace(sys.argv[2], "", 1).replace(sys.argv[3], "")
    print(f"{cmd:70} median {r['median'] * 1e3:.2f} ms, fastest {r['min'] * 1e3:.2f} ms")
PY
  exit
fi

echo "hyperfine not found: timing $runs runs of each command with bash"
for cmd in "${commands[@]}"; do
  read -r -a argv <<<"$cmd"
  for _ in $(seq 20); do "${argv[@]}" >/dev/null; done
  times=()
  for _ in $(seq "$runs"); do
    t0=$EPOCHREALTIME
    "${argv[@]}" >/dev/null
    t1=$EPOCHREALTIME
    times+=("$(echo "($t1 - $t0) * 1000" | bc -l)")
  done
  sorted=$(printf '%s\n' "${times[@]}" | sort -g)
  median=$(echo "$sorted" | sed -n "$(((runs + 1) / 2))p")
  fastest=$(echo "$sorted" | head -1)
  shown=${cmd#"$bin "}
  printf '%-70s median %.2f ms, fastest %.2f ms\n' "${shown//"$out/"/}" "$median" "$fastest"
done
