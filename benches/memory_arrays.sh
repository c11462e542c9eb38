#!/usr/bin/env bash
# The scale check of array models: a generated linear model of 64 features
# on 10^6 rows (`data x[p0 .. p63], y`, `param w[64]`), trained by
# `ddx train --json` on 1, 2 and 4 threads, release build. Prints the peak
# memory of each run against the size of the data (65 columns x rows x 8
# bytes) and checks that the three runs give the same bits (the final
# params and cost of `--json`).
#
#   bash benches/memory_arrays.sh [ROWS] [EPOCHS]
#
# Needs /usr/bin/time (Debian: apt-get install -y time). The CSV (about
# 600 MB for 10^6 rows) is written to a temporary directory, removed after.
set -euo pipefail
cd "$(dirname "$0")/.."
rows=${1:-1000000}
epochs=${2:-20}
cargo build --release --quiet
bin=$PWD/target/release/ddx
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
awk -v n="$rows" 'BEGIN {
  printf "y"; for (j = 0; j < 64; j++) printf ",p%d", j; printf "\n"
  s = 1
  for (i = 0; i < n; i++) {
    y = 0; line = ""
    for (j = 0; j < 64; j++) {
      s = (s * 1103515245 + 12345) % 2147483648
      v = s / 2147483648 - 0.5
      y += v * ((j % 7) - 3) / 8
      line = line sprintf(",%.5g", v)
    }
    s = (s * 1103515245 + 12345) % 2147483648
    printf "%.6g%s\n", y + 0.5 + (s / 2147483648 - 0.5) * 0.01, line
  }
}' > "$dir/wide.csv"
cat > "$dir/wide.ddx" <<MODEL
data x[p0 .. p63], y from "wide.csv"
param w[64] = 0
param b = 0
loss C = mean((dot(w, x) + b - y)^2)
train adam(lr = 0.05, epochs = $epochs)
MODEL
data_kib=$((rows * 65 * 8 / 1024))
for threads in 1 2 4; do
  report=$(cd "$dir" && /usr/bin/time -v "$bin" train wide.ddx --json --threads "$threads" \
    2>"$dir/time.$threads" >"$dir/fit.$threads.json"; cat "$dir/time.$threads")
  peak=$(grep 'Maximum resident' <<<"$report" | awk '{print $NF}')
  wall=$(grep 'Elapsed (wall' <<<"$report" | awk '{print $NF}')
  awk -v p="$peak" -v d="$data_kib" -v t="$threads" -v w="$wall" 'BEGIN {
    printf "--threads %s: peak RSS %d KiB, data %d KiB: %.3fx the data (wall %s)\n", t, p, d, p / d, w
  }'
done
# the same bits: params and cost (compile and train seconds differ)
strip() { sed -E 's/"(compile_seconds|train_seconds|seconds)": ?[0-9.e+-]+,?//g' "$1"; }
if [ "$(strip "$dir/fit.1.json")" = "$(strip "$dir/fit.2.json")" ] &&
   [ "$(strip "$dir/fit.1.json")" = "$(strip "$dir/fit.4.json")" ]; then
  echo "1, 2 and 4 threads: the same params and cost, bit for bit"
else
  echo "threads DIFFER:"; diff <(strip "$dir/fit.1.json") <(strip "$dir/fit.4.json") | head; exit 1
fi
