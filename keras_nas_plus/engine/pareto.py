"""Pure multi-objective math: dominance, NSGA-II ranking, hypervolume.

Conventions: every function takes an array `points` of shape
`(num_points, num_objectives)` whose objectives are all to be MINIMISED
(use `orient` to turn a mix of "min"/"max" objectives into that form). Nothing
here knows about trials or Keras Tuner.

Reference:
    Deb, Pratap, Agarwal & Meyarivan, "A Fast and Elitist Multiobjective
    Genetic Algorithm: NSGA-II", IEEE Transactions on Evolutionary
    Computation 6(2), 2002, Section III-A (fast non-dominated sorting) and
    III-B (crowding distance).
"""

import numpy as np


def _as_points(points, name="points"):
    array = np.asarray(points, dtype=float)
    if array.ndim == 1:
        array = array.reshape(-1, 1) if array.size else array.reshape(0, 1)
    if array.ndim != 2:
        raise ValueError(f"`{name}` must have shape (num_points, num_objectives), got shape {array.shape}.")
    return array


def orient(values, directions):
    """Turns objective values into values to minimise.

    Args:
        values: array-like of shape `(num_points, num_objectives)`.
        directions: sequence of "min" / "max", one per objective.

    Returns:
        float `numpy.ndarray` of the same shape; "max" columns negated.

    Raises:
        ValueError: if a direction is not "min"/"max" or the counts differ.
    """
    array = _as_points(values, "values").copy()
    directions = list(directions)
    if len(directions) != array.shape[1]:
        raise ValueError(f"`directions` has {len(directions)} entries for {array.shape[1]} objectives.")
    for j, direction in enumerate(directions):
        if direction not in ("min", "max"):
            raise ValueError(f"`directions[{j}]` must be 'min' or 'max', got {direction!r}.")
        if direction == "max":
            array[:, j] = -array[:, j]
    return array


def dominates(a, b):
    """Whether point `a` Pareto-dominates point `b` (minimisation).

    `a` dominates `b` when it is no worse in every objective and strictly
    better in at least one.
    """
    a = np.asarray(a, dtype=float)
    b = np.asarray(b, dtype=float)
    return bool(np.all(a <= b) and np.any(a < b))


def non_dominated_sort(points):
    """Fast non-dominated sorting into successive Pareto fronts.

    Args:
        points: array-like `(num_points, num_objectives)`, minimised.

    Returns:
        list of lists of point indices: front 0 is the non-dominated set,
        front 1 is non-dominated once front 0 is removed, and so on. Indices
        inside a front are increasing. Duplicate points share a front.

    Reference:
        Deb et al., NSGA-II, IEEE TEVC 2002, Section III-A (O(M N^2)).
    """
    pts = _as_points(points)
    n = len(pts)
    if n == 0:
        return []
    # le[i, j]: i no worse than j everywhere; lt[i, j]: strictly better somewhere.
    le = np.all(pts[:, None, :] <= pts[None, :, :], axis=2)
    lt = np.any(pts[:, None, :] < pts[None, :, :], axis=2)
    dominate = le & lt  # dominate[i, j]: i dominates j
    domination_count = dominate.sum(axis=0)
    fronts = []
    current = [int(i) for i in np.flatnonzero(domination_count == 0)]
    while current:
        fronts.append(current)
        following = []
        for i in current:
            for j in np.flatnonzero(dominate[i]):
                domination_count[j] -= 1
                if domination_count[j] == 0:
                    following.append(int(j))
        current = sorted(following)
    return fronts


def pareto_ranks(points):
    """Non-domination rank of every point (0 = on the Pareto front).

    Args:
        points: array-like `(num_points, num_objectives)`, minimised.

    Returns:
        int `numpy.ndarray` of shape `(num_points,)`.
    """
    pts = _as_points(points)
    ranks = np.zeros(len(pts), dtype=int)
    for rank, front in enumerate(non_dominated_sort(pts)):
        ranks[front] = rank
    return ranks


def pareto_front(points):
    """Indices of the non-dominated points (rank 0), increasing.

    Args:
        points: array-like `(num_points, num_objectives)`, minimised.

    Returns:
        list of int.
    """
    pts = _as_points(points)
    if len(pts) == 0:
        return []
    if pts.shape[1] == 2:
        return _pareto_front_2d(pts)
    le = np.all(pts[:, None, :] <= pts[None, :, :], axis=2)
    lt = np.any(pts[:, None, :] < pts[None, :, :], axis=2)
    dominated = np.any(le & lt, axis=0)
    return [int(i) for i in np.flatnonzero(~dominated)]


