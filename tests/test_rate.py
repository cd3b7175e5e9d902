"""Sharing a byte budget among the shapes of a set (nc3d.rate)."""

import itertools

import numpy as np
import pytest

from nc3d.rate import allocate_bytes


def _brute_force(b, q, budget):
    best = -1.0
    for pick in itertools.product(range(b.shape[1]), repeat=len(b)):
        total = sum(b[i, j] for i, j in enumerate(pick))
        if total <= budget:
            best = max(best, sum(q[i, j] for i, j in enumerate(pick)))
    return best


@pytest.mark.parametrize("seed", range(5))
def test_the_allocation_fits_the_budget_and_is_near_the_best(seed):
    """Within the budget, every shape stored, and no worse than the exact optimum by more than
    one option step of one shape (the Lagrangian's hull gap)."""
    rng = np.random.default_rng(seed)
    n, m = 5, 4
    b = np.sort(rng.uniform(50, 2000, (n, m)), axis=1)
    q = np.sort(rng.uniform(0, 1, (n, m)), axis=1)  # more bytes, more quality
    for budget in (b[:, 0].sum() + 1, b.mean(axis=1).sum(), b[:, -1].sum() - 1):
        pick = allocate_bytes(b, q, budget)
        rows = np.arange(n)
        assert b[rows, pick].sum() <= budget
        gap = np.diff(q, axis=1).max()
        assert q[rows, pick].sum() >= _brute_force(b, q, budget) - gap - 1e-9


def test_small_shapes_get_the_bytes_that_buy_most():
    """Two shapes, one near-lossless for little, one that needs a lot: with the budget of both
    at the cheap end plus a bit, the bytes go where they raise the quality most."""
    b = np.array([[100.0, 300.0, 5000.0], [100.0, 2000.0, 4000.0]])
    q = np.array([[0.2, 0.99, 1.0], [0.2, 0.5, 0.6]])
    pick = allocate_bytes(b, q, 2400)
    assert pick.tolist() == [1, 1]  # 300 + 2000: 1.49, better than 100 + 2000 or 300 + 100
    assert allocate_bytes(b, q, 1e9).tolist() == [2, 2]
    assert allocate_bytes(b, q, 10).tolist() == [0, 0]  # nothing fits: the cheapest of each


def test_missing_options_and_bad_shapes():
    b = np.array([[100.0, np.inf], [50.0, 80.0]])
    q = np.array([[0.5, np.nan], [0.1, 0.9]])
    assert allocate_bytes(b, q, 180).tolist() == [0, 1]
    with pytest.raises(ValueError, match="at least one option"):
        allocate_bytes(np.array([[np.inf]]), np.array([[1.0]]), 10)
    with pytest.raises(ValueError, match=r"\(n, m\)"):
        allocate_bytes(np.ones(3), np.ones(3), 10)


def test_a_few_shapes_get_the_exact_best_pick():
    # the price leaves 1,700 of 2,400 bytes unspent and no single upgrade fits them (shape 0's
    # costs 1,900); the best pick trades shape 2's upgrade for shape 0's
    b = np.array([[100.0, 2000.0], [100.0, 300.0], [100.0, 300.0]])
    q = np.array([[0.0, 0.8], [0.5, 1.0], [0.5, 1.0]])
    pick = allocate_bytes(b, q, 2400)
    assert q[np.arange(3), pick].sum() == pytest.approx(2.3)
    assert b[np.arange(3), pick].sum() <= 2400
