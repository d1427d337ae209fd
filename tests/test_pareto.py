import math

import numpy as np
import pytest

from keras_nas_plus.oracles import _pareto

pytestmark = pytest.mark.core

# Minimised points A(1,5), B(2,3), C(4,1), D(3,4), E(5,5), B again.
# A, B, C (and B's duplicate) are non-dominated; D is dominated by B; E by
# A, B and D, so E is on the third front.
POINTS = [(1, 5), (2, 3), (4, 1), (3, 4), (5, 5), (2, 3)]


def test_dominates():
    assert _pareto.dominates((1, 2), (2, 2))
    assert not _pareto.dominates((2, 2), (2, 2))  # equal: no strict gain
    assert not _pareto.dominates((1, 3), (2, 2))  # trade-off
    assert not _pareto.dominates((2, 2), (1, 2))


def test_non_dominated_sort_exact_fronts():
    fronts = _pareto.non_dominated_sort(POINTS)
    # Duplicates (B and the last point) share a front.
    assert fronts == [[0, 1, 2, 5], [3], [4]]
    assert _pareto.pareto_ranks(POINTS).tolist() == [0, 0, 0, 1, 2, 0]
    assert _pareto.pareto_front(POINTS) == [0, 1, 2, 5]
    assert _pareto.non_dominated_sort([]) == []


def test_three_objective_sort():
    points = [(1, 1, 1), (0, 2, 2), (2, 2, 2), (1, 1, 3), (3, 3, 3)]
    assert _pareto.non_dominated_sort(points) == [[0, 1], [2, 3], [4]]


def test_crowding_distance_by_hand():
    # Front A(1,5), B(2,3), C(4,1): ranges 3 and 4.
    # B: (4 - 1) / 3 + (5 - 1) / 4 = 2; the extremes are infinite.
    d = _pareto.crowding_distance([(1, 5), (2, 3), (4, 1)])
    assert math.isinf(d[0]) and math.isinf(d[2])
    assert d[1] == pytest.approx(2.0)
    # Four points (0,10), (1,6), (3,5), (10,0); both ranges are 10.
    # p1: (3 - 0)/10 + (10 - 5)/10 = 0.8;  p2: (10 - 1)/10 + (6 - 0)/10 = 1.5
    d = _pareto.crowding_distance([(0, 10), (1, 6), (3, 5), (10, 0)])
    assert d[1] == pytest.approx(0.8)
    assert d[2] == pytest.approx(1.5)
    assert np.isinf(d[[0, 3]]).all()
    # Two points or fewer: all boundary.
    assert np.isinf(_pareto.crowding_distance([(0, 1), (1, 0)])).all()


def test_crowding_zero_range_adds_nothing():
    d = _pareto.crowding_distance([(0, 1), (1, 1), (2, 1), (3, 1)])
    # Second objective constant: only the first contributes, (2-0)/3 each.
    assert d[1] == pytest.approx(2 / 3) and d[2] == pytest.approx(2 / 3)


def test_rank_and_crowding_is_per_front():
    ranks, crowding = _pareto.rank_and_crowding(POINTS)
    assert ranks.tolist() == [0, 0, 0, 1, 2, 0]
    # Lone fronts are boundary points.
    assert math.isinf(crowding[3]) and math.isinf(crowding[4])


def test_orient():
    values = [[0.9, 100.0], [0.8, 50.0]]
    oriented = _pareto.orient(values, ["max", "min"])
    assert oriented.tolist() == [[-0.9, 100.0], [-0.8, 50.0]]
    with pytest.raises(ValueError, match="directions"):
        _pareto.orient(values, ["max"])
    with pytest.raises(ValueError, match="directions\\[1\\]"):
        _pareto.orient(values, ["max", "up"])


def test_hypervolume_2d_by_hand():
    # Rectangles to (6, 6): (6-1)(6-5) + (6-2)(5-3) + (6-4)(3-1) = 5 + 8 + 4.
    assert _pareto.hypervolume([(1, 5), (2, 3), (4, 1)], (6, 6)) == pytest.approx(17.0)
    # Dominated points and points outside the reference add nothing.
    assert _pareto.hypervolume([(1, 5), (2, 3), (4, 1), (3, 4), (7, 0)], (6, 6)) == pytest.approx(17.0)
    assert _pareto.hypervolume([], (1, 1)) == 0.0
    with pytest.raises(ValueError, match="reference"):
        _pareto.hypervolume([(1, 2)], (1, 2, 3))


