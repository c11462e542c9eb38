#!/usr/bin/env bash
# Time and peak memory of ddx on hostile inputs, release build: the figures
# of docs/robustness.md. Each input is generated into a temporary directory
# (removed after; about 60 MB at most at a time).
#
#   bash benches/robust.sh
#
# Prints one line per run: seconds, peak resident KB, exit status, command.
# Needs /usr/bin/time and python3.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --quiet --bin ddx
bin=$PWD/target/release/ddx
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
cd "$dir"

python3 - <<'PY'
n = 100_000
open("parens.txt", "w").write("(" * n + "x" + ")" * n)
open("minus.txt", "w").write("-" * (n + 1) + "x")
open("power.txt", "w").write("^".join(["x"] * n))
open("calls.txt", "w").write("sin(" * n + "x" + ")" * n)
open("million.txt", "w").write(" + ".join(["x"] * 1_000_000))
terms, k, size = [], 0, 0
while size < 10_000_000:
    k += 1
    t = f"{k}*x*y"
    terms.append(t)
    size += len(t) + 3
open("ten_mb.txt", "w").write(" + ".join(terms))
pairs, i, size = [], 0, 0
while size < 10_000_000:
    t = f"x{i}*x{i + 1}"
    pairs.append(t)
    size += len(t) + 3
    i += 1
open("ten_mb_vars.txt", "w").write(" + ".join(pairs))
open("cube.txt", "w").write("(" + " + ".join(f"x{i}" for i in range(10_000)) + ")^3")
deep = "sin(" * n + "w*x" + ")" * n
open("deep.ddx", "w").write(
    f"data x = [1, 2, 3]\nparam w = 0.5\nloss C = mean({deep})\ntrain sgd(lr = 0.1, epochs = 3)\n"
)
terms = " + ".join(f"sin(w*x + {i})" for i in range(3000))
open("sinsum.ddx", "w").write(
    f"data x = [1, 2, 3]\nparam w = 0.5\nloss C = mean({terms})\ntrain sgd(lr = 0.01, epochs = 3)\n"
)
with open("rows.csv", "w") as f:
    f.write("x,y\n")
    f.write("".join(f"{i % 10},{2 * (i % 10) + 1}\n" for i in range(10_000_000)))
open("rows.ddx", "w").write(
    'data x, y from "rows.csv"\nparam m = 0, b = 0\nloss C = mean((m*x + b - y)^2)\n'
    "train newton(epochs = 1)\n"
)
with open("cells.csv", "w") as f:
    f.write("x,y\n0,1\n0.1" + "0" * 5_000_000 + ",1.2\n2,5\n")
open("cells.ddx", "w").write(
    'data x, y from "cells.csv"\nparam m = 0, b = 0\nloss C = mean((m*x + b - y)^2)\n'
    "train newton(epochs = 1)\n"
)
open("zero.ddx", "w").write(
    'data x, y from "/dev/zero"\nparam m = 0\nloss C = mean((m*x - y)^2)\ntrain sgd(lr = 0.1, epochs = 1)\n'
)
PY

measure() {
    local status=0
    /usr/bin/time -f "%e %M" -o time.txt "$bin" "$@" > /dev/null 2> err.txt || status=$?
    read -r secs kb < <(tail -1 time.txt)
    printf '%8s s %9s KB  exit %s  ddx %s\n' "$secs" "$kb" "$status" "$*"
}

measure diff parens.txt
measure diff minus.txt
measure diff power.txt
measure diff power.txt --at x=1
measure diff calls.txt --at x=0
measure diff million.txt
measure diff ten_mb.txt
measure diff ten_mb_vars.txt
measure diff cube.txt
measure diff cube.txt --order 2
measure diff 'f = sin(x)*exp(x)' --order 50
measure diff 'f = x^x' --order 50
measure train deep.ddx
measure diff deep.ddx
measure train sinsum.ddx --quiet
measure train rows.ddx --quiet
measure train cells.ddx --quiet
measure train zero.ddx
measure train /dev/zero
