"""Blocks with margins: split/merge round trips, margin contents, blending, seam measure."""

from __future__ import annotations

import numpy as np
import pytest

from nc3d.blocks import block_grid, merge_blocks, seam_jump, split_blocks
from nc3d.errors import InputError

SHAPES = [(1, 1, 17), (13, 7, 9), (16, 16, 16), (8, 3, 1)]


def _volume(shape, seed=0, dtype=np.float32):
    return np.random.default_rng(seed).normal(size=shape).astype(dtype)


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("margin", [0, 1, 2, 4])
@pytest.mark.parametrize("blend", ["crop", "linear"])
def test_round_trip_is_exact(shape, margin, blend):
    v = _volume(shape)
    blocks, grid = split_blocks(v, 4, margin)
    assert grid == tuple(-(-d // 4) for d in shape)
    assert blocks.shape == (np.prod(grid), 4 + 2 * margin, 4 + 2 * margin, 4 + 2 * margin)
    out = merge_blocks(blocks, shape, 4, margin, blend)
    assert out.shape == shape
    np.testing.assert_array_equal(out, v)


@pytest.mark.parametrize("dtype", [np.uint8, np.int16, np.float64])
def test_round_trip_keeps_integer_values(dtype):
    v = (np.arange(13 * 7 * 9) % 200).reshape(13, 7, 9).astype(dtype)
    blocks, _ = split_blocks(v, 8, 2)
    assert blocks.dtype == dtype
    np.testing.assert_array_equal(merge_blocks(blocks, v.shape, 8, 2, "crop"), v)
    np.testing.assert_array_equal(merge_blocks(blocks, v.shape, 8, 2, "linear"), v)


def test_blocks_are_in_c_order_and_margins_come_from_neighbours():
    v = _volume((13, 7, 9), seed=1)
    b, m = 4, 2
    blocks, (gz, gy, gx) = split_blocks(v, b, m)
    padded = np.pad(v, [(m, g * b - d + m) for g, d in zip((gz, gy, gx), v.shape)], mode="edge")
    for i, j, k in [(0, 0, 0), (1, 1, 1), (3, 1, 2), (2, 0, 1)]:
        n = (i * gy + j) * gx + k
        expected = padded[i * b : i * b + b + 2 * m, j * b : j * b + b + 2 * m, k * b : k * b + b + 2 * m]
        np.testing.assert_array_equal(blocks[n], expected)
    # An interior block's margin is literally the neighbour's voxels.
    n = (1 * gy + 0) * gx + 1
    np.testing.assert_array_equal(blocks[n][:m, m:-m, m:-m], v[b - m : b, 0:b, b : 2 * b])
    np.testing.assert_array_equal(blocks[n][-m:, m:-m, m:-m], v[2 * b : 2 * b + m, 0:b, b : 2 * b])
    # At the border the margin repeats the edge voxel.
    np.testing.assert_array_equal(blocks[0][:m, m, m], [v[0, 0, 0]] * m)


def test_partial_last_block_is_edge_padded_not_dropped():
    v = np.arange(10, dtype=np.float32).reshape(1, 1, 10)
    blocks, grid = split_blocks(v, 8, 0)
    assert grid == (1, 1, 2)
    np.testing.assert_array_equal(blocks[1, 0, 0], [8, 9, 9, 9, 9, 9, 9, 9])


def test_linear_blend_averages_disagreeing_margins_smoothly():
    # Each block reconstructs its own constant: crop leaves a step at every block face,
    # the linear blend turns it into a ramp across the 2m overlap.
    shape, b, m = (16, 16, 16), 8, 2
    blocks, grid = split_blocks(np.zeros(shape, np.float32), b, m)
    blocks += np.arange(len(blocks), dtype=np.float32)[:, None, None, None]
    crop = merge_blocks(blocks, shape, b, m, "crop")
    lin = merge_blocks(blocks, shape, b, m, "linear")
    seam_crop, inner_crop = seam_jump(crop, b)
    seam_lin, _ = seam_jump(lin, b)
    assert inner_crop == 0 and seam_crop > 0
    assert seam_lin < seam_crop / 3
    # Along x (blocks 0 and 1 of the grid): a monotone ramp from 0 to 1 around the face at x=8.
    row = lin[0, 0, :]
    assert row[0] == 0 and row[-1] == 1
    assert np.all(np.diff(row) >= 0) and np.count_nonzero(np.diff(row)) == 2 * m + 1
    np.testing.assert_allclose(row[8 - m : 8 + m], [0.125, 0.375, 0.625, 0.875])
    # Between overlaps the blend keeps the block's own value.
    assert lin[0, 0, 3] == 0 and lin[0, 0, 12] == 1


def test_block_grid_and_seam_jump_counts():
    assert block_grid((17, 8, 1), 8) == (3, 1, 1)
    v = np.zeros((16, 1, 1))
    v[8:] = 1.0  # one jump exactly at the block face z = 8
    seam, inner = seam_jump(v, 8)
    assert seam == 1.0 and inner == 0.0
    ref = v.copy()
    assert seam_jump(v, 8, reference=ref) == (0.0, 0.0)


@pytest.mark.parametrize(
    "call",
    [
        lambda: split_blocks(np.zeros((4, 4)), 8, 0),
        lambda: split_blocks(np.zeros((0, 4, 4)), 8, 0),
        lambda: split_blocks(np.zeros((4, 4, 4)), 0, 0),
        lambda: split_blocks(np.zeros((4, 4, 4)), 4, 5),
        lambda: split_blocks(np.zeros((4, 4, 4)), 4, -1),
        lambda: merge_blocks(np.zeros((2, 4, 4, 4)), (4, 4, 4), 4, 0),
        lambda: merge_blocks(np.zeros((1, 4, 4, 4)), (4, 4, 4), 4, 0, "cubic"),
        lambda: merge_blocks(np.zeros((1, 4, 4, 4)), (4, 0, 4), 4, 0),
        lambda: seam_jump(np.zeros((4, 4, 4)), 4, reference=np.zeros((4, 4, 5))),
    ],
)
def test_bad_arguments_raise_input_error(call):
    with pytest.raises(InputError):
        call()
