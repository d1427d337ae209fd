"""Weight transfer engine shared by all morphism operations (private).

The engine walks the child graph in topological order and keeps, for every
tensor, a *channel map*: for each channel (last axis) of the child tensor,
the index of the parent channel it copies, or -1 for a channel that is new
(consumers give it zero incoming weight). Producers (Dense/Conv) replicate
their output units following the map (Net2WiderNet), consumers split their
incoming weights by the replication count, channel-wise layers (BN,
activations, pooling, depthwise kernels) replicate their per-channel
parameters, Flatten/Concatenate re-index the map, merges (Add, ...) require
equal maps.
"""

import dataclasses

import numpy as np

from keras_nas_plus.morphism import _graph as g

ZERO = "zero"  # the tensor is identically zero (a zero-initialised branch)
UNKNOWN = "unknown"  # no correspondence with parent channels


class ChannelMap:
    """Child channel j copies parent channel idx[j] (-1: new channel)."""

    def __init__(self, idx, size):
        self.idx = np.asarray(idx, dtype=np.int64)
        self.size = int(size)

    def __eq__(self, other):
        return (isinstance(other, ChannelMap) and self.size == other.size
                and np.array_equal(self.idx, other.idx))

    def __repr__(self):
        return f"ChannelMap({self.idx.tolist()}, size={self.size})"


def normalize(m):
    if isinstance(m, ChannelMap) and m.size == len(m.idx) and np.array_equal(
            m.idx, np.arange(m.size)):
        return None
    return m


def _same(a, b):
    if a is None or b is None or isinstance(a, str) or isinstance(b, str):
        return a is b or a == b
    return a == b


@dataclasses.dataclass
class InheritanceReport:
    """What `inherit_weights` did to each weighted layer of the child.

    Attributes:
        inherited: layers whose weights were copied unchanged from the parent.
        morphed: layers whose parent weights were transformed (units/filters
            replicated or truncated, incoming weights split, kernel
            zero-padded or cropped, per-channel statistics replicated).
        identity: new layers initialised to the identity (Net2DeeperNet).
        zero: new layers initialised to zero (a skip branch that starts as 0).
        fresh: layers with no usable parent counterpart, left at their
            initialiser's values.
        lossy: layers whose transformation does not preserve the parent's
            function (truncation, cropping, mismatched shapes, ...).
        dropped: weighted parent layers with no counterpart (same name and
            class) in the child.
    """

    inherited: list = dataclasses.field(default_factory=list)
    morphed: list = dataclasses.field(default_factory=list)
    identity: list = dataclasses.field(default_factory=list)
    zero: list = dataclasses.field(default_factory=list)
    fresh: list = dataclasses.field(default_factory=list)
    lossy: list = dataclasses.field(default_factory=list)
    dropped: list = dataclasses.field(default_factory=list)

    @property
    def function_preserving(self):
        """True when the child computes exactly the parent's function."""
        return not self.lossy and not self.fresh and not self.dropped

    @property
    def num_reused(self):
        """Number of weighted layers that took weights from the parent."""
        return len(self.inherited) + len(self.morphed)

    def as_dict(self):
        """Plain dict (JSON-friendly) version of the report."""
        out = dataclasses.asdict(self)
        out["function_preserving"] = self.function_preserving
        return out