def test_hypervolume_general_dimension_by_hand():
    assert _pareto.hypervolume([(1, 1, 1)], (2, 3, 4)) == pytest.approx(6.0)
    # Two boxes of 0.5 overlapping in 0.25.
    assert _pareto.hypervolume([(0, 0, 0.5), (0, 0.5, 0)], (1, 1, 1)) == pytest.approx(0.75)
    # A 3-D front at a constant third value: 2-D area times depth.
    pts = [(1, 5, 0), (2, 3, 0), (4, 1, 0)]
    assert _pareto.hypervolume(pts, (6, 6, 2)) == pytest.approx(34.0)
    # 1-D: distance to the reference.
    assert _pareto.hypervolume([[3.0], [2.0]], [5.0]) == pytest.approx(3.0)


def test_hypervolume_matches_monte_carlo_in_3d():
    rng = np.random.default_rng(0)
    pts = rng.uniform(0, 1, size=(12, 3))
    exact = _pareto.hypervolume(pts, (1, 1, 1))
    samples = rng.uniform(0, 1, size=(200000, 3))
    covered = np.zeros(len(samples), dtype=bool)
    for p in pts:
        covered |= np.all(samples >= p, axis=1)
    assert exact == pytest.approx(covered.mean(), abs=0.01)


def test_mnas_reward():
    assert _pareto.mnas_reward(0.8, 100, 100) == pytest.approx(0.8)
    assert _pareto.mnas_reward(0.8, 200, 100, w=-0.07) == pytest.approx(0.8 * 2**-0.07)
    assert _pareto.mnas_reward(0.8, 50, 100, w=-0.07) == pytest.approx(0.8 * 0.5**-0.07)
    # (alpha, beta) = (0, -1): no bonus under the target, 1/ratio over it.
    assert _pareto.mnas_reward(0.8, 50, 100, w=(0.0, -1.0)) == pytest.approx(0.8)
    assert _pareto.mnas_reward(0.8, 200, 100, w=(0.0, -1.0)) == pytest.approx(0.4)
    np.testing.assert_allclose(_pareto.mnas_reward([0.8, 0.8], [50, 200], 100, (0.0, -1.0)), [0.8, 0.4])
    with pytest.raises(ValueError, match="target"):
        _pareto.mnas_reward(0.8, 1, 0)
    with pytest.raises(ValueError, match="cost"):
        _pareto.mnas_reward(0.8, -1, 10)


def test_budget_regret_by_hand():
    all_acc = [80, 85, 90, 95]
    all_cost = [1, 2, 3, 4]
    # Found the archs of cost 1 and 3. Budgets 1..4: best in table 80, 85,
    # 90, 95; found best 80, 80, 90, 90 -> regrets 0, 5, 0, 5.
    assert _pareto.budget_regret([80, 90], [1, 3], all_acc, all_cost, [1, 2, 3, 4]) == pytest.approx(2.5)
    # Nothing found within budget 1: regret = best within it - worst overall.
    assert _pareto.budget_regret([90], [3], all_acc, all_cost, [1]) == pytest.approx(0.0 + 80 - 80)
    assert _pareto.budget_regret([90], [3], all_acc, all_cost, [2]) == pytest.approx(85 - 80)


def test_rank_scaled_crowding():
    # Skewed first objective: in value scale p1 looks crowded, in rank scale
    # all interior points are evenly spaced.
    pts = [(0, 3), (1, 2), (2, 1), (100, 0)]
    _, by_value = _pareto.rank_and_crowding(pts)
    _, by_rank = _pareto.rank_and_crowding(pts, scale="rank")
    assert by_value[1] == pytest.approx(2 / 100 + 2 / 3)
    assert by_rank[1] == pytest.approx(by_rank[2]) == pytest.approx(2 / 3 + 2 / 3)
    with pytest.raises(ValueError, match="scale"):
        _pareto.rank_and_crowding(pts, scale="log")


