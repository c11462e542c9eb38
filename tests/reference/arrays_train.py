#!/usr/bin/env python3
"""PyTorch reference trajectories for training the array examples, in
float64: full-batch torch.optim.Adam with each example's `train` settings.

It writes, under tests/data/arrays/train/:

  digits_softmax.adam.json  examples/digits_softmax.ddx from its declared
                            start (W = 0, c = 0), Adam lr 0.01, 200 epochs
  digits_mlp.init.json      a start for examples/digits_mlp.ddx in ddx's
                            `--init` format: {"params": {"W1": ..., ...}},
                            the weights numpy.random.default_rng(MLP_SEED)
                            .normal(0, 0.1, shape) (W1 first, then W2), the
                            biases 0
  digits_mlp.adam.json      examples/digits_mlp.ddx from digits_mlp.init.json,
                            Adam lr 0.01, 100 epochs
  diabetes.lstsq.json       the least-squares optimum of examples/diabetes.ddx
                            (numpy.linalg.lstsq with an intercept column)

A trajectory file is

  {"model": NAME, "ddx": "examples/NAME.ddx", "start": ..., "torch": VERSION,
   "optimizer": {"name": "adam", "lr": ..., "betas": [0.9, 0.999],
                 "eps": 1e-08, "weight_decay": 0, "amsgrad": false,
                 "epochs": N},
   "losses": [N numbers: the loss of epoch t at the params *before* its step],
   "final_loss": the loss at the params after the last step,
   "final_params": {"W": [[...], ...], "c": [...]}}

every float at full precision (Python's repr), arrays nested row-major.

The models are the ones tests/reference/arrays.py writes out by hand (it is
imported: one definition of each loss). Each run is repeated with the data
rows in reverse order (another summation order); the largest relative
difference of a loss and of a final param element is printed and stored as
"reversed_rows": {"losses": ..., "final_params": ...}, so a test knows how
tight a tolerance these trajectories support. Each run is also repeated
with Adam written out by its formula in numpy (the gradient still from
torch autograd); "adam_formula" holds the same two differences from
torch.optim.Adam's run (asserted below 1e-12 for the losses and 1e-9 for
the final params).

The least-squares answer is also solved exactly in rational arithmetic
(normal equations over the float64 data, fractions.Fraction) and the
lstsq values must agree with it to 1e-12 relative.

Usage (from the repository root, torch and numpy installed):
    python3 tests/reference/arrays_train.py
"""
import fractions
import json
import os
import sys

import numpy as np
import torch

sys.dont_write_bytecode = True  # no __pycache__ beside the scripts
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import arrays  # noqa: E402  (the data readers and the losses, by hand)

torch.set_default_dtype(torch.float64)

OUT = os.path.join(arrays.ROOT, "tests", "data", "arrays", "train")
MLP_SEED = 2024
ADAM = {"betas": [0.9, 0.999], "eps": 1e-8, "weight_decay": 0, "amsgrad": False}


def adam_run(loss_fn, start, data, lr, epochs):
    """Full-batch torch.optim.Adam (defaults but lr) from `start` (a dict of
    float64 arrays): the losses before each step, the final params and
    the loss at them."""
    ps = {n: torch.tensor(np.asarray(v, dtype=np.float64)).requires_grad_(True) for n, v in start.items()}
    opt = torch.optim.Adam(
        list(ps.values()), lr=lr, betas=tuple(ADAM["betas"]), eps=ADAM["eps"],
        weight_decay=ADAM["weight_decay"], amsgrad=ADAM["amsgrad"],
    )
    losses = []
    for _ in range(epochs):
        opt.zero_grad()
        loss = loss_fn(ps, data)
        losses.append(loss.item())
        loss.backward()
        opt.step()
    with torch.no_grad():
        final = loss_fn(ps, data).item()
    return losses, {n: v.detach().numpy().copy() for n, v in ps.items()}, final


