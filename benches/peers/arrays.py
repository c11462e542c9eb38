#!/usr/bin/env python3
"""numpy, JAX and PyTorch on the array examples, in one run.

Usage (from the repository root; any python with whichever of numpy / jax /
torch are installed: the missing ones are skipped, numpy is required):

    python3 benches/peers/arrays.py [--json PATH] [--repeats N]

The models, float64 everywhere, all 1797 rows of examples/data/digits.csv,
written out as in the .ddx files (the `px / 16` inside the loss, `mean`
over rows, logsumexp(k, z[k]) - z[digit]):
- digits_softmax (examples/digits_softmax.ddx): z = W @ (px / 16) + c,
  W[10, 64], c[10], loss mean(logsumexp - z[digit]) + 1e-4*sum(W^2);
- digits_mlp (examples/digits_mlp.ddx): h = tanh(W1 @ (px / 16) + c1),
  z = W2 @ h + c2, W1[32, 64], c1[32], W2[10, 32], c2[10], loss
  mean(logsumexp - z[digit]).
The softmax model starts at zeros (as declared); the MLP at the start of
tests/data/arrays/train/digits_mlp.init.json (numpy default_rng(2024)
normal(0, 0.1) for W1 then W2, biases 0; regenerated here).

The work:
- grad: one loss + gradient evaluation at the start params;
- first call: the first loss + gradient of a fresh function (JAX: trace and
  XLA compile of the jitted value_and_grad, its backend already up;
  PyTorch: the first eager autograd call of the model, before PyTorch has
  computed anything else in the process, the softmax model first, so it
  also pays PyTorch's one-time set-up; numpy: the first call);
- adam 100: 100 full-batch Adam epochs, lr 0.01, PyTorch's defaults
  otherwise (betas 0.9, 0.999, eps 1e-8), from the start params.

Peers compute the gradient the way their users would: numpy by the formula
written by hand (and Adam by hand, in a Python loop), JAX with
jax.value_and_grad under jax.jit (the 100 epochs one jitted
lax.fori_loop, Adam written out as torch.optim.Adam computes it), PyTorch
eager autograd with torch.optim.Adam. Every peer's gradient is checked
against PyTorch's (1e-10 relative to each array's largest element) and
every peer's loss after the 100 epochs against PyTorch's (1e-9 relative),
so the table compares the same work.

Timing on a noisy shared machine: each measurement is repeated (--repeats,
default 15 for grad, a third of it, at least 5, for adam 100); a repeat of
grad times a batch of calls sized to about 20 ms. The table shows the
minimum (the least disturbed run) and the median. Every library runs on
--threads threads (default 1: OMP/OpenBLAS/MKL thread counts, XLA's
intra-op pool, torch.set_num_threads), since with other work on the
machine a library's spinning worker threads can cost more than the small
matrices gain; the load average is printed before and after.
"""

import argparse
import csv
import json
import os
import platform
import sys
import time


def _threads():
    """--threads, read before numpy, JAX and PyTorch load: their thread
    pools are sized from the environment when they start."""
    ap = argparse.ArgumentParser(add_help=False)
    ap.add_argument("--threads", type=int, default=1)
    return ap.parse_known_args()[0].threads if __name__ == "__main__" else 1


THREADS = _threads()
if __name__ == "__main__":
    for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[_var] = str(THREADS)
    if THREADS == 1:
        os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "") +
                                   " --xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1").strip()

import numpy as np  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DIGITS = os.path.join(ROOT, "examples", "data", "digits.csv")
LR, EPOCHS, B1, B2, EPS = 0.01, 100, 0.9, 0.999, 1e-8
MLP_SEED = 2024


def load_digits():
    with open(DIGITS, newline="") as f:
        r = csv.reader(f)
        header = next(r)
        rows = [row for row in r if row]
    cols = [header.index(f"p{i}") for i in range(64)]
    px = np.array([[float(row[i]) for i in cols] for row in rows])
    digit = np.array([float(row[header.index("digit")]) for row in rows])
    assert np.all(digit == np.round(digit))
    return px, digit.astype(np.int64)


