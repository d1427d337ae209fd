"""Pure numpy math of the recurrent NAS controller (no Keras, no TensorFlow).

The controller is an autoregressive policy over a sequence of decisions.
Step `t` feeds an input vector `x_t` through a recurrent cell (LSTM or GRU)
and turns the hidden state `h_t` into logits with the softmax head of the
decision made at that step; the embedding of the chosen value is the next
input `x_{t+1}` (a learned start vector is `x_0`). Decisions are identified
by name (one head and one embedding table per hyperparameter), so sequences
may differ in length and order between samples (conditional search spaces)
and heads can be added at any time (new hyperparameters).

Parameters, gradients and Adam moments are dicts `name -> numpy.ndarray`
(float64):

* `"core/W"`: `(G * H, E + H)` and `"core/b"`: `(G * H,)`, G = 4 gates for
  the LSTM (input, forget, output, candidate), G = 3 for the GRU (update,
  reset, candidate; the candidate row block multiplies `[x; r * h]`);
* `"start"`: `(E,)`, the first input;
* `"head/<name>/W"`: `(n, H)`, `"head/<name>/b"`: `(n,)`, the softmax head
  of the decision `<name>` with `n` values;
* `"embed/<name>"`: `(n, E)`, embeddings of its values (next input).

A *path* is a list of `(name, action)` pairs: the decisions in the order
they were made and the index of the value chosen for each.

Reference:
    Zoph & Le, "Neural Architecture Search with Reinforcement Learning",
    ICLR 2017, Sections 3.1-3.2 (controller, REINFORCE with baseline).
    Kingma & Ba, "Adam: A Method for Stochastic Optimization", ICLR 2015,
    Algorithm 1.
"""

import numpy as np

CELLS = ("lstm", "gru")
_GATES = {"lstm": 4, "gru": 3}
#: Initial weights are uniform in [-INIT_SCALE, INIT_SCALE] (Zoph & Le use 0.08).
INIT_SCALE = 0.08


def _sigmoid(z):
    return 0.5 * (1.0 + np.tanh(0.5 * z))


def init_params(cell, hidden_units, embedding_units, rng):
    """Creates the recurrent core and start vector.

    Args:
        cell: str, "lstm" or "gru".
        hidden_units: int, H.
        embedding_units: int, E (size of the inputs).
        rng: `numpy.random.Generator`.

    Returns:
        dict of parameters (no heads yet; see `add_head`).
    """
    gates = _GATES[cell]
    h, e = hidden_units, embedding_units
    params = {
        "core/W": rng.uniform(-INIT_SCALE, INIT_SCALE, size=(gates * h, e + h)),
        "core/b": np.zeros(gates * h),
        "start": rng.uniform(-INIT_SCALE, INIT_SCALE, size=e),
    }
    if cell == "lstm":
        params["core/b"][h : 2 * h] = 1.0  # forget-gate bias 1
    return params


def head_names(name):
    """The parameter names belonging to decision `name` (list of str)."""
    return [f"head/{name}/W", f"head/{name}/b", f"embed/{name}"]


def add_head(params, name, num_values, rng):
    """Adds a softmax head and an embedding table for decision `name` in place.

    The head starts at zero, so a new decision starts uniform.

    Args:
        params: dict of parameters (changed in place).
        name: str, the decision's name.
        num_values: int >= 1, number of values of the decision.
        rng: `numpy.random.Generator` for the embedding table.
    """
    h = params["core/W"].shape[1] - params["start"].shape[0]
    e = params["start"].shape[0]
    params[f"head/{name}/W"] = np.zeros((num_values, h))
    params[f"head/{name}/b"] = np.zeros(num_values)
    params[f"embed/{name}"] = rng.uniform(-INIT_SCALE, INIT_SCALE, size=(num_values, e))


def initial_state(params, cell):
    """Zero recurrent state: `(h, c)` for the LSTM, `(h,)` for the GRU."""
    h = params["core/W"].shape[1] - params["start"].shape[0]
    return (np.zeros(h), np.zeros(h)) if cell == "lstm" else (np.zeros(h),)