def _column_ranks(pts):
    """Each column replaced by its average rank (1 = smallest)."""
    out = np.empty_like(pts)
    for j in range(pts.shape[1]):
        column = pts[:, j]
        order = np.argsort(column, kind="stable")
        ranks = np.empty(len(column))
        ranks[order] = np.arange(1, len(column) + 1)
        for value in np.unique(column):  # ties share their mean rank
            tied = column == value
            ranks[tied] = ranks[tied].mean()
        out[:, j] = ranks
    return out


def _pareto_front_2d(pts):
    """O(n log n) sweep for two objectives (same result as the general case)."""
    order = np.lexsort((pts[:, 1], pts[:, 0]))
    keep = []
    best_before = np.inf  # smallest second value among strictly smaller first values
    k = 0
    n = len(order)
    while k < n:
        first = pts[order[k], 0]
        end = k
        while end < n and pts[order[end], 0] == first:
            end += 1
        group_best = pts[order[k], 1]  # sorted: the group's smallest second value
        if group_best < best_before:
            keep.extend(int(i) for i in order[k:end] if pts[i, 1] == group_best)
        best_before = min(best_before, group_best)
        k = end
    return sorted(keep)


def crowding_distance(points):
    """Crowding distance of each point within one front.

    For every objective the points are sorted; the two extreme points get an
    infinite distance and each other point adds the gap between its two
    neighbours divided by the objective's range in the front (an objective
    with zero range adds nothing). Ties are broken by index, so the result is
    deterministic.

    Args:
        points: array-like `(num_points, num_objectives)`: the members of ONE
            front.

    Returns:
        float `numpy.ndarray` of shape `(num_points,)`; `inf` at the
        boundaries (every point when there are at most two).

    Reference:
        Deb et al., NSGA-II, IEEE TEVC 2002, Section III-B.
    """
    pts = _as_points(points)
    n, m = pts.shape
    distance = np.zeros(n)
    if n <= 2:
        distance[:] = np.inf
        return distance
    for j in range(m):
        order = np.lexsort((np.arange(n), pts[:, j]))
        column = pts[order, j]
        distance[order[0]] = distance[order[-1]] = np.inf
        span = column[-1] - column[0]
        if span <= 0:
            continue
        distance[order[1:-1]] += (column[2:] - column[:-2]) / span
    return distance


def rank_and_crowding(points, scale="value"):
    """NSGA-II ranks and crowding distances (crowding within each front).

    Args:
        points: array-like `(num_points, num_objectives)`, minimised.
        scale: "value" (default, NSGA-II: gaps in objective values divided
            by each objective's range in the front) or "rank" (gaps in each
            objective's rank among all `points`, which makes the distance
            insensitive to skewed objectives such as parameter counts, where
            most models are small).

    Returns:
        tuple `(ranks, crowding)` of arrays of shape `(num_points,)`. A point
        is better than another when its rank is lower, or, at equal rank, its
        crowding distance is larger (the crowded-comparison operator).
    """
    if scale not in ("value", "rank"):
        raise ValueError(f"`scale` must be 'value' or 'rank', got {scale!r}.")
    pts = _as_points(points)
    spaced = _column_ranks(pts) if scale == "rank" and len(pts) else pts
    ranks = np.zeros(len(pts), dtype=int)
    crowding = np.zeros(len(pts))
    for rank, front in enumerate(non_dominated_sort(pts)):
        ranks[front] = rank
        crowding[front] = crowding_distance(spaced[front])
    return ranks, crowding


