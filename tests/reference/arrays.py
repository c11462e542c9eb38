#!/usr/bin/env python3
"""PyTorch ground truth for the array models: the loss and its gradient
with respect to every param, in float64, at random params.

For each model (the four array examples in examples/ and the extra models in
tests/data/arrays/) it writes, under tests/data/arrays/:

  NAME.params.json    {"params": {"w": [...], "b": 0.12, "W1": [[...], ...]}}
  NAME.expected.json  {"loss": L, "gradient": {"w": [...], "b": g, ...}}

The params are numpy.random.default_rng(SEED).standard_normal(shape) * 0.3,
drawn in declaration order (a scalar param draws one number); arrays are
nested row-major lists, every float written at full precision (repr). The
math of each model is written out below by hand, the same as its .ddx file;
the param names, order and shapes are read from the .ddx file and must
match. Data come from the same CSV files (columns picked by header name) or
the same inline rows.

Every gradient is also recomputed with the data rows in reverse order: the
two must agree far inside the tolerance of tests/arrays_reference.rs
(1e-10 relative, 1e-12 absolute), which shows no element is so
ill-conditioned that a different summation order could fail the test.

Usage (from the repository root, torch and numpy installed):
    python3 tests/reference/arrays.py            # write the JSON files
    python3 tests/reference/arrays.py --train    # also print the Adam runs of
                                                 # the examples from their
                                                 # declared start (thresholds)
"""
import csv
import json
import os
import re
import sys

import numpy as np
import torch

torch.set_default_dtype(torch.float64)

ROOT = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
OUT = os.path.join(ROOT, "tests", "data", "arrays")
EX_DATA = os.path.join(ROOT, "examples", "data")

IRIS_X = ["sepal_length", "sepal_width", "petal_length", "petal_width"]
DIABETES_X = ["age", "sex", "bmi", "bp", "s1", "s2", "s3", "s4", "s5", "s6"]
PIXELS = [f"p{i}" for i in range(64)]


def columns(path, names):
    """The named columns of a CSV file (header first) as a float64 array,
    rows x len(names)."""
    with open(path, newline="") as f:
        reader = csv.reader(f)
        header = next(reader)
        idx = [header.index(n) for n in names]
        rows = [[float(r[i]) for i in idx] for r in reader if r]
    return torch.tensor(rows, dtype=torch.float64)


def labels(path, name):
    """A label column as integer indices (whole numbers checked)."""
    v = columns(path, [name])[:, 0]
    assert torch.all(v == torch.round(v)), f"{path}: {name} is not whole"
    return v.long()


# ---- the models ---------------------------------------------------------------------
# Each model: its .ddx file, the rng seed of its params, its data (a dict of
# tensors, first dimension the rows) and its loss as a function of the
# params (a dict of tensors) and the data.


def mean(v):
    """mean over data rows."""
    return v.mean(dim=0)


def lse(z):
    """logsumexp(k, z[k]) per row (z is rows x K)."""
    return torch.logsumexp(z, dim=1)


def gather(z, label):
    """z[label] per row."""
    return z.gather(1, label.unsqueeze(1)).squeeze(1)


def diabetes_data():
    f = os.path.join(EX_DATA, "diabetes.csv")
    return {"x": columns(f, DIABETES_X), "y": columns(f, ["target"])[:, 0]}


def diabetes_loss(p, d):
    yhat = d["x"] @ p["w"] + p["b"]  # dot(w, x) + b, per row
    return mean((yhat - d["y"]) ** 2)


def iris_data():
    f = os.path.join(EX_DATA, "iris.csv")
    return {"x": columns(f, IRIS_X), "species": labels(f, "species")}


def iris_loss(p, d):
    # z[k] = sum(j, W[k, j]*x[j]) + c[k]
    z = (p["W"].unsqueeze(0) * d["x"].unsqueeze(1)).sum(dim=2) + p["c"]
    return mean(lse(z) - gather(z, d["species"]))


def digits_data():
    f = os.path.join(EX_DATA, "digits.csv")
    return {"px": columns(f, PIXELS), "digit": labels(f, "digit")}


