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

import numpy as np

from keras_nas_plus.morphism import _graph as g
from keras_nas_plus.morphism._layers import LayerRules
from keras_nas_plus.morphism._maps import UNKNOWN
from keras_nas_plus.morphism._maps import ZERO
from keras_nas_plus.morphism._maps import ChannelMap
from keras_nas_plus.morphism._maps import InheritanceReport
from keras_nas_plus.morphism._maps import normalize


class Transfer(LayerRules):
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