def epsilon_archive(points, epsilon):
    """Indices of an epsilon-Pareto archive of `points` (additive boxes).

    Each point falls in the box `floor(f_i / epsilon_i)` per objective (an
    objective with `epsilon_i == 0` is not boxed: its value is its own box).
    Only points whose box is not dominated by another occupied box are kept,
    and one point per box: among the box's non-dominated points the one
    closest (Euclidean, in units of epsilon) to the box's best corner, the
    earliest on ties.

    Args:
        points: array-like `(num_points, num_objectives)`, minimised.
        epsilon: sequence of `num_objectives` non-negative box sizes.

    Returns:
        list of int, increasing.

    Raises:
        ValueError: on a wrong number of box sizes or a negative one.

    Reference:
        Laumanns, Thiele, Deb & Zitzler, "Combining Convergence and
        Diversity in Evolutionary Multiobjective Optimization", Evolutionary
        Computation 10(3), 2002, Section 4 (box-dominance archive, one point
        per box, the one closest to the box corner).
    """
    pts = _as_points(points)
    eps = np.asarray(epsilon, dtype=float).reshape(-1)
    if len(pts) == 0:
        return []
    if len(eps) != pts.shape[1] or np.any(~(eps >= 0)):
        raise ValueError(f"`epsilon` must hold {pts.shape[1]} non-negative box sizes, got {epsilon!r}.")
    safe = np.where(eps > 0, eps, 1.0)
    boxes = np.where(eps > 0, np.floor(pts / safe), pts)
    unique, inverse = np.unique(boxes, axis=0, return_inverse=True)
    inverse = np.asarray(inverse).reshape(-1)
    kept_boxes = set(int(b) for b in pareto_front(unique))
    corners = np.where(eps > 0, boxes * safe, pts)
    offset = np.where(eps > 0, (pts - corners) / safe, 0.0)
    distance = np.sqrt((offset**2).sum(axis=1))
    result = []
    for b in sorted(kept_boxes):
        members = np.flatnonzero(inverse == b)
        members = members[pareto_front(pts[members])]
        result.append(int(members[int(np.argmin(distance[members]))]))
    return sorted(result)


def hypervolume_contributions(points, reference=None):
    """Exclusive hypervolume contribution of each point of ONE 2-D front.

    The contribution of a point is the hypervolume lost when it alone is
    removed: with the front sorted by the first objective, the rectangle
    between the point, its right neighbour's first value and its left
    neighbour's second value. The two extreme points are bounded by
    `reference`; without one they get `inf` (they are always kept).

    Args:
        points: array-like `(num_points, 2)`, minimised, mutually
            non-dominated (one front; duplicates contribute 0).
        reference: optional array-like `(2,)`, the reference (worst) point,
            no better than every point in each objective.

    Returns:
        float `numpy.ndarray` of shape `(num_points,)`, >= 0.

    Raises:
        ValueError: if the points do not have two objectives, or the
            reference does not have two values.

    Reference:
        Beume, Naujoks & Emmerich, "SMS-EMOA: Multiobjective selection based
        on dominated hypervolume", European Journal of Operational Research
        181(3), 2007, Section 3 (2-D contributions by sorting).
    """
    pts = _as_points(points)
    n = len(pts)
    if n and pts.shape[1] != 2:
        raise ValueError(f"`points` must have 2 objectives, got {pts.shape[1]}.")
    if reference is None:
        ref = np.array([np.inf, np.inf])
    else:
        ref = np.asarray(reference, dtype=float).reshape(-1)
        if len(ref) != 2:
            raise ValueError(f"`reference` must have 2 values, got {len(ref)}.")
    out = np.zeros(n)
    if n == 0:
        return out
    order = np.lexsort((pts[:, 1], pts[:, 0]))
    s = pts[order]
    right = np.r_[s[1:, 0], ref[0]]
    up = np.r_[ref[1], s[:-1, 1]]
    with np.errstate(invalid="ignore"):
        width = right - s[:, 0]
        height = up - s[:, 1]
        area = np.where((width > 0) & (height > 0), width * height, 0.0)
    out[order] = area
    return out


def optimistic_contributions(points, reference):
    """Optimistic hypervolume contribution of each point of ONE 2-D front.

    With the front sorted by the first objective, a point's left neighbour
    L has a smaller first and larger second value, its right neighbour R the
    reverse; the contribution is the area of the rectangle
    `[L_1, R_1] x [R_2, L_2]` that the two neighbours span, the most
    hypervolume a new point between them could add. The first point has no
    L: its own first value and the reference's second value are used; the
    last has no R: the reference's first value and its own second value.

    Args:
        points: array-like `(num_points, 2)`, minimised, mutually
            non-dominated.
        reference: array-like `(2,)`, no better than every point.

    Returns:
        float `numpy.ndarray` of shape `(num_points,)`, >= 0.

    Reference:
        Dubois-Lacoste, Lopez-Ibanez & Stuetzle, "Anytime Pareto Local
        Search", European Journal of Operational Research 243(2), 2015
        (selection by optimistic hypervolume contribution).
    """
    pts = _as_points(points)
    n = len(pts)
    out = np.zeros(n)
    if n == 0:
        return out
    if pts.shape[1] != 2:
        raise ValueError(f"`points` must have 2 objectives, got {pts.shape[1]}.")
    ref = np.asarray(reference, dtype=float).reshape(-1)
    if len(ref) != 2:
        raise ValueError(f"`reference` must have 2 values, got {len(ref)}.")
    order = np.lexsort((pts[:, 1], pts[:, 0]))
    s = pts[order]
    # Left neighbour: smaller first value (larger second); right: the reverse.
    left_first = np.r_[s[0, 0], s[:-1, 0]]
    left_second = np.r_[ref[1], s[:-1, 1]]
    right_first = np.r_[s[1:, 0], ref[0]]
    right_second = np.r_[s[1:, 1], s[-1, 1]]
    width = np.maximum(right_first - left_first, 0.0)
    height = np.maximum(left_second - right_second, 0.0)
    out[order] = width * height
    return out


