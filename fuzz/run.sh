#!/usr/bin/env bash
# Runs one fuzz target for a given time and prints libFuzzer's summary.
#
#   fuzz/run.sh TARGET SECONDS [extra libFuzzer flags...]
#
# TARGET is parse, diff or jit. The corpus grows in fuzz/corpus/TARGET
# (git-ignored), seeded from fuzz/seeds (examples and test expressions);
# crashes land in fuzz/artifacts/TARGET. The toolchain is stable, so
# RUSTC_BOOTSTRAP=1 lets cargo-fuzz pass its nightly-only flags. No
# sanitizer (ddx has no unsafe code outside the JIT call, whose generated
# code a sanitizer cannot see); debug assertions (overflow checks) are on.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
target="${1:?usage: fuzz/run.sh TARGET SECONDS [libFuzzer flags]}"
seconds="${2:?usage: fuzz/run.sh TARGET SECONDS [libFuzzer flags]}"
shift 2
cd "$here"
mkdir -p "corpus/$target" "artifacts/$target"
export RUSTC_BOOTSTRAP=1
cargo fuzz build -s none "$target"
exec cargo fuzz run -s none "$target" "corpus/$target" seeds/expr seeds/model -- \
    -max_total_time="$seconds" -timeout=20 -rss_limit_mb=3072 -max_len=4096 \
    -dict=ddx.dict -print_final_stats=1 "$@"
