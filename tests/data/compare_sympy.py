#!/usr/bin/env python3
"""Dev tool: runs `ddx diff --format json` on every corpus expression and
compares SymPy's count_ops of ddx's printed derivative (parsed by SymPy) with
the count of SymPy's own simplify(diff(f)) from diff_corpus.tsv, and checks
the two are numerically equal. Usage: python3 tests/data/compare_sympy.py [path/to/ddx]"""
import json, random, subprocess, sys
import sympy as sp

ddx = sys.argv[1] if len(sys.argv) > 1 else "target/debug/ddx"
names = "x y z w b m".split()
syms = {n: sp.Symbol(n, real=True) for n in names}
env = dict(syms)
env.update({"ln": sp.log, "log": sp.log, "sign": sp.sign, "abs": sp.Abs,
            "step": lambda a: sp.Heaviside(a, sp.Rational(1, 2)),
            "sigmoid": lambda a: 1 / (1 + sp.exp(-a)), "relu": lambda a: sp.Max(a, 0),
            "softplus": lambda a: sp.log(1 + sp.exp(a)), "pi": sp.pi})
worse = same = better = 0
for line in open("tests/data/diff_corpus.tsv"):
    if line.startswith("#"):
        continue
    expr, var, theirs, their_text = line.rstrip("\n").split("\t")
    out = subprocess.run([ddx, "diff", expr, "--wrt", var, "--format", "json"], capture_output=True, text=True)
    d = json.loads(out.stdout)["derivatives"][0]["expr"]
    ours = sp.parse_expr(d.replace("^", "**"), local_dict=env)
    n = sp.count_ops(ours)
    ref = sp.parse_expr(their_text, local_dict=env)
    for _ in range(3):
        pt = {s: random.uniform(0.2, 0.9) for s in syms.values()}
        a, b = complex(ours.evalf(subs=pt)), complex(ref.evalf(subs=pt))
        if abs(a - b) > 1e-6 * (1 + abs(b)):
            print(f"MISMATCH {expr} d/d{var}: {d} vs {their_text}")
            break
    tag = "WORSE" if n > int(theirs) else ("better" if n < int(theirs) else "")
    worse += n > int(theirs); better += n < int(theirs); same += n == int(theirs)
    if tag == "WORSE":
        print(f"{tag}\t{expr}\td/d{var}\t{d} ({n})\t{their_text} ({theirs})")
print(f"{worse} worse, {same} same, {better} better than SymPy simplify(diff(f))")