def cell_step(params, cell, x, state):
    """One step of the recurrent core.

    Args:
        params: dict of parameters.
        cell: str, "lstm" or "gru".
        x: array `(E,)`, the input.
        state: tuple from `initial_state` or a previous `cell_step`.

    Returns:
        tuple `(new_state, cache)`; `new_state[0]` is the hidden output `h`.
    """
    W, b = params["core/W"], params["core/b"]
    h_prev = state[0]
    n = h_prev.shape[0]
    if cell == "lstm":
        c_prev = state[1]
        xh = np.concatenate([x, h_prev])
        z = W @ xh + b
        i, f, o = _sigmoid(z[:n]), _sigmoid(z[n : 2 * n]), _sigmoid(z[2 * n : 3 * n])
        g = np.tanh(z[3 * n :])
        c = f * c_prev + i * g
        tc = np.tanh(c)
        h = o * tc
        return (h, c), (xh, i, f, o, g, c_prev, tc)
    xh = np.concatenate([x, h_prev])
    zr = _sigmoid(W[: 2 * n] @ xh + b[: 2 * n])
    u, r = zr[:n], zr[n:]
    xrh = np.concatenate([x, r * h_prev])
    cand = np.tanh(W[2 * n :] @ xrh + b[2 * n :])
    h = (1.0 - u) * cand + u * h_prev
    return (h,), (xh, xrh, u, r, cand, h_prev)


def _cell_backward(params, cell, cache, dh, dc, grads):
    """Backward of `cell_step`; accumulates into `grads`; returns (dx, dh_prev, dc_prev)."""
    W = params["core/W"]
    if cell == "lstm":
        xh, i, f, o, g, c_prev, tc = cache
        n = i.shape[0]
        do = dh * tc
        dct = dc + dh * o * (1.0 - tc * tc)
        dz = np.concatenate(
            [
                dct * g * i * (1.0 - i),
                dct * c_prev * f * (1.0 - f),
                do * o * (1.0 - o),
                dct * i * (1.0 - g * g),
            ]
        )
        grads["core/W"] += np.outer(dz, xh)
        grads["core/b"] += dz
        dxh = W.T @ dz
        e = xh.shape[0] - n
        return dxh[:e], dxh[e:], dct * f
    xh, xrh, u, r, cand, h_prev = cache
    n = u.shape[0]
    e = xh.shape[0] - n
    dcand = dh * (1.0 - u)
    du = dh * (h_prev - cand)
    dh_prev = dh * u
    da = dcand * (1.0 - cand * cand)
    grads["core/W"][2 * n :] += np.outer(da, xrh)
    grads["core/b"][2 * n :] += da
    dxrh = W[2 * n :].T @ da
    dx = dxrh[:e].copy()
    drh = dxrh[e:]
    dr = drh * h_prev
    dh_prev = dh_prev + drh * r
    dzr = np.concatenate([du * u * (1.0 - u), dr * r * (1.0 - r)])
    grads["core/W"][: 2 * n] += np.outer(dzr, xh)
    grads["core/b"][: 2 * n] += dzr
    dxh = W[: 2 * n].T @ dzr
    return dx + dxh[:e], dh_prev + dxh[e:], None


def logits(params, name, h):
    """Logits `(n,)` of decision `name` given the hidden output `h`."""
    return params[f"head/{name}/W"] @ h + params[f"head/{name}/b"]


def softmax(z, temperature=1.0):
    """Numerically stable softmax of `z / temperature` (1D)."""
    z = np.asarray(z, dtype=np.float64) / float(temperature)
    z = z - np.max(z)
    p = np.exp(z)
    return p / np.sum(p)


def forward(params, cell, path):
    """Runs the controller along a path (teacher forcing).

    Args:
        params: dict of parameters (must hold the heads of all path names).
        cell: str, "lstm" or "gru".
        path: list of `(name, action)` pairs.

    Returns:
        tuple `(probs, cache)`: `probs` is a list of probability vectors, one
        per step; `cache` holds what `backward` needs.
    """
    state = initial_state(params, cell)
    x = params["start"]
    probs, caches = [], []
    for name, action in path:
        state, cache = cell_step(params, cell, x, state)
        p = softmax(logits(params, name, state[0]))
        probs.append(p)
        caches.append((cache, state[0]))
        x = params[f"embed/{name}"][int(action)]
    return probs, caches