def test_pareto_front_2d_sweep_matches_general_rule():
    rng = np.random.default_rng(1)
    for _ in range(20):
        pts = rng.integers(0, 5, size=(30, 2)).astype(float)  # many ties
        expected = [i for i in range(len(pts)) if not any(_pareto.dominates(q, pts[i]) for q in pts)]
        assert _pareto.pareto_front(pts) == expected


def test_hypervolume_contributions_by_hand():
    # Front A(1,5), B(2,3), C(4,1), reference (5,6): removing A loses the
    # rectangle [1,2)x[5,6) = 1, B: [2,4)x[3,5) = 4, C: [4,5)x[1,3) = 2.
    front = [(1, 5), (2, 3), (4, 1)]
    ref = (5, 6)
    got = _pareto.hypervolume_contributions(front, ref)
    assert got.tolist() == pytest.approx([1.0, 4.0, 2.0])
    full = _pareto.hypervolume(front, ref)
    for i in range(3):
        rest = [p for j, p in enumerate(front) if j != i]
        assert got[i] == pytest.approx(full - _pareto.hypervolume(rest, ref))
    # Order of the input does not matter; without a reference the extremes are inf.
    got = _pareto.hypervolume_contributions([(4, 1), (1, 5), (2, 3)])
    assert math.isinf(got[0]) and math.isinf(got[1]) and got[2] == pytest.approx(4.0)
    assert _pareto.hypervolume_contributions([(1, 1), (1, 1), (0, 3)], (4, 4)).tolist() == pytest.approx([0, 0, 1])
    with pytest.raises(ValueError, match="2 objectives"):
        _pareto.hypervolume_contributions([(1, 2, 3)])


def test_rank_and_contribution_is_per_front():
    ranks, contribution = _pareto.rank_and_contribution(POINTS)
    assert ranks.tolist() == [0, 0, 0, 1, 2, 0]
    # Front 0 is A, B, C, B': both copies of B add nothing alone.
    assert math.isinf(contribution[0]) and math.isinf(contribution[2])
    assert contribution[1] == contribution[5] == 0.0
    # Fronts of one or two points: all extremes.
    assert math.isinf(contribution[3]) and math.isinf(contribution[4])
    with pytest.raises(ValueError, match="scale"):
        _pareto.rank_and_contribution(POINTS, scale="log")


def test_epsilon_archive_boxes():
    pts = np.array([[-88.2, 0.129], [-88.25, 0.157], [-89.0, 0.3], [-87.2, 0.101], [-89.05, 0.35], [-88.0, 0.2]])
    assert _pareto.pareto_front(pts) == [0, 1, 2, 3, 4]
    assert _pareto.epsilon_archive(pts, (0.1, 0.0)) == [0, 1, 2, 3, 4]
    # Boxes of 0.5: -88.2 and -88.25 share box -177, so the dearer 0.157 leaves; -89.05 (box -179) beats -89.0 (-178).
    assert _pareto.epsilon_archive(pts, (0.5, 0.0)) == [0, 2, 3, 4]
    # One point per box: the one nearest the box's best corner.
    assert _pareto.epsilon_archive([[0.9, 0.1], [0.1, 0.9], [0.5, 0.5]], (1.0, 1.0)) == [2]
    assert _pareto.epsilon_archive(np.zeros((0, 2)), (1.0, 1.0)) == []
    with pytest.raises(ValueError, match="epsilon"):
        _pareto.epsilon_archive(pts, (0.1,))
    with pytest.raises(ValueError, match="epsilon"):
        _pareto.epsilon_archive(pts, (0.1, -1.0))


def test_optimistic_contributions():
    np.testing.assert_allclose(_pareto.optimistic_contributions([[3, 1], [0, 4], [1, 2]], [5, 6]), [4.0, 4.0, 9.0])
    np.testing.assert_allclose(_pareto.optimistic_contributions([[1, 1]], [2, 3]), [2.0])
    assert _pareto.optimistic_contributions(np.zeros((0, 2)), [1, 1]).shape == (0,)
    with pytest.raises(ValueError, match="2 objectives"):
        _pareto.optimistic_contributions([[1, 2, 3]], [4, 4, 4])
