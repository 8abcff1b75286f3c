#!/usr/bin/env bash
# GPU checks: the embedder benchmark trained in bf16, and the quickstart recipe trained by
# two data-parallel processes. On a machine without CUDA it says so and exits 0.
#
#   bash benchmarks/gpu.sh            # after `make setup` (or with ragdistill installed)
#   OUT=runs/gpu bash benchmarks/gpu.sh
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
OUT=${OUT:-runs/gpu}
gpus=$("$PY" -c "import torch; print(torch.cuda.device_count() if torch.cuda.is_available() else 0)")
if [ "$gpus" = "0" ]; then
  echo "no CUDA device here: nothing to run (this script checks the GPU paths)"
  exit 0
fi
mkdir -p "$OUT"
echo "== $gpus CUDA device(s): $("$PY" -c 'import torch; print(torch.cuda.get_device_name(0))')"

echo "== embedder benchmark, bf16 training (tables printed, BENCHMARKS.md left as is)"
/usr/bin/time -f "%e s" "$PY" benchmarks/bench_embedder.py --datasets tau2 --mixed-precision bf16 \
  --out "$OUT/bench-embedder-bf16" --no-write

echo "== quickstart recipe, $(( gpus > 1 ? 2 : 1 )) data-parallel process(es)"
"$PY" - "$OUT" <<'PYEOF'
import sys
from importlib import resources
from pathlib import Path

out = Path(sys.argv[1])
text = resources.files("ragdistill.stages.embedder").joinpath("quickstart.toml").read_text()
text = text.replace('output = "runs/quickstart"', f'output = "{out / "ddp"}"')
text = text.replace("[train]\n", '[train]\nmixed_precision = "bf16"\n')
(out / "ddp.toml").write_text(text)
PYEOF
procs=$(( gpus > 1 ? 2 : 1 ))
/usr/bin/time -f "%e s" "$PY" -m ragdistill distill --processes "$procs" "$OUT/ddp.toml" --no-ab
"$PY" -c "import sys; from sentence_transformers import SentenceTransformer as S; \
m = S(sys.argv[1]); print('artifact loads:', m.encode(['a test']).shape)" "$OUT/ddp/student"
