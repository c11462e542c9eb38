#!/usr/bin/env bash
# 1000 epochs of the seed model: ddx's compiled training loop against the
# issue's hand-written C loop (gcc -O2), run alternately ROUNDS times (default
# 10) so that both see the same machine, then the best and the median of
# each. Each round prints the best of five batches of 1000 trainings.
#
#   bash benches/epochs_vs_c.sh [ROUNDS]
set -euo pipefail
cd "$(dirname "$0")/.."
rounds="${1:-10}"
gcc -O2 -o /tmp/ddx_seed_train benches/peers/seed_train.c
cargo bench --quiet --bench train_loop --no-run 2>/dev/null
ddx_bench=$(ls -t target/release/deps/train_loop-* | grep -v '\.d$' | head -1)
out=$(for _ in $(seq "$rounds"); do /tmp/ddx_seed_train; "$ddx_bench"; done)
for key in c ddx_loop ddx_train; do
    values=$(echo "$out" | awk -v k="$key" '$1 == k { print $2 }' | sort -n)
    n=$(echo "$values" | wc -l)
    best=$(echo "$values" | head -1)
    median=$(echo "$values" | sed -n "$(( (n + 1) / 2 ))p")
    printf '%-10s best %7s us  median %7s us  (%d rounds)\n' "$key" "$best" "$median" "$n"
done
