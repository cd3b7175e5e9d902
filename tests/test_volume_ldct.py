"""The ``volume`` codec's 8³ DCT files (formats 1 and 2, written with ``model="dct"`` since the
default became the wavelet of format 3): learned entropy model (block activity × band tables)."""

from __future__ import annotations

import numpy as np
import pytest

import nc3d
from nc3d import container
from nc3d.codecs import get_codec
from nc3d.codecs.volume import volume as learned
from nc3d.codecs.volume import volume_model as ldct
from nc3d.codecs.volume.volume import quality_step
from nc3d.errors import FormatError, InputError
from nc3d.metrics.volume import psnr as _psnr
from nc3d.samples import sample_volume_path


@pytest.fixture(scope="module")
def head():
    return np.load(sample_volume_path())  # (42, 62, 48) uint8, sizes not multiples of 8


class _DCT:
    """The ``volume`` codec writing its DCT files unless a test names another model."""

    def __init__(self):
        self.codec = get_codec("volume")

    def encode(self, data, **settings):
        settings.setdefault("model", "dct")
        return self.codec.encode(data, **settings)

    def decode(self, blob, **kwargs):
        return self.codec.decode(blob, **kwargs)


@pytest.fixture(scope="module")
def codec():
    return _DCT()


def test_round_trip_keeps_shape_dtype_and_trades_size_for_psnr(codec, head):
    sizes, psnrs = [], []
    for q in (8.0, 12.0, 16.0):
        blob = codec.encode(head, quality=q)
        out = codec.decode(blob)
        assert out.shape == head.shape and out.dtype == head.dtype
        sizes.append(len(blob))
        psnrs.append(_psnr(head, out))
    assert sizes[0] < sizes[1] < sizes[2] and psnrs[0] + 3 < psnrs[1] < psnrs[2] - 3
    assert container.unpack(blob).codec == "volume"


@pytest.mark.parametrize("dtype", [np.int16, np.float32, np.float64])
def test_other_dtypes_and_sizes(codec, dtype):
    z, y, x = np.mgrid[0:13, 0:9, 0:21]
    vol = (np.sin(x / 3.0) * np.cos(y / 4.0) * 900 + z * 7).astype(dtype)
    out = codec.decode(codec.encode(vol, quality=18))
    assert out.dtype == vol.dtype and out.shape == vol.shape and _psnr(vol, out) > 45


def test_beats_the_dct_baseline_at_the_same_quantizer(codec, head):
    # quality 14 is step 0.02 with the model's tilt and dead zone: the DCT baseline's default
    model, _ = ldct.load_ldct_model(ldct.default_ldct_path())
    ours = codec.encode(head, quality=14)
    dct = get_codec("dct").encode(head, step=quality_step(14), tilt=model["tilt"])
    assert len(ours) < 0.9 * len(dct)
    assert _psnr(head, codec.decode(ours)) >= _psnr(head, get_codec("dct").decode(dct)) - 0.05


def test_constant_and_flat_volumes(codec):
    const = np.full((9, 10, 11), 7, np.uint8)
    out = codec.decode(codec.encode(const))
    assert np.array_equal(out, const)
    step = np.zeros((16, 16, 16), np.float32)
    step[8:] = 1.0  # blocks are flat: every AC symbol is zero, z == 0 everywhere
    blob = codec.encode(step, quality=12)
    assert len(container.unpack(blob).sections["ac"]) == 0
    # the deblocking filter softens an edge that sits exactly on a block face, less at high quality
    assert np.abs(codec.decode(blob) - step).max() < 0.05
    assert np.abs(codec.decode(codec.encode(step, quality=28)) - step).max() < 1e-4


def test_escapes_round_trip_large_coefficients(codec, monkeypatch):
    monkeypatch.setattr(learned, "ZSHIFT_MIN_SAVING", float("inf"))  # no table shift: the escapes' path
    rng = np.random.default_rng(1)
    noise = rng.integers(0, 65535, (16, 16, 24)).astype(np.uint16)
    blob = codec.encode(noise, quality=20)
    c = container.unpack(blob)
    assert len(c.sections["esc"]) > 8  # noise at the finest step does escape the tables
    assert _psnr(noise, codec.decode(blob)) > 50