def digits_softmax_loss(p, d):
    z = (d["px"] / 16) @ p["W"].T + p["c"]  # W @ (px / 16) + c
    return mean(lse(z) - gather(z, d["digit"])) + 1e-4 * (p["W"] ** 2).sum()


def digits_mlp_loss(p, d):
    h = torch.tanh((d["px"] / 16) @ p["W1"].T + p["c1"])
    z = h @ p["W2"].T + p["c2"]
    return mean(lse(z) - gather(z, d["digit"]))


def minmax_inline_data():
    return {
        "x": torch.tensor([[0, 1], [1, 0.5], [2, 0.25]]),
        "y": torch.tensor([0.5, -1, 2]),
    }


def minmax_inline_loss(p, d):
    w, a, x = p["w"], p["a"], d["x"]
    u = w * x + a  # u[j] = w[j]*x[j] + a, per row
    s = torch.exp(a * w - 1)
    mx = u.max(dim=1).values  # max(j, u[j])
    mn = torch.sin(u - x).min(dim=1).values  # min(j, sin(u[j] - x[j]))
    return mean((mx - d["y"]) ** 2 + mn) + w[0] ** 2 + a * s.sum()


def softmax_let_loss(p, d):
    z = d["x"] @ p["V"] + p["c"]  # V' @ x + c
    e = torch.exp(z - z.max(dim=1, keepdim=True).values)
    prob = e / e.sum(dim=1, keepdim=True)  # p[k] = softmax(k, z[k])
    return mean(-torch.log(gather(prob, d["species"])) + 0.5 * (prob**2).sum(dim=1))


def matmul_data():
    return {
        "x": torch.tensor(
            [[1, 0.5, -0.25], [0.2, -1, 0.7], [-0.6, 0.3, 1.1], [0.9, 0.8, -1.3], [-0.4, -0.7, 0.05]]
        ),
        "y": torch.tensor([0.3, -1.2, 0.8, 1.5, -0.1]),
    }


def matmul_loss(p, d):
    A, B, v, x = p["A"], p["B"], p["v"], d["x"]
    M = A @ B
    r = x @ (M - 1)  # transpose(M - 1) @ x, per row: r[i] = sum(j, (M - 1)[j, i]*x[j])
    yhat = r @ v + (r * x).sum(dim=1)  # dot(v, r) + dot(r, x)
    G = A.T @ A
    return mean((yhat - d["y"]) ** 2) + 0.1 * (G**2).sum()


def iris_relu_loss(p, d):
    h = torch.relu(d["x"] @ p["W1"].T + p["c1"])
    z = (h @ p["W2"].T + p["c2"]) * p["t"]
    l2 = (p["W1"] ** 2).sum() + (p["W2"] ** 2).sum()
    return mean(lse(z) - gather(z, d["species"])) + 1e-3 * l2


def iris_hinge_loss(p, d):
    z = (p["W"].unsqueeze(0) * d["x"].unsqueeze(1)).sum(dim=2) + p["c"]
    mx = z.max(dim=1).values
    mn = z.min(dim=1).values
    return mean(mx - gather(z, d["species"]) + 0.1 * (z[:, 0] - mn))


def gap(v):
    """The smallest distance, over rows, between the largest value of a row
    and the next one, and between the smallest and the next: how far
    max/min over an index is from a tie."""
    top = torch.sort(v, dim=1).values
    return min((top[:, -1] - top[:, -2]).min().item(), (top[:, 1] - top[:, 0]).min().item())


def kink_margin(name, p, d):
    """How far the params are from a kink of the loss (a tie of max or min,
    a relu input at 0): ddx check's finite differences must not cross one."""
    t = {n: torch.as_tensor(v, dtype=torch.float64) for n, v in p.items()}
    if name == "minmax_inline":
        u = t["w"] * d["x"] + t["a"]
        return min(gap(u), gap(torch.sin(u - d["x"])))
    if name == "iris_hinge":
        return gap((t["W"].unsqueeze(0) * d["x"].unsqueeze(1)).sum(dim=2) + t["c"])
    if name == "iris_relu":
        return (d["x"] @ t["W1"].T + t["c1"]).abs().min().item()
    return float("inf")