def rank_and_contribution(points, scale="value"):
    """Non-dominated ranks and hypervolume contributions within each front.

    The SMS-EMOA order for two objectives: lower rank first, then, within a
    front, larger exclusive hypervolume contribution
    (`hypervolume_contributions` without a reference point, so each front's
    two extremes come first).

    Args:
        points: array-like `(num_points, 2)`, minimised.
        scale: "value" (default: contributions in objective values) or
            "rank" (in each objective's rank among all `points`, as in
            `rank_and_crowding`).

    Returns:
        tuple `(ranks, contributions)` of arrays of shape `(num_points,)`.

    Raises:
        ValueError: on an unknown `scale` or points without two objectives.

    Reference:
        Beume, Naujoks & Emmerich, "SMS-EMOA", EJOR 181(3), 2007.
    """
    if scale not in ("value", "rank"):
        raise ValueError(f"`scale` must be 'value' or 'rank', got {scale!r}.")
    pts = _as_points(points)
    if len(pts) and pts.shape[1] != 2:
        raise ValueError(f"`points` must have 2 objectives, got {pts.shape[1]}.")
    spaced = _column_ranks(pts) if scale == "rank" and len(pts) else pts
    ranks = np.zeros(len(pts), dtype=int)
    contribution = np.zeros(len(pts))
    for rank, front in enumerate(non_dominated_sort(pts)):
        ranks[front] = rank
        contribution[front] = hypervolume_contributions(spaced[front])
    return ranks, contribution


def _hypervolume_2d(pts, ref):
    """Exact 2-D hypervolume by a sweep over the first objective."""
    order = np.lexsort((pts[:, 1], pts[:, 0]))
    total = 0.0
    best_second = ref[1]
    for i in order:
        x, y = pts[i]
        if y < best_second:
            total += (ref[0] - x) * (best_second - y)
            best_second = y
    return float(total)


def _hypervolume_slices(pts, ref):
    """Exact hypervolume in any dimension by slicing the last objective."""
    m = pts.shape[1]
    if len(pts) == 0:
        return 0.0
    if m == 1:
        return float(ref[0] - pts[:, 0].min())
    if m == 2:
        return _hypervolume_2d(pts, ref)
    order = np.argsort(pts[:, -1], kind="stable")
    pts = pts[order]
    total = 0.0
    for k in range(len(pts)):
        upper = pts[k + 1, -1] if k + 1 < len(pts) else ref[-1]
        depth = upper - pts[k, -1]
        if depth <= 0:
            continue
        below = pts[: k + 1, :-1]
        below = below[pareto_front(below)]
        total += depth * _hypervolume_slices(below, ref[:-1])
    return float(total)


def hypervolume(points, reference):
    """Hypervolume dominated by `points` and bounded by `reference`.

    The measure (area in 2-D) of the set of objective vectors that are
    dominated by at least one point and dominate `reference`. Points that do
    not strictly dominate the reference in every objective add nothing.
    Two objectives use an exact O(n log n) sweep; more objectives an exact
    slicing recursion (exponential in the number of objectives, fine for
    the small fronts of a NAS run).

    Args:
        points: array-like `(num_points, num_objectives)`, minimised.
        reference: array-like `(num_objectives,)`, the reference (worst)
            point, in the same minimised orientation.

    Returns:
        float, >= 0, in the product of the objectives' units.

    Raises:
        ValueError: if `reference` does not match the number of objectives.
    """
    pts = _as_points(points)
    ref = np.asarray(reference, dtype=float).reshape(-1)
    if pts.shape[0] and len(ref) != pts.shape[1]:
        raise ValueError(f"`reference` has {len(ref)} values for {pts.shape[1]} objectives.")
    if pts.shape[0] == 0:
        return 0.0
    pts = pts[np.all(pts < ref, axis=1)]
    if len(pts) == 0:
        return 0.0
    pts = pts[pareto_front(pts)]
    return _hypervolume_slices(pts, ref)