def _smooth_field(n=32):
    g = np.stack(np.meshgrid(*[np.linspace(-1, 1, n)] * 3, indexing="ij"))
    return (np.exp(-4 * (g**2).sum(0)) + 0.5 * np.exp(-9 * ((g - 0.4) ** 2).sum(0))).astype(np.float32)


def test_smooth_field_codes_smaller_with_a_per_band_table_shift(codec, monkeypatch):
    # a smooth field's spectrum falls off faster than the training scans': the encoder shifts the
    # table rows (header zshift) when that codes smaller, and the decode is the very same
    field = _smooth_field()
    shifted = codec.encode(field, quality=30)
    shift = container.unpack(shifted).header["zshift"]
    assert len(shift) == 21 and min(shift) < 0
    monkeypatch.setattr(learned, "ZSHIFT_MIN_SAVING", float("inf"))
    plain = codec.encode(field, quality=30)
    assert "zshift" not in container.unpack(plain).header
    assert len(shifted) < 0.9 * len(plain)
    assert np.array_equal(codec.decode(shifted), codec.decode(plain))
    assert _psnr(field, codec.decode(shifted)) > 90
    region = nc3d.decompress(shifted, region="3:20,0:9,17:32")
    assert np.array_equal(region, codec.decode(shifted)[3:20, 0:9, 17:32])
    # the shift belongs to the symbols: another one does not decode them
    wrong = _repack(shifted, header={"zshift": [s + 3 for s in shift]})
    with pytest.raises(FormatError):
        codec.decode(wrong)


def test_choose_zshift_keeps_zero_where_the_tables_fit():
    model, _ = ldct.load_ldct_model(ldct.default_ldct_path())
    q = np.zeros((4, 512), np.int32)
    shift, saved = ldct.choose_zshift(q, ldct.block_activity(q), model)  # no active block: nothing to gain
    assert shift.shape == (22,) and not shift.any() and saved == 0


def test_cell_tables_are_integer_and_positive():
    counts = ldct._cell_counts(60000, 50000, 40)
    assert counts.dtype == np.int64 and counts.size == 81 and counts.min() >= 1
    assert np.array_equal(counts, counts[::-1]) and counts.argmax() == 40


def test_target_psnr_picks_the_smallest_quality_reaching_it(codec, head):
    blob = codec.encode(head, target_psnr=38.0)
    header = container.unpack(blob).header
    q = header["quality"]
    assert _psnr(head, codec.decode(blob)) >= 38.0 and header["psnr"] >= 38.0
    assert _psnr(head, codec.decode(codec.encode(head, quality=q - 0.25))) < 38.0


@pytest.mark.parametrize("region", ["5:30,17:62,0:9", "0:42,0:62,0:48", "16:24,8:9,40:48"])
def test_region_matches_the_full_decode(codec, head, region):
    blob = codec.encode(head, quality=13)
    full = codec.decode(blob)
    part = nc3d.decompress(blob, region=region)
    box = tuple(slice(*map(int, r.split(":"))) for r in region.split(","))
    assert part.shape == full[box].shape and np.abs(part.astype(int) - full[box].astype(int)).max() <= 1


def test_model_fit_save_load_and_embedding(tmp_path, codec, head):
    x = head.astype(np.float32) / 255
    model = ldct.fit_model([(x, 0.02), (x, 0.08)], tilt=1.5, dead_zone=0.2)
    assert model["p0"].shape == (22, ldct.Z_LEVELS) and model["p0"].min() >= 1
    path = tmp_path / "m.npz"
    model["deblock"] = ldct.fit_deblock(model, [x], (8.0, 12.0))
    assert np.abs(model["deblock"][ldct.deblock_bucket(8.0)]).max() > 0 and not model["deblock"][0].any()
    ldct.save_ldct_model(model, path)
    loaded, digest = ldct.load_ldct_model(path)
    assert np.array_equal(loaded["r"], model["r"]) and loaded["tilt"] == 1.5 and len(digest) == 16
    blob = codec.encode(head, quality=12, model=str(path))
    c = container.unpack(blob)
    assert c.header["model"] == "embedded" and c.sections["model"] == path.read_bytes()
    assert _psnr(head, codec.decode(blob)) > 35
    (tmp_path / "bad.npz").write_bytes(b"not a model")
    with pytest.raises(InputError):
        codec.encode(head, model=str(tmp_path / "bad.npz"))