EXAMPLES = os.path.join(ROOT, "examples")
MODELS = [
    # name, .ddx file, seed, data, loss
    ("diabetes", EXAMPLES, 101, diabetes_data, diabetes_loss),
    ("iris", EXAMPLES, 102, iris_data, iris_loss),
    ("digits_softmax", EXAMPLES, 103, digits_data, digits_softmax_loss),
    ("digits_mlp", EXAMPLES, 104, digits_data, digits_mlp_loss),
    ("minmax_inline", OUT, 201, minmax_inline_data, minmax_inline_loss),
    ("softmax_let", OUT, 202, iris_data, softmax_let_loss),
    ("matmul", OUT, 203, matmul_data, matmul_loss),
    ("iris_relu", OUT, 204, iris_data, iris_relu_loss),
    ("iris_hinge", OUT, 206, iris_data, iris_hinge_loss),
]

PARAM_LINE = re.compile(r"^\s*param\s+(.*)$")
ONE_PARAM = re.compile(r"\s*([A-Za-z_]\w*)\s*(?:\[([^\]]*)\])?\s*=")


def declared_params(path):
    """(name, shape) of every param of a .ddx file, in declaration order.
    Only the simple forms the models here use: one `param` per line, or
    several scalars separated by commas."""
    out = []
    for line in open(path):
        line = line.split("#")[0]
        m = PARAM_LINE.match(line)
        if not m:
            continue
        rest = m.group(1)
        # split at top-level commas (not inside brackets or parentheses)
        parts, depth, cur = [], 0, ""
        for ch in rest:
            if ch in "[(":
                depth += 1
            elif ch in "])":
                depth -= 1
            if ch == "," and depth == 0:
                parts.append(cur)
                cur = ""
            else:
                cur += ch
        parts.append(cur)
        for part in parts:
            pm = ONE_PARAM.match(part)
            assert pm, f"{path}: cannot read param declaration {part!r}"
            dims = pm.group(2)
            shape = tuple(int(s) for s in dims.split(",")) if dims else ()
            out.append((pm.group(1), shape))
    return out


def random_params(decls, seed):
    rng = np.random.default_rng(seed)
    params = {}
    for name, shape in decls:
        if shape:
            params[name] = rng.standard_normal(shape) * 0.3
        else:
            params[name] = float(rng.standard_normal() * 0.3)
    return params


def loss_and_grad(loss_fn, params, data):
    ps = {n: torch.tensor(v, dtype=torch.float64, requires_grad=True) for n, v in params.items()}
    loss = loss_fn(ps, data)
    grads = torch.autograd.grad(loss, list(ps.values()))
    return loss.item(), {n: g.detach().numpy() for n, g in zip(ps, grads)}


def reversed_rows(data):
    return {k: torch.flip(v, dims=[0]) for k, v in data.items()}


def to_json(v):
    """A param or gradient value as JSON: plain floats, nested row-major
    lists, repr precision (Python's json writes floats with repr)."""
    if isinstance(v, np.ndarray):
        if v.ndim == 0:
            return float(v)
        return v.tolist()
    return float(v)


def write_obj(path, top_key_values):
    """Writes {"k": ..., "k2": {"name": value, ...}} with one param per line."""
    lines = ["{"]
    items = list(top_key_values.items())
    for i, (key, val) in enumerate(items):
        comma = "," if i + 1 < len(items) else ""
        if isinstance(val, dict):
            lines.append(f"  {json.dumps(key)}: {{")
            inner = list(val.items())
            for j, (n, x) in enumerate(inner):
                c = "," if j + 1 < len(inner) else ""
                lines.append(f"    {json.dumps(n)}: {json.dumps(to_json(x))}{c}")
            lines.append(f"  }}{comma}")
        else:
            lines.append(f"  {json.dumps(key)}: {json.dumps(to_json(val))}{comma}")
    lines.append("}")
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")
    # what was written reads back to the same numbers
    back = json.load(open(path))
    for key, val in top_key_values.items():
        if isinstance(val, dict):
            for n, x in val.items():
                assert np.array_equal(np.asarray(back[key][n]), np.asarray(to_json(x))), (path, n)
        else:
            assert back[key] == to_json(val), (path, key)