def budget_regret(found_accuracy, found_cost, all_accuracy, all_cost, budgets):
    """Mean regret of the best accuracy found within each cost budget.

    For each budget `b`: the best accuracy in the whole table among
    architectures of cost <= b, minus the best accuracy found by the search
    among those of cost <= b (a budget where the search found nothing counts
    the table's best within the budget minus the table's worst accuracy).

    Args:
        found_accuracy, found_cost: arrays `(num_found,)` of the evaluated
            architectures (accuracy maximised, cost minimised).
        all_accuracy, all_cost: arrays `(num_all,)` of the whole table.
        budgets: sequence of cost budgets (same unit as the costs).

    Returns:
        float, the mean regret over budgets (accuracy units, e.g. percentage
        points when accuracies are in %).
    """
    found_accuracy = np.asarray(found_accuracy, dtype=float)
    found_cost = np.asarray(found_cost, dtype=float)
    all_accuracy = np.asarray(all_accuracy, dtype=float)
    all_cost = np.asarray(all_cost, dtype=float)
    worst = float(np.min(all_accuracy))
    regrets = []
    for b in budgets:
        inside = all_cost <= b
        if not np.any(inside):
            continue
        best = float(np.max(all_accuracy[inside]))
        found = found_accuracy[found_cost <= b]
        regrets.append(best - (float(np.max(found)) if len(found) else worst))
    return float(np.mean(regrets)) if regrets else 0.0


def mnas_reward(accuracy, cost, target, w=-0.07):
    """MnasNet's scalarised reward `accuracy * (cost / target) ** w`.

    Args:
        accuracy: float (or array), the accuracy-like objective (higher is
            better), e.g. validation accuracy as a fraction.
        cost: float (or array) > 0, the model's cost (parameters, FLOPs or
            latency in ms: any unit, the same as `target`).
        target: float > 0, the target cost.
        w: float, or a pair `(alpha, beta)`: the exponent used when
            `cost <= target` (alpha) and when `cost > target` (beta). A single
            float uses the same exponent on both sides (the paper's soft
            constraint, w = -0.07); `(0.0, -1.0)` is the paper's hard-ish
            constraint that only penalises models over the target.

    Returns:
        float (or array), the reward.

    Raises:
        ValueError: if `target` or a cost is not positive.

    Reference:
        Tan et al., "MnasNet: Platform-Aware Neural Architecture Search for
        Mobile", CVPR 2019, Section 3, Equation 2.
    """
    if isinstance(target, bool) or not isinstance(target, (int, float, np.number)) or not target > 0:
        raise ValueError(f"`target` must be a positive number, got {target!r}.")
    cost_array = np.asarray(cost, dtype=float)
    if np.any(~(cost_array > 0)):
        raise ValueError(f"`cost` must be positive, got {cost!r}.")
    if isinstance(w, (tuple, list)):
        if len(w) != 2:
            raise ValueError(f"`w` must be a float or a pair (alpha, beta), got {w!r}.")
        alpha, beta = float(w[0]), float(w[1])
    else:
        alpha = beta = float(w)
    ratio = cost_array / float(target)
    exponent = np.where(ratio <= 1.0, alpha, beta)
    reward = np.asarray(accuracy, dtype=float) * ratio**exponent
    if np.ndim(reward) == 0:
        return float(reward)
    return reward


def finite_rows(points):
    """Boolean mask of the rows whose values are all finite."""
    pts = _as_points(points)
    return np.all(np.isfinite(pts), axis=1)


__all__ = [
    "budget_regret",
    "crowding_distance",
    "dominates",
    "epsilon_archive",
    "finite_rows",
    "hypervolume",
    "hypervolume_contributions",
    "mnas_reward",
    "optimistic_contributions",
    "non_dominated_sort",
    "orient",
    "pareto_front",
    "pareto_ranks",
    "rank_and_contribution",
    "rank_and_crowding",
]
