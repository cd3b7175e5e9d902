"""Leftovers of a killed write (``.NAME.*.partial``) are cleaned by the next folder run."""

from __future__ import annotations

import os
import time

import trimesh

from nc3d.batch import compress_folder
from nc3d.files import remove_stale_partials, write_bytes_atomic


def _touch(path, age_s):
    path.write_bytes(b"half a file")
    t = time.time() - age_s
    os.utime(path, (t, t))
    return path


def test_only_old_leftovers_of_the_named_outputs_go(tmp_path):
    old = _touch(tmp_path / ".a.nc3d.k2j4h_x9.partial", 3600)
    fresh = _touch(tmp_path / ".a.nc3d.q8w7e6r5.partial", 0)  # maybe being written right now
    other = _touch(tmp_path / ".notes.txt.abcd1234.partial", 3600)  # not an output of this run
    similar = _touch(tmp_path / ".a.nc3d.extra.nc3d.zz.partial", 3600)  # of "a.nc3d.extra.nc3d"
    write_bytes_atomic(tmp_path / "a.nc3d", b"done")
    assert remove_stale_partials(tmp_path, ["a.nc3d", "b.nc3d"]) == [old]
    assert not old.exists() and fresh.exists() and other.exists() and similar.exists()
    assert (tmp_path / "a.nc3d").read_bytes() == b"done"
    assert remove_stale_partials(tmp_path / "missing", ["a.nc3d"]) == []


def test_a_folder_run_removes_what_a_killed_run_left(tmp_path):
    src, out = tmp_path / "in", tmp_path / "out"
    src.mkdir()
    out.mkdir()
    trimesh.creation.icosphere(subdivisions=2).export(src / "ball.obj")
    left = _touch(out / ".ball.nc3d.abc_1234.partial", 600)
    results = compress_folder(src, out, codec="draco", jobs=1)
    assert len(results) == 1 and "error" not in results[0] and not results[0].get("skipped")
    assert not left.exists()
    assert sorted(p.name for p in out.iterdir()) == ["ball.nc3d"]
