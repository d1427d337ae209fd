"""Channel maps and the inheritance report of the weight-transfer engine (private)."""

import dataclasses

import numpy as np

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
