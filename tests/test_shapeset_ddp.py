"""Shapeset training across 2 CPU processes: torchrun, gloo, DistributedDataParallel."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import trimesh

import nc3d
from nc3d.io import save_mesh
from nc3d.nn import ddp

pytest.importorskip("torch.distributed")


def _torchrun(args, tmp_path):
    """``torchrun --standalone --nproc-per-node 2 ARGS`` with one torch thread per process."""
    environ = {**os.environ, "OMP_NUM_THREADS": "1"}
    for name in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT"):
        environ.pop(name, None)
    return subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2", *args],
        cwd=tmp_path,
        env=environ,
        capture_output=True,
        text=True,
        timeout=300,
    )


TRAIN = textwrap.dedent("""
    import sys
    import numpy as np
    from nc3d.codecs.shapeset.model import Architecture
    from nc3d.codecs.shapeset.train import TrainSettings, train_auto_decoder
    from nc3d.nn import ddp

    vols = np.random.default_rng(0).uniform(-1, 1, (3, 4, 16, 16, 16)).astype(np.float32)
    model, feats = train_auto_decoder(vols, Architecture(resolution=16, feature_resolution=2, width=8),
                                      TrainSettings(steps=6, batch_size=2, crop=8, device="cpu"))
    rank = ddp.world()[0]
    np.savez(f"{sys.argv[1]}/rank{rank}.npz", feats=feats, *[t.detach().numpy() for t in model.tensors()])
""")


def test_two_processes_end_with_the_same_weights_trained_on_both_batches(tmp_path):
    (tmp_path / "train.py").write_text(TRAIN)
    run = _torchrun(["train.py", str(tmp_path)], tmp_path)
    assert run.returncode == 0, run.stderr[-3000:]
    ranks = [np.load(tmp_path / f"rank{r}.npz") for r in (0, 1)]
    assert sorted(ranks[0].files) == sorted(ranks[1].files)
    for name in ranks[0].files:  # gradients were averaged: every step the same on both
        np.testing.assert_array_equal(ranks[0][name], ranks[1][name])
    # one process alone (rank 0's batches only) ends elsewhere: rank 1's batches counted
    (tmp_path / "alone").mkdir()
    alone = subprocess.run(
        [sys.executable, "train.py", str(tmp_path / "alone")],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert alone.returncode == 0, alone.stderr[-3000:]
    single = np.load(tmp_path / "alone" / "rank0.npz")
    assert not np.array_equal(single["feats"], ranks[0]["feats"])


@pytest.mark.parametrize("cache", ["off", "folder"])
def test_torchrun_cli_writes_one_set_file(tmp_path, cache):
    """Without a cache the volumes travel between the processes in memory; with one each process
    prepares its share into it and all read them back (bounded memory)."""
    src = tmp_path / "meshes"
    src.mkdir()
    for name, t in (
        ("sphere", trimesh.creation.icosphere(2)),
        ("box", trimesh.creation.box((1, 0.6, 0.4))),
        ("ring", trimesh.creation.annulus(0.3, 0.8, 0.4)),
    ):
        save_mesh(src / f"{name}.ply", nc3d.mesh.Mesh(np.asarray(t.vertices), np.asarray(t.faces)))
    run = _torchrun(
        [
            "-m",
            "nc3d",
            "compress",
            str(src),
            "-o",
            "set.nc3d",
            "--codec",
            "shapeset",
            "--resolution",
            "16",
            "--feature-resolution",
            "2",
            "--decoder-width",
            "8",
            "--steps",
            "150",
            "--lr",
            "3e-3",
            "--feature-lr",
            "0.1",
            "--deform-steps",
            "1",
            "--cache-dir",
            "off" if cache == "off" else str(tmp_path / "cache"),
            "--mesh-shapes",
            "off",  # every shape neural: the data-parallel training is what is tested
            "--json",
        ],
        tmp_path,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    lines = [json.loads(line) for line in run.stdout.splitlines() if line.startswith("{")]
    assert len(lines) == 1 and lines[0]["output"] == "set.nc3d"  # written once, by rank 0
    f = nc3d.open(tmp_path / "set.nc3d")
    assert f.container.header["train"]["processes"] == 2
    assert sorted(f.names) == ["box", "ring", "sphere"]
    assert [name for name, _ in f.decode()] == f.names
    if cache == "folder":
        assert len(list((tmp_path / "cache").glob("*.npz"))) == 3


def test_torchrun_refuses_per_file_codecs(tmp_path, monkeypatch, capsys):
    from nc3d.cli import main

    mesh = tmp_path / "a.ply"
    t = trimesh.creation.icosphere(1)
    save_mesh(mesh, nc3d.mesh.Mesh(np.asarray(t.vertices), np.asarray(t.faces)))
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv("RANK", "1")
    assert ddp.world() == (1, 2)
    assert main(["compress", str(mesh), "-o", str(tmp_path / "a.nc3d"), "--codec", "draco"]) == 1
    assert "without torchrun" in capsys.readouterr().err
    assert not (tmp_path / "a.nc3d").exists()
    monkeypatch.setenv("RANK", "2")
    with pytest.raises(nc3d.InputError, match="RANK"):
        ddp.world()
