#!/bin/bash
# Rebuilds benchmarks/report/: the full `nc3d bench` run behind BENCHMARKS.md's "Every codec against
# the baselines". Resumable: rows already in RESULTS_DIR/results.jsonl are kept, so on a checkout of
# the repository (every row committed) it only re-imports, re-encodes the few files the renders
# draw (encoded files are not in git) and rewrites the report with its interactive views
# (report_views/: the same files, each beside its original). Cheap codecs first, so that an
# interrupted from-scratch run has all of them.
#
# Two codecs are imported from their own scripts' runs instead of repeated (import_results): the
# implicit codec at its defaults (benchmarks/results/meshes/implicit_defaults.jsonl, 27 CPU-minutes
# of training) and the shapeset codec's runs (tens of CPU-minutes each): the previous defaults'
# six (shapeset_64k_steps_8_fine_channels.jsonl) and today's three (shapeset_rate_distortion.jsonl).
# After regenerating those files, run this again with REIMPORT=1 to supersede the imported rows.
#
#   benchmarks/full_bench.sh [RESULTS_DIR]            # default benchmarks/report
#   NC3D_DATA=/work/shared/data PY=/work/main/.venv/bin/python NC3D=/work/main/.venv/bin/nc3d JOBS=2 benchmarks/full_bench.sh
#
# NC3D_DATA: the folder holding meshes/ and volumes/ (default ../shared/data next to the repository);
# PY, NC3D: the Python and the nc3d command of an environment with nc3d installed (default .venv/);
# JOBS: nc3d bench's worker processes (default 1). Time from an empty RESULTS_DIR: BENCHMARKS.md.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${1:-benchmarks/report}
NC3D=${NC3D:-.venv/bin/nc3d}
PY=${PY:-.venv/bin/python}
JOBS=${JOBS:-1}
export NC3D_DATA=${NC3D_DATA:-../shared/data}
MESHES=$NC3D_DATA/meshes
VOLUMES=$NC3D_DATA/volumes
RESULTS=benchmarks/results
# the inputs the report draws: spot, named; for volumes the one nc3d report picks itself (the
# median-sized volume that every codec decoded)
RENDER_MESH=common-3d-test-models/spot.obj
RENDER_VOLUME=vtk-data/carotid.npy

mkdir -p "$OUT"
# nc3d bench rewrites machine.json even when it has no row to run: keep the machine the rows were
# measured on unless this run adds rows
kept=$(mktemp)
trap 'rm -f "$kept"' EXIT
[ -f "$OUT/machine.json" ] && cp "$OUT/machine.json" "$kept"
rows() { if [ -f "$OUT/results.jsonl" ]; then wc -l < "$OUT/results.jsonl"; else echo 0; fi; }
before=$(rows)
bench() { $NC3D bench "$@" --jobs "$JOBS" --no-report -o "$OUT"; }

bench "$MESHES" --codecs draco,decimate,decimate-draco,ply-lzma
bench "$VOLUMES" --codecs dct,zfp,sperr,sz3,volume-zlib,volume-lzma,volume-conv
bench "$MESHES" --codecs sdf-grid
bench "$VOLUMES" --codecs volume,bevec
bench "$MESHES" --codecs quant-deepsdf
if [ "$(rows)" = "$before" ] && [ -s "$kept" ]; then cp "$kept" "$OUT/machine.json"; fi

$PY -m benchmarks.import_results implicit $RESULTS/meshes/implicit_defaults.jsonl "$MESHES" "$OUT" \
    --encode $RENDER_MESH ${REIMPORT:+--replace}
$PY -m benchmarks.import_results shapeset $RESULTS/meshes/shapeset_64k_steps_8_fine_channels.jsonl "$MESHES" "$OUT" \
    ${REIMPORT:+--replace}
$PY -m benchmarks.import_results shapeset $RESULTS/meshes/shapeset_rate_distortion.jsonl "$MESHES" "$OUT" \
    ${REIMPORT:+--replace}
$PY -m benchmarks.render_files "$OUT" $RENDER_MESH $RENDER_VOLUME
# the implicit codec's contact sheet (bench_implicit --contact-sheet), shown by the report
cp $RESULTS/meshes/implicit_contact_sheet.png "$OUT/contact_sheet_implicit.png"
$NC3D report "$OUT" --render-input $RENDER_MESH