def formula_run(loss_fn, start, data, lr, epochs):
    """The same run with Adam written out by its formula (numpy, float64),
    the gradient from torch autograd: the losses before each step and the
    final params. Checks that the formula in the README is the one
    torch.optim.Adam follows."""
    b1, b2 = ADAM["betas"]
    eps = ADAM["eps"]
    p = {n: np.array(v, dtype=np.float64) for n, v in start.items()}
    m = {n: np.zeros_like(v) for n, v in p.items()}
    v = {n: np.zeros_like(x) for n, x in p.items()}
    losses = []
    for t in range(1, epochs + 1):
        ps = {n: torch.tensor(x, requires_grad=True) for n, x in p.items()}
        loss = loss_fn(ps, data)
        losses.append(loss.item())
        g = dict(zip(ps, (x.numpy() for x in torch.autograd.grad(loss, list(ps.values())))))
        for n in p:
            m[n] = b1 * m[n] + (1 - b1) * g[n]
            v[n] = b2 * v[n] + (1 - b2) * g[n] * g[n]
            p[n] = p[n] - lr * (m[n] / (1 - b1**t)) / (np.sqrt(v[n]) / np.sqrt(1 - b2**t) + eps)
    return losses, p


def rel_diff(a, b):
    """The largest |a - b| / max(|a|, |b|, 1e-300) over elements."""
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    return float(np.max(np.abs(a - b) / np.maximum(np.maximum(np.abs(a), np.abs(b)), 1e-300)))


def fmt(v, indent):
    """A value as JSON text: floats by repr, a list of numbers on one line,
    a list of lists one row a line."""
    if isinstance(v, np.ndarray):
        v = v.tolist()
    if isinstance(v, list) and v and isinstance(v[0], list):
        pad = " " * (indent + 2)
        return "[\n" + ",\n".join(pad + json.dumps(r) for r in v) + "\n" + " " * indent + "]"
    return json.dumps(v)


def write_json(path, obj):
    """Writes a dict with one top-level key a line, the `losses` one number a
    line and each param of a `*params` dict on its own line(s); checks that
    it reads back to the same numbers."""
    lines = ["{"]
    items = list(obj.items())
    for i, (key, val) in enumerate(items):
        comma = "," if i + 1 < len(items) else ""
        if key == "losses":
            lines.append(f"  {json.dumps(key)}: [")
            lines += [f"    {json.dumps(x)}" + ("," if j + 1 < len(val) else "") for j, x in enumerate(val)]
            lines.append(f"  ]{comma}")
        elif key.endswith("params"):
            lines.append(f"  {json.dumps(key)}: {{")
            inner = list(val.items())
            for j, (n, x) in enumerate(inner):
                c = "," if j + 1 < len(inner) else ""
                lines.append(f"    {json.dumps(n)}: {fmt(x, 4)}{c}")
            lines.append(f"  }}{comma}")
        else:
            lines.append(f"  {json.dumps(key)}: {json.dumps(val)}{comma}")
    lines.append("}")
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")
    back = json.load(open(path))

    def same(a, b):
        if isinstance(a, dict):
            return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
        if isinstance(a, np.ndarray):
            return np.array_equal(np.asarray(b), a)
        if isinstance(a, (list, tuple)):
            return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
        return a == b

    assert same(obj, back), path


def trajectory(name, loss_fn, start, start_text, lr, epochs):
    data = arrays.digits_data()
    losses, final, final_loss = adam_run(loss_fn, start, data, lr, epochs)
    losses_r, final_r, _ = adam_run(loss_fn, start, arrays.reversed_rows(data), lr, epochs)
    rev = {
        "losses": rel_diff(losses, losses_r),
        "final_params": max(rel_diff(final[n], final_r[n]) for n in final),
    }
    losses_f, final_f = formula_run(loss_fn, start, data, lr, epochs)
    formula = {
        "losses": rel_diff(losses, losses_f),
        "final_params": max(rel_diff(final[n], final_f[n]) for n in final),
    }
    assert formula["losses"] < 1e-12 and formula["final_params"] < 1e-9, (name, formula)
    obj = {
        "model": name,
        "ddx": f"examples/{name}.ddx",
        "start": start_text,
        "torch": torch.__version__,
        "optimizer": {"name": "adam", "lr": lr, **ADAM, "epochs": epochs},
        "reversed_rows": rev,
        "adam_formula": formula,
        "losses": losses,
        "final_loss": final_loss,
        "final_params": final,
    }
    write_json(os.path.join(OUT, f"{name}.adam.json"), obj)
    print(
        f"{name}: adam(lr = {lr}, epochs = {epochs}) loss {losses[0]:.17g} -> {losses[-1]:.17g} "
        f"(after the last step {final_loss:.17g}); rows reversed: losses within {rev['losses']:.2g}, "
        f"final params within {rev['final_params']:.2g} relative; Adam by its formula: losses within "
        f"{formula['losses']:.2g}, final params within {formula['final_params']:.2g}"
    )