class Transfer:
    """Set the weights of `child` from `parent` (see module docstring)."""

    def __init__(self, parent, child, out_maps=None, strict=False,
                 noise=0.0, rng=None, op="inherit_weights"):
        self.parent_layers = g.layer_map(parent)
        self.parent_inputs = [t._keras_history.operation.name
                              for t in parent.inputs]
        self.child = child
        self.out_maps = out_maps or {}
        self.strict = strict
        self.noise = float(noise)
        self.rng = rng if rng is not None else np.random.default_rng(0)
        self.op = op
        self.maps = {}
        self.alias = {}
        self.report = InheritanceReport()
        self._lossy = False

    # ----------------------------------------------------------- helpers
    def _fail(self, layer, why):
        raise ValueError(
            f"{self.op}: layer {layer.name!r} ({g.class_name(layer)}) {why}")

    def _mark_lossy(self, layer, why):
        if self.strict:
            self._fail(layer, why)
        self._lossy = True

    def _parent(self, layer):
        p = self.parent_layers.get(layer.name)
        if p is not None and g.class_name(p) == g.class_name(layer):
            return p
        return None

    def _fit(self, layer, arr, init):
        """Copy the overlapping block of `arr` into `init` (lossy)."""
        if arr.shape == init.shape:
            return arr
        self._mark_lossy(layer, f"cannot map a parent tensor of shape "
                         f"{arr.shape} onto shape {init.shape}")
        out = init.copy()
        if arr.ndim != init.ndim:
            return out
        sl = tuple(slice(0, min(a, b)) for a, b in zip(arr.shape, init.shape))
        out[sl] = arr[sl]
        return out

    def _split_in(self, layer, arr, axis, m, init):
        """Incoming weights on `axis` for child channels given map `m`."""
        axis = axis % arr.ndim
        c = init.shape[axis]
        if not isinstance(m, ChannelMap):
            if arr.shape[axis] != c:
                return self._fit(layer, arr, init)
            return arr
        if m.size != arr.shape[axis] or len(m.idx) != c:
            return self._fit(layer, arr, init)
        valid = m.idx >= 0
        counts = np.bincount(m.idx[valid], minlength=m.size)
        if np.any(counts[: m.size] == 0):
            self._mark_lossy(layer, "drops input channels of the parent")
        taken = np.take(arr, np.where(valid, m.idx, 0), axis=axis)
        shape = [1] * arr.ndim
        shape[axis] = c
        scale = np.where(valid, 1.0 / np.maximum(counts[np.where(
            valid, m.idx, 0)], 1), 0.0).reshape(shape)
        out = taken * scale
        if self.noise > 0 and np.any(counts > 1):
            eps = self.rng.normal(size=out.shape) * self.noise * (
                float(np.std(arr)) or 1.0)
            eps = np.moveaxis(eps, axis, 0)
            sums = np.zeros((m.size,) + eps.shape[1:])
            np.add.at(sums, m.idx[valid], eps[valid])
            mean = sums[np.where(valid, m.idx, 0)] / np.maximum(
                counts[np.where(valid, m.idx, 0)], 1).reshape(
                    (-1,) + (1,) * (eps.ndim - 1))
            eps = np.where(valid.reshape((-1,) + (1,) * (eps.ndim - 1)),
                           eps - mean, 0.0)
            out = out + np.moveaxis(eps, 0, axis)
        return out.astype(arr.dtype)

    def _replicate(self, layer, arr, axis, m, init):
        """Per-channel parameters on `axis` copied following map `m`."""
        axis = axis % arr.ndim
        if not isinstance(m, ChannelMap):
            if arr.shape[axis] != init.shape[axis]:
                return self._fit(layer, arr, init)
            return arr
        if m.size != arr.shape[axis] or len(m.idx) != init.shape[axis]:
            return self._fit(layer, arr, init)
        valid = m.idx >= 0
        out = np.take(arr, np.where(valid, m.idx, 0), axis=axis)
        shape = [1] * arr.ndim
        shape[axis] = len(m.idx)
        return np.where(valid.reshape(shape), out, init).astype(arr.dtype)

    def _spatial(self, layer, arr, init, causal):
        """Zero-pad (centred; in front for causal) or crop kernel dims."""
        n = arr.ndim - 2
        if arr.shape[:n] == init.shape[:n]:
            return arr
        out = arr
        for d in range(n):
            k, kn = out.shape[d], init.shape[d]
            if kn == k:
                continue
            diff = kn - k
            before = diff if causal else diff // 2
            if diff > 0:
                if not causal and diff % 2:
                    self._mark_lossy(layer, f"kernel size {k} -> {kn} cannot "
                                     "be zero-padded symmetrically")
                pad = [(0, 0)] * out.ndim
                pad[d] = (before, diff - before)
                out = np.pad(out, pad)
            else:
                self._mark_lossy(layer, f"kernel size shrinks {k} -> {kn}")
                start = (-diff) if causal else (-diff) // 2
                out = np.take(out, np.arange(start, start + kn), axis=d)
        return out

    def _out_map(self, layer, c_out, p_out):
        if layer.name in self.out_maps:
            return self.out_maps[layer.name]
        if c_out == p_out:
            return None
        if c_out < p_out:
            self._mark_lossy(layer, f"is narrowed from {p_out} to {c_out}")
        return ChannelMap(np.arange(c_out) % p_out, p_out)

    # ------------------------------------------------------ zero branches
    def _zero_targets(self):
        """New weighted layers that start a branch merged by an Add.

        The branch starts at zero so the Add passes its other input on.
        """
        layers = g.layer_map(self.child)
        targets = set()
        for layer in self.child.layers:
            if g.class_name(layer) != "Add":
                continue
            cands, aliases = [], []
            for src in g.input_layer_names(layer):
                t = layers[src]
                while True:
                    cls = g.class_name(t)
                    single = len(g.input_layer_names(t)) == 1
                    if single and (
                            (g.is_pass_through(t) and g.is_zero_preserving(t))
                            or cls == "Flatten" or (
                                cls == "BatchNormalization"
                                and self._parent(t) is None)):
                        t = layers[g.input_layer_names(t)[0]]
                        continue
                    break
                if (g.class_name(t) in g.PRODUCER_CLASSES
                        or g.class_name(t) in g.DEPTHWISE_CLASSES) and (
                            self._parent(t) is None):
                    cands.append(t.name)
                else:
                    cands.append(None)
                # The parent tensor this input stands for when its new
                # layers are identities.
                a = layers[src]
                while a.name not in self.parent_layers and len(
                        g.input_layer_names(a)) == 1:
                    a = layers[g.input_layer_names(a)[0]]
                aliases.append(a.name)
            p = self._parent(layer)
            if p is not None:
                remaining = g.input_layer_names(p)
                for c, a in zip(cands, aliases):
                    if c is None and a in remaining:
                        remaining.remove(a)
                for c, a in zip(cands, aliases):
                    if c is not None and a in remaining:
                        remaining.remove(a)  # on the parent's path: identity
                    elif c is not None:
                        targets.add(c)
                continue
            if all(c is not None for c in cands):
                # Every input starts with a new layer: the first input is
                # taken as the main path (identity), the others start at 0.
                cands = cands[1:]
            targets.update(c for c in cands if c is not None)
        return targets

    # ------------------------------------------------------------ layers
    def run(self):
        self.zero_targets = self._zero_targets()
        for layer in self.child.layers:
            name = layer.name
            if g.is_input_layer(layer):
                self.maps[name] = None
                # Inputs correspond by position, whatever their names.
                pos = [t._keras_history.operation.name
                       for t in self.child.inputs].index(name)
                if pos < len(self.parent_inputs):
                    self.alias[name] = self.parent_inputs[pos]
                continue
            srcs = g.input_layer_names(layer)
            in_maps = [self.maps.get(s, UNKNOWN) for s in srcs]
            cls = g.class_name(layer)
            self._lossy = False
            if len(layer._inbound_nodes) > 1:
                if any(m is not None for m in in_maps) or self.strict:
                    self._mark_lossy(layer, "is shared (called more than "
                                     "once); shared layers are not supported")
            p = self.parent_layers.get(name)
            if p is not None and cls not in ("Concatenate",) and \
                    cls not in g.MERGE_CLASSES:
                # The layer must read the tensor it read in the parent.
                have = [self.alias.get(s, s) for s, m in zip(srcs, in_maps)
                        if m != ZERO]
                if have != g.input_layer_names(p):
                    self._mark_lossy(layer, f"reads {have} where the parent "
                                     f"read {g.input_layer_names(p)}")
                    self.report.lossy.append(name)
                    self._lossy = False
            if cls in g.PRODUCER_CLASSES or cls in g.DEPTHWISE_CLASSES:
                out = self._kernel_layer(layer, in_maps[0])
            elif cls == "BatchNormalization":
                out = self._batch_norm(layer, in_maps[0])
            elif g.is_pass_through(layer):
                m = in_maps[0]
                out = m if (m != ZERO or g.is_zero_preserving(layer)) \
                    else UNKNOWN
                self._copy_other(layer, in_maps)
            elif cls == "Flatten":
                out = self._flatten(layer, in_maps[0])
            elif cls == "Concatenate":
                out = self._concat(layer, srcs, in_maps)
            elif cls in g.MERGE_CLASSES:
                out = self._merge(layer, srcs, in_maps)
            else:
                out = self._other(layer, in_maps)
            self.maps[name] = normalize(out) if isinstance(
                out, ChannelMap) else out
            # A new layer that passes its input through (identity init,
            # channel-wise op, merge with a zero branch) stands for the
            # parent tensor it passes on; Concatenate matches inputs by it.
            self.alias[name] = name
            if name not in self.parent_layers:
                live = [s for s, m in zip(srcs, in_maps) if m != ZERO]
                if len(live) == 1 and (
                        not layer.weights or name in self.report.identity):
                    self.alias[name] = self.alias.get(live[0], live[0])
            if self._lossy and layer.weights:
                self.report.lossy.append(name)
        child_layers = g.layer_map(self.child)
        for name, p in self.parent_layers.items():
            c = child_layers.get(name)
            if p.weights and (c is None or g.class_name(c) != g.class_name(p)):
                self.report.dropped.append(name)
        for name in g.output_layer_names(self.child):
            if isinstance(self.maps.get(name), ChannelMap):
                layer = g.layer_map(self.child)[name]
                self._mark_lossy(layer, "would change the model's output "
                                 "width; widen a layer whose output is "
                                 "consumed by a Dense/Conv layer instead")
                if name not in self.report.lossy:
                    self.report.lossy.append(name)
        return self.report

    def _record(self, layer, status):
        getattr(self.report, status).append(layer.name)

    def _copy_other(self, layer, in_maps):
        if not layer.weights:
            return
        p = self._parent(layer)
        if p is None:
            self._record(layer, "fresh")
            return
        init, pw = g.weights_of(layer), g.weights_of(p)
        if any(isinstance(m, ChannelMap) for m in in_maps):
            self._mark_lossy(layer, "has per-channel weights that cannot be "
                             "mapped")
        new = {k: self._fit(layer, pw[k], v) if k in pw else v
               for k, v in init.items()}
        g.set_weights_of(layer, new)
        self._record(layer, "inherited" if all(
            k in pw and pw[k].shape == v.shape for k, v in init.items())
            else "morphed")

    def _other(self, layer, in_maps):
        mapped = [m for m in in_maps if isinstance(m, ChannelMap)]
        self._copy_other(layer, in_maps)
        if mapped:
            self._mark_lossy(layer, "is not supported on a widened path "
                             "(its channels cannot be re-mapped)")
            return UNKNOWN
        if any(m == UNKNOWN for m in in_maps):
            return UNKNOWN
        if all(m is None for m in in_maps):
            return None
        return UNKNOWN

    def _check_channels_last(self, layer, maps):
        cfg = layer.get_config()
        if cfg.get("data_format", "channels_last") == "channels_first" and \
                any(isinstance(m, ChannelMap) for m in maps):
            self._mark_lossy(layer, "uses channels_first, which network "
                             "morphism does not support")

    def _kernel_layer(self, layer, in_map):
        cls = g.class_name(layer)
        cfg = layer.get_config()
        p = self._parent(layer)
        init = g.weights_of(layer)
        if p is None:
            return self._new_kernel_layer(layer, in_map, init)
        pw = g.weights_of(p)
        self._check_channels_last(layer, [in_map])
        causal = cfg.get("padding") == "causal"
        new = {}
        if cls in g.DEPTHWISE_CLASSES or cls in g.SEPARABLE_CLASSES:
            dk = "kernel" if cls in g.DEPTHWISE_CLASSES else "depthwise_kernel"
            k = self._spatial(layer, pw[dk], init[dk], causal)
            dm_c, dm_p = init[dk].shape[-1], k.shape[-1]
            k = self._replicate(layer, k, -2, in_map, np.zeros(
                k.shape[:-2] + (init[dk].shape[-2], dm_p), k.dtype))
            if dm_c != dm_p:
                k = np.take(k, np.arange(dm_c) % dm_p, axis=-1)
                if dm_c < dm_p:
                    self._mark_lossy(layer, "depth_multiplier shrinks")
            k = self._fit(layer, k, init[dk])
            new[dk] = k
            c_in = init[dk].shape[-2]
            if isinstance(in_map, ChannelMap):
                base, p_in = in_map.idx, in_map.size
            else:
                base, p_in = np.arange(c_in), pw[dk].shape[-2]
            mid_idx = np.array([
                (base[j] * dm_p + (kk % dm_p)) if base[j] >= 0 else -1
                for j in range(c_in) for kk in range(dm_c)], dtype=np.int64)
            mid = normalize(ChannelMap(mid_idx, p_in * dm_p))
            if in_map in (ZERO, UNKNOWN):
                mid = in_map
            if cls in g.DEPTHWISE_CLASSES:
                out_map = mid
                if "bias" in init:
                    new["bias"] = self._replicate(layer, pw["bias"], 0, mid,
                                                  init["bias"])
            else:
                pk = self._split_in(layer, pw["pointwise_kernel"], -2, mid,
                                    np.zeros(pw["pointwise_kernel"].shape[:-2]
                                             + (init["pointwise_kernel"]
                                                .shape[-2],
                                                pw["pointwise_kernel"]
                                                .shape[-1]), np.float32))
                out_map = self._out_map(layer, init["pointwise_kernel"]
                                        .shape[-1], pk.shape[-1])
                pk = self._replicate(layer, pk, -1, out_map,
                                     init["pointwise_kernel"])
                new["pointwise_kernel"] = self._fit(layer, pk,
                                                    init["pointwise_kernel"])
                if "bias" in init:
                    new["bias"] = self._replicate(layer, pw["bias"], 0,
                                                  out_map, init["bias"])
        else:
            if cfg.get("groups", 1) != 1 and (
                    isinstance(in_map, ChannelMap)
                    or init["kernel"].shape[-1] != pw["kernel"].shape[-1]):
                self._mark_lossy(layer, "is a grouped convolution, which "
                                 "cannot be widened")
            k = pw["kernel"]
            if cls != "Dense":
                k = self._spatial(layer, k, init["kernel"], causal)
            tmp = np.zeros(k.shape[:-2] + (init["kernel"].shape[-2],
                                           k.shape[-1]), k.dtype)
            k = self._split_in(layer, k, -2, in_map, tmp)
            out_map = self._out_map(layer, init["kernel"].shape[-1],
                                    k.shape[-1])
            k = self._replicate(layer, k, -1, out_map, init["kernel"])
            new["kernel"] = self._fit(layer, k, init["kernel"])
            if "bias" in init:
                if "bias" in pw:
                    new["bias"] = self._replicate(layer, pw["bias"], 0,
                                                  out_map, init["bias"])
                else:
                    new["bias"] = np.zeros_like(init["bias"])
        if isinstance(out_map, ChannelMap) and g.activation_name(layer) in (
                "softmax", "log_softmax"):
            self._mark_lossy(layer, "has a softmax activation, which is not "
                             "channel-wise; it cannot be widened")
        if out_map is not None:
            self._check_channels_last(layer, [out_map])
        g.set_weights_of(layer, new)
        same = all(new[k].shape == pw.get(k, np.empty(0)).shape and
                   np.array_equal(new[k], pw[k]) for k in new)
        self._record(layer, "inherited" if same else "morphed")
        return out_map

    def _identity_tap(self, layer):
        """Index of the kernel tap that makes a conv an identity, or None."""
        cfg = layer.get_config()
        ks = cfg["kernel_size"]
        strides = cfg.get("strides", 1)
        dil = cfg.get("dilation_rate", 1)
        ks = ks if isinstance(ks, (list, tuple)) else (ks,)
        strides = strides if isinstance(strides, (list, tuple)) else (
            strides,) * len(ks)
        dil = dil if isinstance(dil, (list, tuple)) else (dil,) * len(ks)
        if any(s != 1 for s in strides):
            return None
        taps = []
        for k, d in zip(ks, dil):
            if cfg.get("padding") == "causal":
                taps.append(k - 1)
            elif cfg.get("padding") == "same" and (d == 1 or (k - 1) % 2 == 0):
                taps.append((k - 1) // 2)
            elif k == 1:
                taps.append(0)
            else:
                return None
        return tuple(taps)

    def _new_kernel_layer(self, layer, in_map, init):
        cls = g.class_name(layer)
        new = {k: v.copy() for k, v in init.items()}
        if layer.name in self.zero_targets:
            for k in new:
                if k != "depthwise_kernel":
                    new[k] = np.zeros_like(new[k])
            g.set_weights_of(layer, new)
            self._record(layer, "zero")
            return ZERO
        ok = False
        out_map = in_map
        if cls == "Dense" or cls in g.CONV_CLASSES:
            # Identity, or a replicating identity when the layer is wider
            # than its input (new unit j copies input channel j mod c_in).
            k = new["kernel"]
            c_in, c_out = k.shape[-2], k.shape[-1]
            tap = () if cls == "Dense" else self._identity_tap(layer)
            ok = tap is not None and c_out >= c_in and \
                layer.get_config().get("groups", 1) == 1 and \
                in_map not in (ZERO, UNKNOWN)
            if ok:
                z = np.zeros_like(k)
                z[tap] = (np.arange(c_in)[:, None] ==
                          np.arange(c_out)[None, :] % c_in).astype(k.dtype)
                new["kernel"] = z
                if c_out > c_in:
                    base = in_map.idx if isinstance(in_map, ChannelMap) \
                        else np.arange(c_in)
                    size = in_map.size if isinstance(in_map, ChannelMap) \
                        else c_in
                    out_map = ChannelMap(base[np.arange(c_out) % c_in], size)
        else:
            tap = self._identity_tap(layer)
            kname = "kernel" if cls in g.DEPTHWISE_CLASSES else \
                "depthwise_kernel"
            k = new[kname]
            ok = tap is not None and k.shape[-1] == 1
            if cls in g.SEPARABLE_CLASSES:
                pk = new["pointwise_kernel"]
                ok = ok and pk.shape[-1] == pk.shape[-2]
                if ok:
                    new["pointwise_kernel"] = np.eye(
                        pk.shape[-1], dtype=pk.dtype).reshape(pk.shape)
            if ok:
                z = np.zeros_like(k)
                z[tap] = 1.0
                new[kname] = z
        if ok:
            if "bias" in new:
                new["bias"] = np.zeros_like(new["bias"])
            g.set_weights_of(layer, new)
            self._record(layer, "identity")
            return out_map
        self._mark_lossy(layer, "is new and cannot be initialised as an "
                         "identity (its input and output shapes differ)")
        self._record(layer, "fresh")
        return UNKNOWN

    def _batch_norm(self, layer, in_map):
        cfg = layer.get_config()
        init = g.weights_of(layer)
        if cfg.get("axis", -1) not in (-1, len(g.input_shapes(layer)[0]) - 1,
                                       [-1]):
            if isinstance(in_map, ChannelMap):
                self._mark_lossy(layer, "normalises a non-channel axis")
        p = self._parent(layer)
        if p is None:
            eps = cfg.get("epsilon", 1e-3)
            new = dict(init)
            if "gamma" in new:
                new["gamma"] = np.sqrt(new["moving_variance"] + eps).astype(
                    new["moving_variance"].dtype)
            else:
                new["moving_variance"] = np.full_like(
                    new["moving_variance"], 1.0 - eps)
            if "beta" in new:
                new["beta"] = new["moving_mean"].copy()
            else:
                new["moving_mean"] = np.zeros_like(new["moving_mean"])
            g.set_weights_of(layer, new)
            self._record(layer, "identity")
            return in_map
        pw = g.weights_of(p)
        new = {k: self._replicate(layer, pw[k], 0, in_map, v) if k in pw
               else v for k, v in init.items()}
        g.set_weights_of(layer, new)
        self._record(layer, "morphed" if isinstance(in_map, ChannelMap)
                     else "inherited")
        return in_map if in_map != ZERO else UNKNOWN

    def _flatten(self, layer, in_map):
        if not isinstance(in_map, ChannelMap):
            return in_map
        shape = g.input_shapes(layer)[0]
        spatial = shape[1:-1]
        if layer.get_config().get("data_format") == "channels_first" or any(
                s is None for s in spatial):
            self._mark_lossy(layer, "flattens an input of unknown spatial "
                             "size or channels_first layout")
            return UNKNOWN
        n = int(np.prod(spatial)) if spatial else 1
        idx = np.concatenate([np.where(in_map.idx >= 0,
                                       s * in_map.size + in_map.idx, -1)
                              for s in range(n)])
        return ChannelMap(idx, n * in_map.size)

    def _concat(self, layer, srcs, in_maps):
        shapes = g.input_shapes(layer)
        rank = len(shapes[0])
        axis = layer.get_config().get("axis", -1) % rank
        if axis != rank - 1:
            return self._merge(layer, srcs, in_maps)
        widths = [s[-1] for s in shapes]
        p = self._parent(layer)
        if p is not None:
            p_srcs = g.input_layer_names(p)
            p_sizes = [s[-1] for s in g.input_shapes(p)]
        else:
            first = self.alias.get(srcs[0], srcs[0])
            if isinstance(in_maps[0], ChannelMap):
                p_srcs, p_sizes = [first], [in_maps[0].size]
            else:
                p_srcs, p_sizes = [first], [widths[0]]
        offsets = np.concatenate([[0], np.cumsum(p_sizes)]).astype(int)
        used = set()
        parts = []
        for src, m, w in zip(srcs, in_maps, widths):
            src = self.alias.get(src, src)
            k = next((i for i, s in enumerate(p_srcs)
                      if s == src and i not in used), None)
            if k is None:
                parts.append(np.full(w, -1))
                continue
            used.add(k)
            if isinstance(m, ChannelMap) and m.size == p_sizes[k]:
                base = m.idx
            elif not isinstance(m, ChannelMap) and m != ZERO and \
                    w == p_sizes[k]:
                base = np.arange(w)
            else:
                if m != ZERO:
                    self._mark_lossy(layer, f"input {src!r} cannot be "
                                     "matched with the parent's input")
                base = np.full(w, -1)
            parts.append(np.where(base >= 0, base + offsets[k], -1))
        return ChannelMap(np.concatenate(parts), int(offsets[-1]))

    def _merge(self, layer, srcs, in_maps):
        live = [(s, m) for s, m in zip(srcs, in_maps) if m != ZERO]
        if not live:
            return ZERO
        # The merge must combine the same parent tensors as in the parent
        # (inputs starting at zero aside), or the function changes.
        p = self._parent(layer)
        want = sorted(g.input_layer_names(p)) if p is not None else None
        have = sorted(self.alias.get(s, s) for s, _ in live)
        if (want is None and len(live) > 1) or (
                want is not None and want != have):
            self._mark_lossy(layer, f"merges {have} where the parent merged "
                             f"{want or [have[0]]}")
            self.report.lossy.append(layer.name)
        first = live[0][1]
        if all(_same(m, first) for _, m in live):
            return first
        changed = [s for s, m in live if isinstance(m, ChannelMap)]
        self._mark_lossy(
            layer, f"merges inputs {srcs} whose channels no longer line up "
            f"(changed: {changed}); all inputs of a merge must be widened "
            "together, e.g. widen(model, [...all producers...], new_width)")
        return first