def worst_disagreement(a, b):
    """The largest error of b against a, as a fraction of the test's
    tolerance: |a - b| / max(1e-10 * max(|a|, |b|), 1e-12)."""
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    tol = np.maximum(1e-10 * np.maximum(np.abs(a), np.abs(b)), 1e-12)
    return float(np.max(np.abs(a - b) / tol))


def generate():
    for name, where, seed, data_fn, loss_fn in MODELS:
        ddx = os.path.join(where, name + ".ddx")
        decls = declared_params(ddx)
        params = random_params(decls, seed)
        data = data_fn()
        loss, grad = loss_and_grad(loss_fn, params, data)
        margin = kink_margin(name, params, data)
        assert margin > 1e-3, f"{name}: a kink within {margin} of the params"
        for n, shape in decls:
            assert grad[n].shape == shape, (name, n, grad[n].shape, shape)
        # the same with the rows in reverse order: another summation order
        loss2, grad2 = loss_and_grad(loss_fn, params, reversed_rows(data))
        worst = worst_disagreement(loss, loss2)
        for n in grad:
            worst = max(worst, worst_disagreement(grad[n], grad2[n]))
        assert worst < 0.01, f"{name}: rows reversed moves a value by {worst} tolerances"
        write_obj(os.path.join(OUT, name + ".params.json"), {"params": params})
        write_obj(os.path.join(OUT, name + ".expected.json"), {"loss": loss, "gradient": grad})
        sizes = sum(int(np.prod(s)) if s else 1 for _, s in decls)
        rows = len(next(iter(data.values())))
        print(
            f"{name}: {sizes} param elements, {rows} rows, loss {loss:.17g}, "
            f"reversed rows within {worst:.2g} of the tolerance"
            + (f", kinks at least {margin:.2g} away" if margin < float("inf") else "")
        )


def train_examples():
    """Full-batch Adam (torch.optim.Adam, the defaults but lr) from each
    example's declared start: the costs the example comments state. The MLP
    starts from torch's normal(0, 0.1) (its own generator, not ddx's)."""
    starts = {
        "diabetes": lambda: {"w": torch.zeros(10), "b": torch.zeros(())},
        "iris": lambda: {"W": torch.zeros(3, 4), "c": torch.zeros(3)},
        "digits_softmax": lambda: {"W": torch.zeros(10, 64), "c": torch.zeros(10)},
        "digits_mlp": lambda: {
            "W1": torch.randn(32, 64, generator=torch.Generator().manual_seed(1)) * 0.1,
            "c1": torch.zeros(32),
            "W2": torch.randn(10, 32, generator=torch.Generator().manual_seed(2)) * 0.1,
            "c2": torch.zeros(10),
        },
    }
    setup = {"diabetes": (1, 2000), "iris": (0.05, 500), "digits_softmax": (0.01, 200), "digits_mlp": (0.01, 100)}
    for name, _, _, data_fn, loss_fn in MODELS[:4]:
        lr, epochs = setup[name]
        ps = {n: v.clone().requires_grad_(True) for n, v in starts[name]().items()}
        opt = torch.optim.Adam(list(ps.values()), lr=lr)
        data = data_fn()
        first = None
        for _ in range(epochs):
            opt.zero_grad()
            loss = loss_fn(ps, data)
            first = loss.item() if first is None else first
            loss.backward()
            opt.step()
        final = loss_fn(ps, data).item()
        print(f"{name}: adam(lr = {lr}, epochs = {epochs}) from {first:.6g} to {final:.6g}")


if __name__ == "__main__":
    print(f"torch {torch.__version__}, numpy {np.__version__}")
    generate()
    if "--train" in sys.argv[1:]:
        train_examples()
