"""``bevec``: the paper's dense block VAE (shipped 8-0-128-32 model), PCA start, file checks."""

from __future__ import annotations

import numpy as np
import pytest

from nc3d import container
from nc3d.codecs import get_codec
from nc3d.codecs.volume.bevec import (
    BevecArch,
    decode_blocks,
    encode_blocks,
    init_from_pca,
    make_bevec_net,
    save_bevec,
    train_bevec,
)
from nc3d.codecs.volume.volume_conv_train import normalize_volume
from nc3d.errors import FormatError
from nc3d.samples import sample_volume_path


@pytest.fixture(scope="module")
def head():
    return np.load(sample_volume_path())


def test_round_trip_at_four_to_one(head):
    c = get_codec("bevec")
    blob = c.encode(head)
    out = c.decode(blob)
    assert out.shape == head.shape and out.dtype == head.dtype
    n_blocks = np.prod([-(-s // 8) for s in head.shape])
    assert len(container.unpack(blob).sections["latents"]) == n_blocks * 32 * 4  # float32, 32 per block
    mse = np.mean((out / 255.0 - head / 255.0) ** 2)
    assert mse < 0.005


def test_pca_start_is_exactly_the_pca_projection():
    rng = np.random.default_rng(0)
    z, y, x = np.mgrid[:32, :32, :32]
    vol = normalize_volume(np.sin(z / 4) * np.cos(x / 5) + y / 32 + rng.normal(0, 0.05, z.shape))
    arch = BevecArch(8, 0, 16, 4)
    net = make_bevec_net(arch)
    blocks = vol.reshape(4, 8, 4, 8, 4, 8).transpose(0, 2, 4, 1, 3, 5).reshape(-1, 512)
    init_from_pca(net, blocks)
    got = decode_blocks(net, encode_blocks(net, vol), vol.shape, "crop")
    xc = blocks.astype(np.float64)
    mu = xc.mean(0)
    _, _, vt = np.linalg.svd(xc - mu, full_matrices=False)
    ref = (xc - mu) @ vt[:4].T @ vt[:4] + mu
    ref = np.clip(ref, 0, 1).reshape(4, 4, 4, 8, 8, 8).transpose(0, 3, 1, 4, 2, 5).reshape(vol.shape)
    assert np.abs(got - ref).max() < 1e-4


def test_margin_blending_and_embedded_model(tmp_path, head):
    import torch

    vol = normalize_volume(head)
    threads = torch.get_num_threads()
    net, _ = train_bevec([vol], BevecArch(8, 2, 64, 16), epochs=1, threads=threads + 1)
    # torch's thread count is process-wide: training must hand it back unchanged
    assert torch.get_num_threads() == threads
    path = tmp_path / "b.npz"
    save_bevec(net, path)
    c = get_codec("bevec")
    lin = c.decode(c.encode(head, model=str(path), blend="linear"))
    crop = c.decode(c.encode(head, model=str(path), blend="crop"))
    assert lin.shape == crop.shape == head.shape and not np.array_equal(lin, crop)


def test_corrupt_bevec_files_are_format_errors(head):
    c = get_codec("bevec")
    parsed = container.unpack(c.encode(head))
    with pytest.raises(FormatError):
        c.decode_parts(parsed.header, {"latents": parsed.sections["latents"][:-4]})
    with pytest.raises(FormatError):
        c.decode_parts({**parsed.header, "model_digest": "x"}, parsed.sections)
    with pytest.raises(FormatError):
        c.decode_parts({**parsed.header, "blend": "cubic"}, parsed.sections)