def _repack(blob, header=None, sections=None):
    c = container.unpack(blob)
    return container.pack(
        container.Container(c.codec, {**c.header, **(header or {})}, {**c.sections, **(sections or {})})
    )


@pytest.mark.parametrize(
    "change",
    [
        {"header": {"quality": 99}},
        {"header": {"dc_pred": "median"}},
        {"header": {"model_digest": "0" * 16}},
        {"header": {"model": "other"}},
        {"header": {"shape": [9, 9, 9]}},
        {"sections": {"z": b""}},
        {"sections": {"ac": b"\x01\x02\x03"}},
        {"sections": {"esc": b"\x01"}},
        {"header": {"zshift": [0] * 20}},
        {"header": {"zshift": [99] + [0] * 20}},
        {"header": {"zshift": [True] * 21}},
        {"header": {"zshift": [0.5] * 21}},
        {"header": {"zshift": "0"}},
        {"header": {"quality": 32.5}},
    ],
)
def test_hostile_files_raise_format_error(codec, head, change):
    blob = codec.encode(head, quality=10)
    with pytest.raises(FormatError):
        codec.decode(_repack(blob, **change))


def test_side_information_must_match_the_coefficients(codec, head):
    from nc3d.entropy import decode_symbols, encode_symbols

    blob = codec.encode(head, quality=10)
    z = decode_symbols(container.unpack(blob).sections["z"])
    with pytest.raises(FormatError):
        codec.decode(_repack(blob, sections={"z": encode_symbols(np.minimum(z + 1, ldct.Z_LEVELS - 1))}))


def test_old_conv_files_still_decode_under_the_volume_name(head):
    blob = get_codec("volume-conv").encode(head, quality=2)
    c = container.unpack(blob)
    old = container.pack(container.Container("volume", c.header, c.sections))
    assert np.array_equal(nc3d.decompress(old), get_codec("volume-conv").decode(blob))


@pytest.mark.parametrize("key", ["volume-ldct-v1", "volume-ldct-zshift", "volume-ctx", "volume-ctx-zshift"])
def test_golden_file_of_this_format_decodes_as_recorded(key):
    # tests/golden/volume.nc3d is a conv-format file from before the rename (test_golden.py);
    # these pin the learned-DCT format and the shipped model (its digest is in the header):
    # v1 from before the per-band table shift, -zshift a smooth field with one (header zshift);
    # volume-ctx* the context-coded AC (format 2, header ac = "ctx", model volume-ctx.npz)
    import hashlib
    import json
    from pathlib import Path

    from nc3d.testing import fuzz
    from test_golden import _close

    golden = Path(__file__).parent / "golden"
    want = json.loads((golden / "expected.json").read_text())[key]
    blob = (golden / want["file"]).read_bytes()
    assert hashlib.sha256(blob).hexdigest() == want["file_sha256"]
    assert ("zshift" in container.unpack(blob).header) == key.endswith("zshift")
    assert (container.unpack(blob).header.get("ac") == "ctx") == key.startswith("volume-ctx")
    kind, result = fuzz.decode_quick(blob)
    _close(fuzz.describe_result(kind, result), want["decoded"])


def test_hostile_variants_of_a_shifted_file_end_in_format_error_or_a_result():
    # the fuzz suite mutates each codec's sample file, which has no zshift: mutate one that has
    import warnings
    from pathlib import Path

    from nc3d.testing import fuzz

    blob = (Path(__file__).parent / "golden" / "volume-ldct-zshift.nc3d").read_bytes()
    headers = [container.unpack(blob).header]
    outcomes = {"ok": 0, "format_error": 0}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        for i in range(200):
            outcomes[fuzz.decode_checked(fuzz.mutate(blob, 1, i, headers=headers))] += 1
    assert outcomes["format_error"] > 50 and outcomes["ok"] > 0, outcomes


# ----------------------------------------------------------------------------------------------
# Context-coded AC (format 2: header ac = "ctx")
# ----------------------------------------------------------------------------------------------


