"""Per-layer weight-transfer rules of the engine: kernels, batch norm, flatten, concatenate, merges (private).

Net2WiderNet / Net2DeeperNet (Chen, Goodfellow & Shlens, "Net2Net:
Accelerating Learning via Knowledge Transfer", ICLR 2016, Sections 2.1-2.2)
applied layer by layer; `Transfer` (`_transfer.py`) walks the graph.
"""

import numpy as np

from keras_nas_plus.morphism import _graph as g
from keras_nas_plus.morphism._maps import UNKNOWN
from keras_nas_plus.morphism._maps import ZERO
from keras_nas_plus.morphism._maps import ChannelMap
from keras_nas_plus.morphism._maps import _same
from keras_nas_plus.morphism._maps import normalize


class LayerRules:
    """The `Transfer` methods that map one layer's weights (a mixin)."""

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
