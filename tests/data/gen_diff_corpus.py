#!/usr/bin/env python3
"""Generates tests/data/diff_corpus.tsv: for each expression of the corpus and
each of its variables, SymPy's operation count of simplify(diff(f, v)).

Run: python3 tests/data/gen_diff_corpus.py > tests/data/diff_corpus.tsv
(SymPy 1.14; symbols are real). The Rust test reads the TSV only."""
import sympy as sp

CORPUS = r"""
x^2
x^3
3*x + 2
x*y
x*y + sin(x)
sin(x)
cos(x)
tan(x)
exp(x)
ln(x)
sqrt(x)
1/x
1/x^2
x^-3
x^(1/3)
x^2.5
asin(x)
acos(x)
atan(x)
sinh(x)
cosh(x)
tanh(x)
abs(x)
exp(2*x)
exp(-x^2)
sin(x)^2
cos(x)^3
sin(2*x)
sin(x)*cos(x)
x*sin(x)
x^2*exp(x)
x*exp(x)
x*ln(x)
x^2*ln(x)
ln(x)/x
exp(x)/x
sin(x)/x
x/(x+1)
(x+1)/(x-1)
(x^2+1)/(x-1)
1/(1+x^2)
x/(1+x^2)
1/(1+exp(-x))
exp(x)/(1+exp(x))
ln(1+exp(x))
sqrt(1+x^2)
sqrt(1-x^2)
1/sqrt(x)
x*sqrt(x)
sqrt(x^2+y^2)
(x+1)^2
(x+1)^3
(2*x+1)^5
(x^2+1)^10
(x+1)^2 - x^2
(x-1)*(x+1)
x*(x+1)*(x+2)
sin(x^2)
sin(sin(x))
cos(exp(x))
exp(sin(x))
ln(sin(x))
ln(cos(x))
ln(x^2+1)
ln(ln(x))
sqrt(sin(x))
tan(x^2)
atan(1/x)
atan(y/x)
exp(x*y)
sin(x*y)
x^y
x^x
2^x
exp(x)*sin(x)
exp(-x)*cos(x)
x^2*y + y^3
x^2 + y^2
(x - y)^2
x/y
y/x
ln(x*y)
ln(x/y)
exp(x + y)
sin(x)*cos(y)
sin(x + y)
x*y*z
x^2*y*z + z
(x + y + z)^2
tanh(w*x + b)
(m*x + b - y)^2
1/(1+exp(-(w*x+b)))
ln(1 + exp(-y*w*x))
x^4 - 3*x^2 + 2
5*x^4 + 3*x^3 - x + 7
(3*x - 2)/(x + 4)
(x^2 - 1)/(x^2 + 1)
exp(x)/(exp(x) + 1)
sinh(x)/cosh(x)
cosh(x)^2 - sinh(x)^2
sin(x)^2 + cos(x)^2
exp(ln(x))
ln(exp(x))
sqrt(x)*sqrt(x)
x*exp(-x)
x^2*exp(-x)
sin(x)*exp(-x)
(1 + x)*ln(1 + x)
x*atan(x)
x*asin(x)
asin(2*x)
acos(x^2)
sqrt(x + sqrt(x))
exp(exp(x))
pow(x, 3) + pow(2, x)
x - 1/x
(x + 1/x)^2
1/(x*(x+1))
sin(x)/(1 + cos(x))
cos(x)/(1 - sin(x))
x^3*sin(x)
exp(3*x)*cos(2*x)
ln(abs(x))
"""

def to_sympy(src, syms):
    s = src.replace("^", "**")
    env = dict(syms)
    env.update({"sin": sp.sin, "cos": sp.cos, "tan": sp.tan, "asin": sp.asin, "acos": sp.acos,
                "atan": sp.atan, "sinh": sp.sinh, "cosh": sp.cosh, "tanh": sp.tanh, "exp": sp.exp,
                "ln": sp.log, "log": sp.log, "sqrt": sp.sqrt, "abs": sp.Abs, "pow": sp.Pow})
    return eval(s, {"__builtins__": {}}, env)

def main():
    names = "x y z w b m".split()
    syms = {n: sp.Symbol(n, real=True) for n in names}
    print("# expr\tvar\tsympy_ops\tsympy_derivative")
    for line in CORPUS.strip().splitlines():
        f = to_sympy(line, syms)
        for v in sorted(f.free_symbols, key=lambda s: s.name):
            d = sp.simplify(sp.diff(f, v))
            print(f"{line}\t{v.name}\t{sp.count_ops(d)}\t{sp.sstr(d)}")

main()