def test_new_files_are_context_coded_and_old_model_files_still_decode(codec, head):
    blob = codec.encode(head, quality=12)
    c = container.unpack(blob)
    # "format" is the codec's newest header layout, written on every file (DCT ones too)
    assert c.header["ac"] == "ctx" and c.header["format"] == 3
    new = codec.decode(blob)
    # the same quantizer through the band × activity coder (the v1 model, embedded): no "ac" key
    old = codec.encode(head, quality=12, model=str(ldct.v1_ldct_path()))
    assert "ac" not in container.unpack(old).header
    assert _psnr(head, codec.decode(old)) > 35 and _psnr(head, new) > 35


def test_context_coder_round_trips_escapes_and_shifts():
    from nc3d.codecs.volume import volume_ctx

    model, _ = learned._load("default")
    rng = np.random.default_rng(3)
    q = np.rint(rng.laplace(size=(40, 512)) * rng.uniform(0.1, 30, (40, 1))).astype(np.int32)
    q[::5] = 0  # some flat blocks
    q[1, 7] = 5000  # a far escape
    z = ldct.block_activity(q)
    shift = np.zeros(22, np.int64)
    shift[5:] = -7
    for s in (None, shift):
        words, esc = volume_ctx.encode_ac_ctx(q, z, model, s)
        assert len(esc) > 8
        out = volume_ctx.decode_ac_ctx(words, esc, z, model, bound=10**6, shift=s)
        assert np.array_equal(out, q[:, 1:])
        with pytest.raises(FormatError):
            volume_ctx.decode_ac_ctx(words, esc, z, model, bound=4000, shift=s)  # 5000 is out of range
    other = shift.copy()
    other[1:] = 3
    with pytest.raises(FormatError):  # another shift does not decode them
        volume_ctx.decode_ac_ctx(words, esc, z, model, bound=10**6, shift=other)


def test_context_table_fit_is_integer_and_choose_shift_is_zero_without_active_blocks():
    from nc3d.codecs.volume import volume_ctx

    table = volume_ctx.fit_ctx_table(np.zeros((21, 48, 9, 16)))
    assert table.shape == volume_ctx.CTX_SHAPE and table.dtype == np.uint16 and table.min() >= 1
    model, _ = learned._load("default")
    q = np.zeros((4, 512), np.int32)
    shift, saved = volume_ctx.choose_zshift_ctx(q, ldct.block_activity(q), model)
    assert shift.shape == (22,) and not shift.any() and saved == 0


def test_context_model_fit_save_load_and_malformed_table(tmp_path, codec, head):
    x = head.astype(np.float32) / 255
    model = ldct.fit_model([(x, 0.02), (x, 0.08)], tilt=1.0, dead_zone=0.15)
    model["deblock"] = ldct.fit_deblock(model, [x], (8.0,))
    ldct.save_ldct_model(model, tmp_path / "m.npz")
    loaded, _ = ldct.load_ldct_model(tmp_path / "m.npz")
    assert np.array_equal(loaded["ctx"], model["ctx"])
    blob = codec.encode(head, quality=10, model=str(tmp_path / "m.npz"))
    assert container.unpack(blob).header["ac"] == "ctx" and _psnr(head, codec.decode(blob)) > 32
    ldct.save_ldct_model(model | {"ctx": model["ctx"][:, :8]}, tmp_path / "bad.npz")
    with pytest.raises(InputError):
        ldct.load_ldct_model(tmp_path / "bad.npz")


@pytest.mark.parametrize(
    "change",
    [
        {"header": {"ac": "other"}},
        {"header": {"ac": 1}},
        {"header": {"zshift": [40] * 21}},
        {"sections": {"esc": b"\x01"}},
    ],
)
def test_hostile_context_files_raise_format_error(codec, head, change):
    blob = codec.encode(head, quality=10)
    with pytest.raises(FormatError):
        codec.decode(_repack(blob, **change))


def test_a_context_file_without_its_key_or_model_is_refused(codec, head, tmp_path):
    blob = codec.encode(head, quality=10)
    c = container.unpack(blob)
    header = {k: v for k, v in c.header.items() if k != "ac"}
    with pytest.raises(FormatError):  # read as a band × activity file: the shipped v1 model's digest differs
        codec.decode(container.pack(container.Container(c.codec, header, c.sections)))
    v1 = ldct.v1_ldct_path().read_bytes()
    embedded = {**c.header, "model": "embedded"}
    with pytest.raises(FormatError):  # context-coded, but the embedded model has no context table
        codec.decode(container.pack(container.Container(c.codec, embedded, {**c.sections, "model": v1})))