def log_prob(params, cell, path):
    """Log-probability (float) of the whole path under the policy."""
    probs, _ = forward(params, cell, path)
    return float(sum(np.log(p[int(a)]) for p, (_, a) in zip(probs, path)))


def entropy(probs):
    """Sum over steps of the entropies (nats) of the probability vectors."""
    return float(sum(-np.sum(p * np.log(np.maximum(p, 1e-300))) for p in probs))


def zeros_like(params, names=None):
    """Zero arrays shaped like `params` (optionally only `names`)."""
    return {k: np.zeros_like(v) for k, v in params.items() if names is None or k in names}


def loss_and_grads(params, cell, paths, advantages, entropy_weight=0.0):
    """REINFORCE loss with entropy bonus, and its exact gradient (BPTT).

    `loss = mean_i [ -advantage_i * log pi(path_i) - entropy_weight * H_i ]`
    where `H_i` is the sum of the per-step entropies along path `i`.

    Args:
        params: dict of parameters.
        cell: str, "lstm" or "gru".
        paths: list of paths (lists of `(name, action)`).
        advantages: list of floats, reward minus baseline per path.
        entropy_weight: float >= 0, weight of the entropy bonus.

    Returns:
        tuple `(loss, grads)`, `grads` a dict like `params`.
    """
    grads = zeros_like(params)
    total = 0.0
    m = max(1, len(paths))
    for path, adv in zip(paths, advantages):
        if not path:
            continue
        probs, caches = forward(params, cell, path)
        dlogits = []
        for p, (_, a) in zip(probs, path):
            logp = np.log(np.maximum(p, 1e-300))
            ent = -np.sum(p * logp)
            total += (-adv * logp[int(a)] - entropy_weight * ent) / m
            g = adv * p
            g[int(a)] -= adv  # d(-adv * log p_a)/dz = adv * (p - onehot)
            g = g + entropy_weight * p * (logp + ent)  # d(-beta * H)/dz
            dlogits.append(g / m)
        # backpropagation through time
        h_size = caches[0][1].shape[0]
        dh_next = np.zeros(h_size)
        dc_next = np.zeros(h_size)
        dx_next = None
        for t in range(len(path) - 1, -1, -1):
            name, action = path[t]
            cache, h = caches[t]
            if dx_next is not None:
                grads[f"embed/{name}"][int(action)] += dx_next
            dz = dlogits[t]
            grads[f"head/{name}/W"] += np.outer(dz, h)
            grads[f"head/{name}/b"] += dz
            dh = params[f"head/{name}/W"].T @ dz + dh_next
            dx, dh_next, dc_next = _cell_backward(params, cell, cache, dh, dc_next, grads)
            dx_next = dx
        grads["start"] += dx_next
    return float(total), grads


def adam_update(params, grads, m, v, step, learning_rate, beta_1=0.9, beta_2=0.999, epsilon=1e-8):
    """One Adam step on every parameter that has a gradient, in place.

    Moments missing from `m`/`v` (new heads) start at zero.

    Args:
        params, grads: dicts of arrays.
        m, v: dicts of first/second moment arrays (changed in place).
        step: int >= 1, the step number after this update (bias correction).
        learning_rate: float.
        beta_1, beta_2, epsilon: Adam constants.
    """
    c1 = 1.0 - beta_1**step
    c2 = 1.0 - beta_2**step
    for k, g in grads.items():
        if k not in m:
            m[k] = np.zeros_like(params[k])
            v[k] = np.zeros_like(params[k])
        m[k] = beta_1 * m[k] + (1.0 - beta_1) * g
        v[k] = beta_2 * v[k] + (1.0 - beta_2) * g * g
        params[k] = params[k] - learning_rate * (m[k] / c1) / (np.sqrt(v[k] / c2) + epsilon)
