"""Volumes of kinds the ``volume`` codec's prior never saw, to check its defaults generalize.

Writes five seeded volumes and a ``MANIFEST.tsv`` into ``--out-dir`` (default
``/tmp/nc3d-unseen-volumes``), for ``benchmarks.volume_vs_sperr --data``:

* ``turbulence`` — 96³ float32 Gaussian random field with a Kolmogorov spectrum (energy ∝ k^-5/3;
  the prior's synthetic fields have power k^-2, k^-3, k^-4 and another seed);
* ``phantom_ct`` — 96³ int16 3-D Shepp–Logan-like phantom of ellipsoids in Hounsfield-like units
  (−1000 … 1000) with Gaussian noise σ = 8, as a CT scan;
* ``csg_sdf`` — 80³ float32 signed distance of a union of spheres and boxes minus a cylinder
  (kinks along the seams, linear far from the surface);
* ``microscopy`` — 64×128×128 uint8 of anisotropic Gaussian blobs on a background with Poisson
  noise, as a fluorescence stack;
* ``thin_slab`` — 12×200×200 float32 smooth field: few slices, so the z axis is split at fewer levels.

    python -m benchmarks.volume_unseen
    python -m benchmarks.volume_vs_sperr --data /tmp/nc3d-unseen-volumes \\
        --out benchmarks/results/volumes/unseen/volume_vs_sperr.jsonl
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np


def turbulence(rng, n: int = 96) -> np.ndarray:
    k = np.sqrt(sum(g**2 for g in np.meshgrid(*(np.fft.fftfreq(n),) * 3, indexing="ij")))
    k[0, 0, 0] = 1.0
    amplitude = k ** (-11.0 / 6.0 - 1.0)  # E(k) ∝ k^-5/3 in 3-D: |û|² ∝ k^-11/3
    f = np.fft.ifftn((rng.standard_normal((n,) * 3) + 1j * rng.standard_normal((n,) * 3)) * amplitude).real
    return (f / f.std()).astype(np.float32)


def phantom_ct(rng, n: int = 96) -> np.ndarray:
    z, y, x = np.mgrid[-1 : 1 : n * 1j, -1 : 1 : n * 1j, -1 : 1 : n * 1j]
    v = np.full((n,) * 3, -1000.0)  # air
    # (value, centre, semi-axes), each painted over the last: skull, brain, ventricles, lesions
    for value, (cz, cy, cx), (az, ay, ax) in [
        (1000.0, (0, 0, 0), (0.9, 0.8, 0.7)),
        (40.0, (0, 0, 0), (0.85, 0.74, 0.64)),
        (5.0, (0.1, 0.2, 0), (0.3, 0.1, 0.15)),
        (5.0, (0.1, -0.2, 0), (0.3, 0.1, 0.15)),
        (70.0, (-0.4, 0.0, 0.3), (0.08, 0.08, 0.08)),
        (55.0, (0.5, -0.3, -0.2), (0.1, 0.05, 0.12)),
    ]:
        v[(((z - cz) / az) ** 2 + ((y - cy) / ay) ** 2 + ((x - cx) / ax) ** 2) <= 1] = value
    v += rng.normal(0.0, 8.0, v.shape)
    return np.clip(np.rint(v), -1024, 3071).astype(np.int16)


def csg_sdf(n: int = 80) -> np.ndarray:
    z, y, x = np.mgrid[-1 : 1 : n * 1j, -1 : 1 : n * 1j, -1 : 1 : n * 1j]
    sphere = np.sqrt((x - 0.3) ** 2 + y**2 + z**2) - 0.45
    q = np.abs(np.stack([x + 0.35, y - 0.1, z])) - np.array([0.35, 0.25, 0.4])[:, None, None, None]
    box = np.linalg.norm(np.maximum(q, 0), axis=0) + np.minimum(q.max(axis=0), 0)
    cylinder = np.sqrt(x**2 + y**2) - 0.15
    return np.maximum(np.minimum(sphere, box), -cylinder).astype(np.float32)


def microscopy(rng) -> np.ndarray:
    z, y, x = np.mgrid[0:64, 0:128, 0:128].astype(np.float32)
    v = np.full(z.shape, 12.0, np.float32)
    for _ in range(40):
        c = rng.uniform([4, 8, 8], [60, 120, 120])
        s = rng.uniform([1.5, 2.5, 2.5], [4, 8, 8])
        r2 = ((z - c[0]) / s[0]) ** 2 + ((y - c[1]) / s[1]) ** 2 + ((x - c[2]) / s[2]) ** 2
        v += rng.uniform(40, 200) * np.exp(-0.5 * r2)
    return np.clip(rng.poisson(v), 0, 255).astype(np.uint8)


def thin_slab(rng) -> np.ndarray:
    z, y, x = np.mgrid[0:12, 0:200, 0:200] / 200.0
    return (np.sin(9 * x + 2 * z) * np.cos(7 * y) + 0.3 * np.sin(31 * x * y)).astype(np.float32)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out-dir", default="/tmp/nc3d-unseen-volumes")
    args = ap.parse_args()
    out = Path(args.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(2026)
    made = {
        "turbulence": turbulence(rng),
        "phantom_ct": phantom_ct(rng),
        "csg_sdf": csg_sdf(),
        "microscopy": microscopy(rng),
        "thin_slab": thin_slab(rng),
    }
    rows = ["rel_path\tnpy_path\tshape\tdtype"]
    for name, v in made.items():
        np.save(out / f"{name}.npy", v)
        rows.append(f"{name}.npy\t{name}.npy\t{'x'.join(map(str, v.shape))}\t{v.dtype}")
        print(f"{name}: {v.shape} {v.dtype}, range {v.min():.4g} … {v.max():.4g}")
    (out / "MANIFEST.tsv").write_text("\n".join(rows) + "\n")
    print(f"→ {out}")


if __name__ == "__main__":
    main()
