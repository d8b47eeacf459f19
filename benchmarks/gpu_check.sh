#!/usr/bin/env bash
# The --device cuda paths on a real GPU, in one go (CI has no GPU, so this is run by hand where one is):
#   1. tests/test_cuda.py: each application on the GPU against the CPU run of the same seed, a GPU run
#      killed and resumed on the CPU, a GPU checkpoint evaluated on the CPU;
#   2. `dlapps demo --device cuda`: every application end to end, timed;
#   3. the study's DANN network (`--preset study`) for 3 epochs on the embedded digits: GPU, 1 CPU thread and
#      all CPU threads, so the per-step times sit side by side (same script, same machine).
# PARTS picks some of them (default: "tests demo timing"). Writes logs and metrics under $OUT (default:
# runs/gpu-check). Needs the package importable (pip install -e .
# or PYTHONPATH=src) and DLAPPS_OFFLINE=1 where nothing can be downloaded.
set -u -o pipefail
OUT=${OUT:-runs/gpu-check}
mkdir -p "$OUT"
export PYTHONUNBUFFERED=1 MPLBACKEND=Agg DLAPPS_CACHE=${DLAPPS_CACHE:-/tmp/dlapps-gpu-cache}
W=$(mktemp -d)
PARTS=${PARTS:-tests demo timing}

nvidia-smi -L 2>&1 | tee "$OUT/device.txt"
python3 -c "import torch, torchvision; print('torch', torch.__version__, 'torchvision', torchvision.__version__,
'cuda', torch.version.cuda, torch.cuda.get_device_name() if torch.cuda.is_available() else 'NO GPU')" \
  | tee -a "$OUT/device.txt"

if [[ $PARTS == *tests* ]]; then
python3 -m pytest tests/test_cuda.py -p no:xdist -p no:cacheprovider -o addopts="" -q -rs --durations=0 2>&1 \
  | tee "$OUT/test_cuda.log"
echo "test_cuda exit ${PIPESTATUS[0]}" | tee -a "$OUT/test_cuda.log"
fi

if [[ $PARTS == *demo* ]]; then
SECONDS=0
python3 -m dlapps demo --device cuda --out "$W/demo" --quiet > "$OUT/demo.log" 2>&1
echo "demo exit $? in ${SECONDS} s" | tee -a "$OUT/demo.log"
python3 - "$W/demo" > "$OUT/demo_metrics.json" <<'EOF'
import json, sys
from pathlib import Path
print(json.dumps({p.parent.name: {"device": json.loads((p.parent / "config.json").read_text())["device"],
                                  **{k: v for k, v in json.loads(p.read_text()).items() if k != "history"}}
                  for p in sorted(Path(sys.argv[1]).glob("*/metrics.json"))}, indent=1, default=str))
EOF
fi

[[ $PARTS == *timing* ]] || exit 0
for run in "cuda 0" "cpu 1" "cpu 0"; do
  set -- $run
  python3 -m dlapps adapt dann --preset study --data-source embedded --epochs 3 --tsne-points 0 --device "$1" \
    --threads "$2" --out "$W/dann-$1-$2" --quiet >> "$OUT/dann_timing.log" 2>&1
  python3 -c "import json,sys; m=json.load(open(sys.argv[1])); print(sys.argv[2], 'threads', sys.argv[3],
'target', m['target']['class_acc'], 'timing', json.dumps(m.get('timing')))" \
    "$W/dann-$1-$2/metrics.json" "$1" "$2" | tee -a "$OUT/dann_timing.log"
done