def start_params(model):
    if model == "digits_softmax":
        return {"W": np.zeros((10, 64)), "c": np.zeros(10)}
    rng = np.random.default_rng(MLP_SEED)
    W1 = rng.normal(0.0, 0.1, (32, 64))
    W2 = rng.normal(0.0, 0.1, (10, 32))
    return {"W1": W1, "c1": np.zeros(32), "W2": W2, "c2": np.zeros(10)}


MODELS = ("digits_softmax", "digits_mlp")


# ---- timing -------------------------------------------------------------------------


def stats(times):
    times = sorted(times)
    return {"min": times[0], "median": times[len(times) // 2], "repeats": len(times)}


def time_calls(f, repeats, target=0.02):
    """min and median seconds per call of f over `repeats` batches, a batch
    sized to about `target` seconds (after one warm call)."""
    f()
    t = time.perf_counter()
    f()
    one = max(time.perf_counter() - t, 1e-7)
    per = max(1, int(target / one))
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        for _ in range(per):
            f()
        times.append((time.perf_counter() - t) / per)
    return stats(times)


def time_once(f, repeats):
    """min and median seconds of f() over `repeats` runs (after a warm one);
    also the last result."""
    out = f()
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        out = f()
        times.append(time.perf_counter() - t)
    return stats(times), out


# ---- numpy: gradient and Adam by hand -------------------------------------------------


def np_softmax_grad(p, px, digit):
    n = px.shape[0]
    x = px / 16
    W, c = p["W"], p["c"]
    z = x @ W.T + c
    m = z.max(axis=1, keepdims=True)
    e = np.exp(z - m)
    s = e.sum(axis=1, keepdims=True)
    rows = np.arange(n)
    loss = np.mean(m[:, 0] + np.log(s[:, 0]) - z[rows, digit]) + 1e-4 * np.sum(W * W)
    g = e / s  # softmax - onehot, over n
    g[rows, digit] -= 1.0
    g /= n
    return loss, {"W": g.T @ x + 2e-4 * W, "c": g.sum(axis=0)}


def np_mlp_grad(p, px, digit):
    n = px.shape[0]
    x = px / 16
    W1, c1, W2, c2 = p["W1"], p["c1"], p["W2"], p["c2"]
    h = np.tanh(x @ W1.T + c1)
    z = h @ W2.T + c2
    m = z.max(axis=1, keepdims=True)
    e = np.exp(z - m)
    s = e.sum(axis=1, keepdims=True)
    rows = np.arange(n)
    loss = np.mean(m[:, 0] + np.log(s[:, 0]) - z[rows, digit])
    g = e / s
    g[rows, digit] -= 1.0
    g /= n
    da = (g @ W2) * (1.0 - h * h)
    return loss, {"W1": da.T @ x, "c1": da.sum(axis=0), "W2": g.T @ h, "c2": g.sum(axis=0)}


NP_GRAD = {"digits_softmax": np_softmax_grad, "digits_mlp": np_mlp_grad}


def np_adam(grad, p0, px, digit):
    p = {k: v.copy() for k, v in p0.items()}
    m = {k: np.zeros_like(v) for k, v in p.items()}
    v = {k: np.zeros_like(x) for k, x in p.items()}
    for t in range(1, EPOCHS + 1):
        _, g = grad(p, px, digit)
        bc1 = 1 - B1**t
        bc2s = np.sqrt(1 - B2**t)
        for k in p:
            m[k] = B1 * m[k] + (1 - B1) * g[k]
            v[k] = B2 * v[k] + (1 - B2) * g[k] * g[k]
            p[k] -= (LR / bc1) * m[k] / (np.sqrt(v[k]) / bc2s + EPS)
    return grad(p, px, digit)[0]


def run_numpy(px, digit, ref, reps):
    res = {}
    for model in MODELS:
        grad, p0 = NP_GRAD[model], start_params(model)
        t = time.perf_counter()
        loss, g = grad(p0, px, digit)
        first = time.perf_counter() - t
        check_grad("numpy", model, loss, g, ref[model])
        r = {"first_call": first, "grad": time_calls(lambda: grad(p0, px, digit), reps)}
        r["adam100"], final = time_once(lambda: np_adam(grad, p0, px, digit), max(5, reps // 3))
        check_final("numpy", model, final, ref[model])
        r["final_loss"] = float(final)
        res[model] = r
    return f"numpy {np.__version__}", res


# ---- JAX: value_and_grad under jit, Adam in one jitted fori_loop -----------------------------


def jax_adam(jax, jnp, loss_fn):
    """100 Adam epochs from p as one function (for jax.jit): a
    lax.fori_loop over the steps, Adam as torch.optim.Adam computes it;
    returns the loss at the final params."""
    grad = jax.grad(loss_fn)

    def train(p, px, digit):
        def step(i, s):
            p, m, v = s
            t = (i + 1).astype(jnp.float64)
            g = grad(p, px, digit)
            m = jax.tree.map(lambda m, g: B1 * m + (1 - B1) * g, m, g)
            v = jax.tree.map(lambda v, g: B2 * v + (1 - B2) * g * g, v, g)
            bc1 = 1 - B1**t
            bc2s = jnp.sqrt(1 - B2**t)
            p = jax.tree.map(lambda p, m, v: p - (LR / bc1) * m / (jnp.sqrt(v) / bc2s + EPS), p, m, v)
            return p, m, v

        zeros = jax.tree.map(jnp.zeros_like, p)
        p, _, _ = jax.lax.fori_loop(0, EPOCHS, step, (p, zeros, zeros))
        return loss_fn(p, px, digit)

    return train


def run_jax(px_np, digit_np, ref, reps):
    import jax

    jax.config.update("jax_enable_x64", True)
    import jax.numpy as jnp

    px, digit = jnp.asarray(px_np), jnp.asarray(digit_np)
    jax.block_until_ready(jnp.ones(3) + 1)  # the backend is up before any first call is timed

    def ce(z, digit):
        return jnp.mean(jax.nn.logsumexp(z, axis=1) - jnp.take_along_axis(z, digit[:, None], axis=1)[:, 0])

    def softmax_loss(p, px, digit):
        z = (px / 16) @ p["W"].T + p["c"]
        return ce(z, digit) + 1e-4 * jnp.sum(p["W"] ** 2)

    def mlp_loss(p, px, digit):
        h = jnp.tanh((px / 16) @ p["W1"].T + p["c1"])
        return ce(h @ p["W2"].T + p["c2"], digit)

    losses = {"digits_softmax": softmax_loss, "digits_mlp": mlp_loss}
    res = {}
    for model in MODELS:
        loss_fn = losses[model]
        p0 = {k: jnp.asarray(v) for k, v in start_params(model).items()}
        vg = jax.jit(jax.value_and_grad(loss_fn))
        t = time.perf_counter()
        loss, g = jax.block_until_ready(vg(p0, px, digit))
        first = time.perf_counter() - t
        check_grad("jax", model, float(loss), {k: np.asarray(v) for k, v in g.items()}, ref[model])
        r = {"first_call": first, "grad": time_calls(lambda: jax.block_until_ready(vg(p0, px, digit)), reps)}

        train = jax.jit(jax_adam(jax, jnp, loss_fn))

        t = time.perf_counter()
        jax.block_until_ready(train(p0, px, digit))
        r["adam100_first_call"] = time.perf_counter() - t
        r["adam100"], final = time_once(lambda: jax.block_until_ready(train(p0, px, digit)), max(5, reps // 3))
        check_final("jax", model, float(final), ref[model])
        r["final_loss"] = float(final)
        res[model] = r
    threads = os.environ.get("XLA_FLAGS", "default")
    return f"jax {jax.__version__} (XLA flags: {threads})", res


# ---- PyTorch: eager autograd, torch.optim.Adam -------------------------------------------


def torch_losses():
    import torch

    def ce(z, digit):
        return (torch.logsumexp(z, dim=1) - z.gather(1, digit.unsqueeze(1)).squeeze(1)).mean()

    def softmax_loss(p, px, digit):
        z = (px / 16) @ p["W"].T + p["c"]
        return ce(z, digit) + 1e-4 * (p["W"] ** 2).sum()

    def mlp_loss(p, px, digit):
        h = torch.tanh((px / 16) @ p["W1"].T + p["c1"])
        return ce(h @ p["W2"].T + p["c2"], digit)

    return {"digits_softmax": softmax_loss, "digits_mlp": mlp_loss}


def torch_first_calls(px_np, digit_np):
    """The first eager loss + gradient of each model in a process where
    PyTorch has computed nothing yet (run before anything else uses it)."""
    import torch

    torch.set_default_dtype(torch.float64)
    torch.set_num_threads(THREADS)
    px, digit = torch.from_numpy(px_np), torch.from_numpy(digit_np)
    out = {}
    for model, loss_fn in torch_losses().items():
        p = {k: torch.tensor(v, requires_grad=True) for k, v in start_params(model).items()}
        t = time.perf_counter()
        loss = loss_fn(p, px, digit)
        torch.autograd.grad(loss, list(p.values()))
        loss.item()
        out[model] = time.perf_counter() - t
    return out


def torch_reference(px_np, digit_np):
    """PyTorch's loss and gradient at the start and its loss after the 100
    epochs: what every peer is checked against."""
    import torch

    torch.set_default_dtype(torch.float64)
    torch.set_num_threads(THREADS)
    px, digit = torch.from_numpy(px_np), torch.from_numpy(digit_np)
    ref = {}
    for model, loss_fn in torch_losses().items():
        p = {k: torch.tensor(v, requires_grad=True) for k, v in start_params(model).items()}
        loss = loss_fn(p, px, digit)
        g = torch.autograd.grad(loss, list(p.values()))
        opt = torch.optim.Adam(list(p.values()), lr=LR)
        for _ in range(EPOCHS):
            opt.zero_grad()
            loss_fn(p, px, digit).backward()
            opt.step()
        with torch.no_grad():
            final = loss_fn(p, px, digit).item()
        ref[model] = {"loss": loss.item(), "grad": {k: x.numpy() for k, x in zip(p, g)}, "final": final}
    return ref


def run_torch(px_np, digit_np, ref, reps, cold):
    import torch

    torch.set_default_dtype(torch.float64)
    px, digit = torch.from_numpy(px_np), torch.from_numpy(digit_np)
    res = {}
    for model, loss_fn in torch_losses().items():
        p0 = {k: torch.tensor(v) for k, v in start_params(model).items()}
        p = {k: v.clone().requires_grad_(True) for k, v in p0.items()}

        def grad():
            loss = loss_fn(p, px, digit)
            return loss.item(), torch.autograd.grad(loss, list(p.values()))

        loss, g = grad()
        check_grad("torch", model, loss, {k: x.numpy() for k, x in zip(p, g)}, ref[model])
        r = {"first_call": cold[model], "grad": time_calls(grad, reps)}

        def train():
            q = {k: v.clone().requires_grad_(True) for k, v in p0.items()}
            opt = torch.optim.Adam(list(q.values()), lr=LR)
            for _ in range(EPOCHS):
                opt.zero_grad()
                loss_fn(q, px, digit).backward()
                opt.step()
            with torch.no_grad():
                return loss_fn(q, px, digit).item()

        r["adam100"], final = time_once(train, max(5, reps // 3))
        check_final("torch", model, final, ref[model])
        r["final_loss"] = final
        res[model] = r
    return f"torch {torch.__version__} ({torch.get_num_threads()} threads)", res


# ---- checks, table --------------------------------------------------------------------------


def rel(a, b):
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    return float(np.max(np.abs(a - b) / np.maximum(np.maximum(np.abs(a), np.abs(b)), 1e-12)))


def normwise(a, b):
    """max |a - b| over the array's largest |b|: elements that are zero but
    for rounding (a pixel that is nearly always 0) do not count alone."""
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    return float(np.max(np.abs(a - b)) / max(np.max(np.abs(b)), 1e-300))


def check_grad(peer, model, loss, grad, ref):
    if ref is None:
        return
    worst = max([rel(loss, ref["loss"])] + [normwise(grad[k], ref["grad"][k]) for k in ref["grad"]])
    assert worst < 1e-10, f"{peer} {model}: the gradient is {worst:.3g} relative from PyTorch's"


def check_final(peer, model, final, ref):
    if ref is None:
        return
    worst = rel(final, ref["final"])
    assert worst < 1e-9, f"{peer} {model}: the loss after {EPOCHS} epochs is {worst:.3g} relative from PyTorch's"


def fmt(s):
    if s >= 1:
        return f"{s:.2f} s"
    if s >= 1e-3:
        return f"{s * 1e3:.2f} ms"
    if s >= 1e-6:
        return f"{s * 1e6:.1f} us"
    return f"{s * 1e9:.0f} ns"


def table(peers):
    names = [n.split()[0] for n, _ in peers]
    print("| model | work | " + " | ".join(names) + " |")
    print("|---|---|" + "---|" * len(names))
    for model in MODELS:
        rows = [
            ("grad, min / median", lambda r: f"{fmt(r['grad']['min'])} / {fmt(r['grad']['median'])}"),
            ("first call", lambda r: fmt(r["first_call"])),
            (f"adam {EPOCHS}, min / median", lambda r: f"{fmt(r['adam100']['min'])} / {fmt(r['adam100']['median'])}"),
            (f"adam {EPOCHS} first call (jit)", lambda r: fmt(r["adam100_first_call"]) if "adam100_first_call" in r else "-"),
            (f"loss after {EPOCHS}", lambda r: f"{r['final_loss']:.12g}"),
        ]
        for label, cell in rows:
            print(f"| {model} | {label} | " + " | ".join(cell(res[model]) for _, res in peers) + " |")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--json", metavar="PATH", help="also write the results as JSON")
    ap.add_argument("--repeats", type=int, default=15, help="repeats of grad (adam: a third, at least 5)")
    ap.add_argument("--threads", type=int, default=1, help="threads of every library (default 1)")
    args = ap.parse_args()
    px, digit = load_digits()
    print(f"python {sys.version.split()[0]} on {platform.machine()}, {os.cpu_count()} cores; "
          f"{px.shape[0]} rows, float64; {THREADS} thread(s) per library; "
          f"load average {os.getloadavg()[0]:.1f}", flush=True)
    t0 = time.perf_counter()
    try:
        cold = torch_first_calls(px, digit)
        ref = torch_reference(px, digit)
    except ImportError:
        print("torch not installed: the peers are checked against nothing", flush=True)
        cold, ref = None, {m: None for m in MODELS}
    peers = []
    for runner in (run_numpy, run_jax, run_torch):
        name = runner.__name__[4:]
        try:
            if runner is run_torch:
                if cold is None:
                    raise ImportError("torch")
                peers.append(run_torch(px, digit, ref, args.repeats, cold))
            else:
                peers.append(runner(px, digit, ref, args.repeats))
            print(f"{peers[-1][0]}: done ({time.perf_counter() - t0:.0f} s)", flush=True)
        except ImportError:
            print(f"{name}: not installed, skipped", flush=True)
    load_end = os.getloadavg()[0]
    print(f"load average at the end {load_end:.1f}")
    print()
    table(peers)
    if args.json:
        out = {
            "python": sys.version.split()[0],
            "cores": os.cpu_count(),
            "rows": int(px.shape[0]),
            "threads": THREADS,
            "load_average_end": load_end,
            "epochs": EPOCHS,
            "lr": LR,
            "peers": {n: res for n, res in peers},
        }
        with open(args.json, "w") as f:
            json.dump(out, f, indent=1)
        print(f"\nwrote {args.json}")


if __name__ == "__main__":
    main()
