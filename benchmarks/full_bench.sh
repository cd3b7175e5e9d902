#!/bin/bash
# The full `nc3d bench` run behind BENCHMARKS.md's "nc3d bench" section (resumable: run it again
# to resume; rows already in RESULTS_DIR/results.jsonl are kept). Cheap codecs first, so that an
# interrupted run has all of them. Two codecs are imported from their own scripts' runs instead of
# repeated (import_results.py): the implicit codec's default-setting run (27 CPU-minutes,
# benchmarks/results/implicit.jsonl) and the shapeset codec's sizes (tens of CPU-minutes each,
# bench_shapeset.py run --keep, benchmarks/results/shapeset_s5.jsonl). After regenerating those
# files, run this script again with REIMPORT=1 to supersede the imported rows.
#
#   benchmarks/full_bench.sh [RESULTS_DIR]        # default benchmarks/report
#   NC3D=".venv/bin/nc3d" PY=".venv/bin/python" JOBS=2 benchmarks/full_bench.sh
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${1:-benchmarks/report}
NC3D=${NC3D:-.venv/bin/nc3d}
PY=${PY:-.venv/bin/python}
JOBS=${JOBS:-1}
MESHES=../shared/data/meshes
VOLUMES=../shared/data/volumes
bench() { $NC3D bench "$@" --jobs "$JOBS" --no-report -o "$OUT"; }

bench $MESHES --codecs draco,decimate,decimate-draco,ply-lzma
bench $VOLUMES --codecs dct,zfp,volume-zlib,volume-lzma
bench $MESHES --codecs sdf-grid
bench $VOLUMES --codecs volume,bevec
bench $MESHES --codecs quant-deepsdf
$PY benchmarks/import_results.py shapeset benchmarks/results/shapeset_s5.jsonl $MESHES "$OUT" ${REIMPORT:+--replace}
$PY benchmarks/import_results.py implicit benchmarks/results/implicit.jsonl $MESHES "$OUT" \
    --encode common-3d-test-models/spot.obj ${REIMPORT:+--replace}
$NC3D report "$OUT"