def mlp_start():
    rng = np.random.default_rng(MLP_SEED)
    W1 = rng.normal(0.0, 0.1, (32, 64))
    W2 = rng.normal(0.0, 0.1, (10, 32))
    return {"W1": W1, "c1": np.zeros(32), "W2": W2, "c2": np.zeros(10)}


def exact_lstsq(X, y):
    """The exact solution of the normal equations X'X p = X'y over the
    float64 values (Gaussian elimination in fractions)."""
    F = fractions.Fraction
    Xf = [[F(v) for v in row] for row in X.tolist()]
    yf = [F(v) for v in y.tolist()]
    k = X.shape[1]
    A = [[sum(r[i] * r[j] for r in Xf) for j in range(k)] + [sum(r[i] * t for r, t in zip(Xf, yf))] for i in range(k)]
    for c in range(k):
        piv = next(r for r in range(c, k) if A[r][c] != 0)
        A[c], A[piv] = A[piv], A[c]
        for r in range(k):
            if r != c and A[r][c] != 0:
                f = A[r][c] / A[c][c]
                A[r] = [a - f * b for a, b in zip(A[r], A[c])]
    p = [A[i][k] / A[i][i] for i in range(k)]
    n = len(yf)
    loss = sum((sum(a * b for a, b in zip(r, p)) - t) ** 2 for r, t in zip(Xf, yf)) / n
    return [float(v) for v in p], float(loss)


def diabetes():
    d = arrays.diabetes_data()
    x, y = d["x"].numpy(), d["y"].numpy()
    X = np.hstack([x, np.ones((x.shape[0], 1))])
    p, *_ = np.linalg.lstsq(X, y, rcond=None)
    w, b = p[:10], float(p[10])
    loss = float(np.mean((x @ w + b - y) ** 2))
    exact, exact_loss = exact_lstsq(X, y)
    worst = rel_diff(p, exact)
    assert worst < 1e-12, f"diabetes: lstsq is {worst} from the exact solution"
    assert rel_diff(loss, exact_loss) < 1e-12, (loss, exact_loss)
    obj = {
        "model": "diabetes",
        "ddx": "examples/diabetes.ddx",
        "method": "numpy.linalg.lstsq of [x, 1] against y (float64)",
        "numpy": np.__version__,
        "exact_rel_diff": worst,
        "loss": loss,
        "params": {"w": w, "b": b},
    }
    write_json(os.path.join(OUT, "diabetes.lstsq.json"), obj)
    print(f"diabetes: least squares loss {loss:.17g} (exact {exact_loss:.17g}), b {b:.17g}; "
          f"lstsq within {worst:.2g} relative of the exact solution")


def main():
    print(f"torch {torch.__version__}, numpy {np.__version__}")
    os.makedirs(OUT, exist_ok=True)
    trajectory(
        "digits_softmax", arrays.digits_softmax_loss,
        {"W": np.zeros((10, 64)), "c": np.zeros(10)}, "zeros (as declared)", 0.01, 200,
    )
    start = mlp_start()
    write_json(os.path.join(OUT, "digits_mlp.init.json"), {"params": start})
    trajectory(
        "digits_mlp", arrays.digits_mlp_loss, start,
        f"digits_mlp.init.json (numpy default_rng({MLP_SEED}).normal(0, 0.1): W1 then W2; biases 0)",
        0.01, 100,
    )
    diabetes()


if __name__ == "__main__":
    main()
