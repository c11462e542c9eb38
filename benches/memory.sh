#!/usr/bin/env bash
# Peak memory of `ddx train` on a generated 10^7-row CSV model (the seed
# model's two columns), release build, against the size of the data
# (2 columns x 10^7 rows x 8 bytes = 160,000,000 bytes).
#
#   bash benches/memory.sh [ROWS]
#
# Needs /usr/bin/time (Debian: apt-get install -y time). The CSV (about
# 150 MB for 10^7 rows) is written to a temporary directory, removed after.
set -euo pipefail
cd "$(dirname "$0")/.."
rows=${1:-10000000}
cargo build --release --quiet
bin=$PWD/target/release/ddx
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
awk -v n="$rows" 'BEGIN {
  print "x,y"; s = 1
  for (i = 0; i < n; i++) {
    x = (i % 1000) * 0.007
    s = (s * 1103515245 + 12345) % 2147483648
    printf "%.6g,%.6g\n", x, 1.8 - 0.47 * x + (s / 2147483648 - 0.5) * 0.1
  }
}' > "$dir/big.csv"
cat > "$dir/big.ddx" <<'MODEL'
data x, y from "big.csv"
param m = 0.9
param b = 0.1
let yhat = m*x + b
loss C = mean((yhat - y)^2)
train sgd(lr = 0.01, epochs = 20)
MODEL
data_kib=$((rows * 2 * 8 / 1024))
for threads in 1 "$(nproc)"; do
  report=$(cd "$dir" && /usr/bin/time -v "$bin" train big.ddx --quiet --threads "$threads" 2>&1 >/dev/null)
  peak=$(grep 'Maximum resident' <<<"$report" | awk '{print $NF}')
  wall=$(grep 'Elapsed (wall' <<<"$report" | awk '{print $NF}')
  awk -v p="$peak" -v d="$data_kib" -v t="$threads" -v w="$wall" 'BEGIN {
    printf "--threads %s: peak RSS %d KiB, data %d KiB: %.3fx the data (wall %s)\n", t, p, d, p / d, w
  }'
done
