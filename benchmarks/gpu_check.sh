#!/usr/bin/env bash
# GPU measurements of the one training engine (ncf_helpers.training.fit, through
# benchmarks.gpu_recipe and the command line ncf_helpers.cli) at MovieLens shapes (the CPU
# numbers are in data/measured/scale.csv; the GPU results and how they were run are in
# benchmarks/results/gpu/gpu.md).
#
# Run it from a checkout of the code to measure (the repository root, or a snapshot of
# it made with `git archive HEAD ncf_helpers benchmarks | tar -x -C DIR`):
#
#     cd DIR && OUT=/tmp/gpu_out bash path/to/benchmarks/gpu_check.sh 2>&1 | tee log.txt
#
# It uses the package's own CLI and functions only:
#   1. NVIDIA's NCF recipe (benchmarks/gpu_recipe.py: NeuMF 64 factors, MLP 256-256-128-64,
#      batch 2**20 samples, 4 negatives, NVIDIA's Adam) on ml-20m if data/ml-20m is there,
#      else on synthetic data of its shape: TF32, then bf16 autocast, each 3 timed epochs
#      and one probe epoch (GPU busy time, host reads, synchronising calls) -> recipe.csv
#   2. synthetic data of each shape (benchmarks.scale.dataset: seed 0, cached in build/scale)
#   3. training throughput at the main shape (ml-25m), NeuMF, 4 negatives per positive,
#      global batch 32768 positives (163,840 samples), the arguments of benchmarks/scale.py,
#      for 2 full epochs (epoch 1 holds the CUDA warm-up, epoch 2 is the steady state),
#      through benchmarks.train_job (ncf_helpers.cli plus each process's peak memory):
#        torchrun --standalone --nproc_per_node=1 (NCCL on a GPU), fp32, then --amp (bf16),
#        then the same without torchrun (plain python -m, no DDP)
#   4. full ranking (chunked, all movies) of an untrained NeuMF at the main shape on the
#      device, as benchmarks/scale.py's ranking_row does on the CPU
#   5. the size sweep (1 process, plain python -m, as scale.py --sweep), if time is left
# Everything it writes goes to $OUT: recipe.csv (one row per precision), train.csv (one
# row per run and epoch), ranking.csv, env.txt, smi.csv (nvidia-smi samples every 500 ms).
#
# Knobs (environment): PY (python3), DEVICE (cuda), MAIN (ml-25m), SWEEP
# ("ml-1m ml-10m ml-32m"), EPOCHS (2), RANK_CASES ("512:256:65536 4096:256:65536
# 4096:1024:1048576" = users:chunk users:pairs per forward), BUDGET_S (330: the sweep is
# skipped once this many seconds have passed), RECIPE_ARGS (extra flags for
# benchmarks.gpu_recipe, e.g. "--epochs 20 --validate" for the time to HR@10 0.959).
set -u
OUT=${OUT:-/tmp/gpu_out}
PY=${PY:-python3}
DEVICE=${DEVICE:-cuda}
MAIN=${MAIN:-ml-25m}
SWEEP=${SWEEP-ml-1m ml-10m ml-32m}  # SWEEP="" runs no sweep
EPOCHS=${EPOCHS:-2}
RANK_CASES=${RANK_CASES:-512:256:65536 4096:256:65536 4096:1024:1048576}
BUDGET_S=${BUDGET_S:-330}
RECIPE_ARGS=${RECIPE_ARGS:-}
RUNS=${RUNS:-/tmp/gpu_check_runs}
export PYTHONPATH=$PWD PYTHONUNBUFFERED=1 NCF_PROGRESS=0 OMP_NUM_THREADS=1
mkdir -p "$OUT" "$RUNS"
SECONDS=0
stamp() { echo "=== [$(date +%H:%M:%S), ${SECONDS}s] $*"; }

stamp "environment"
{
  echo "commit: $(cat COMMIT 2>/dev/null || git rev-parse HEAD 2>/dev/null || echo unknown)"
  echo "host: $(uname -a)"
  echo "cpu: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2) x $(nproc --all)"
  nvidia-smi 2>&1 || echo "no nvidia-smi"
  $PY -c "import torch, numpy, pandas; print('torch', torch.__version__, 'cuda', torch.version.cuda,
'available', torch.cuda.is_available(), 'nccl', torch.cuda.nccl.version() if torch.cuda.is_available() else None,
'device', torch.cuda.get_device_name(0) if torch.cuda.is_available() else 'cpu', 'numpy', numpy.__version__,
'pandas', pandas.__version__)"
} 2>&1 | tee "$OUT/env.txt"

SMI_PID=
if command -v nvidia-smi >/dev/null && [ "$DEVICE" = cuda ]; then
  nvidia-smi --query-gpu=timestamp,memory.used,utilization.gpu,power.draw,clocks.sm \
    --format=csv -lms 500 > "$OUT/smi.csv" 2>&1 &
  SMI_PID=$!
fi

stamp "NVIDIA's NCF recipe on $DEVICE: TF32, then AMP (bf16)"
timeout 400 $PY -m benchmarks.gpu_recipe --device "$DEVICE" --precision tf32 amp \
  --output "$OUT/recipe.csv" $RECIPE_ARGS 2>&1
echo "--- recipe rc=$?"

stamp "synthetic data: $MAIN $SWEEP"
$PY - "$MAIN" $SWEEP <<'EOF'
import sys, time
from benchmarks.scale import dataset
for shape in sys.argv[1:]:
    t = time.perf_counter()
    print(shape, dataset(shape), f"{time.perf_counter() - t:.1f} s", flush=True)
EOF

data_of() { echo "build/scale/${1//\//_}.npz"; }
TRAIN_ARGS="--task implicit --negatives 4 --model NeuMF --epochs $EPOCHS --batch-size 163840 --lr 0.003 --test-fraction 0 --val-fraction 0.0005 --val-users 200 --seed 0 --device $DEVICE"
echo "name,shape,launcher,amp,rc,wall_s,command" > "$RUNS/index.csv"

# train NAME SHAPE LAUNCHER(torchrun|python) [extra args]
train() {
  local name=$1 shape=$2 launcher=$3; shift 3
  local cmd
  if [ "$launcher" = torchrun ]; then
    cmd="$PY -m torch.distributed.run --standalone --nproc_per_node=1 -m benchmarks.train_job"
  else
    cmd="$PY -m benchmarks.train_job"
  fi
  cmd="$cmd --data $(data_of "$shape") $TRAIN_ARGS $* --out $RUNS/$name"
  stamp "train $name: $cmd"
  local t0=$SECONDS
  timeout 100 $cmd 2>&1
  local rc=$?
  echo "--- rc=$rc, $((SECONDS - t0)) s"
  local amp=0; case " $* " in *" --amp "*) amp=1;; esac
  echo "$name,$shape,$launcher,$amp,$rc,$((SECONDS - t0)),\"${cmd//$RUNS/RUNS}\"" >> "$RUNS/index.csv"
}

train main_fp32 "$MAIN" torchrun
train main_amp "$MAIN" torchrun --amp

stamp "full ranking at $MAIN on $DEVICE: $RANK_CASES"
timeout 120 $PY - "$(data_of "$MAIN")" "$DEVICE" "$OUT/ranking.csv" $RANK_CASES <<'EOF' 2>&1
# scale.py's ranking_row, with the model and its scoring on the device, and the time
# inside the scorer counted apart.
import csv, sys, time
import numpy as np, torch
from ncf_helpers.cli import load_arrays
from ncf_helpers.metrics import full_ranking_metrics
from ncf_helpers.models import NeuMF
from ncf_helpers.utils import peak_memory_mib, reset_peak_memory

data, device, out, cases = sys.argv[1], torch.device(sys.argv[2]), sys.argv[3], sys.argv[4:]
torch.set_num_threads(1)
users, items, _, n_users, n_items, _ = load_arrays(data)
last = np.r_[users[1:] != users[:-1], True]
torch.manual_seed(0)
model = NeuMF(n_users, n_items, head="logits").to(device).eval()
sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
rows = []
for n, case in enumerate(["64:64:65536", *cases]):  # case 0 warms up, not reported
    n_test, chunk, per_forward = (int(v) for v in case.split(":"))
    test_users = np.random.default_rng(0).choice(n_users, n_test, replace=False)
    is_test = last & np.isin(users, test_users)
    in_scorer = [0.0]

    def score(u, i):  # the model's own predict loop, with the forward size as the knob
        t = time.perf_counter()
        s = model._predict(u, i, batch_size=per_forward)
        sync()
        in_scorer[0] += time.perf_counter() - t
        return s

    sync()
    reset_peak_memory(device)
    start = time.perf_counter()
    m = full_ranking_metrics(score, users[is_test], items[is_test], users[~is_test],
                             items[~is_test], n_items, k=10, chunk_size=chunk)
    sync()
    seconds = time.perf_counter() - start
    if n == 0:
        continue
    row = {"device": str(device), "users_ranked": m["n_users"], "all_users": n_users,
           "movies": n_items, "chunk_users": chunk, "pairs_per_forward": per_forward,
           "seconds": round(seconds, 3), "seconds_in_scorer": round(in_scorer[0], 3),
           "pairs_per_s": round(m["n_users"] * n_items / seconds),
           "all_users_seconds": round(seconds / m["n_users"] * n_users, 1),
           "peak_device_mib": round(peak_memory_mib(device)) if device.type == "cuda" else "",
           "hr": round(m["hr"], 5)}
    print(row, flush=True)
    rows.append(row)
with open(out, "w", newline="") as f:
    w = csv.DictWriter(f, fieldnames=list(rows[0]))
    w.writeheader()
    w.writerows(rows)
EOF
echo "--- ranking rc=$?"

train main_fp32_plain "$MAIN" python
for shape in $SWEEP; do
  if [ "$SECONDS" -gt "$BUDGET_S" ]; then stamp "skipping sweep shape $shape (time budget)"; continue; fi
  train "sweep_${shape//[\/-]/_}" "$shape" python
done

stamp "collecting"
$PY - "$RUNS" "$OUT/train.csv" <<'EOF'
import csv, json, sys
from pathlib import Path
import pandas as pd
runs, out = Path(sys.argv[1]), sys.argv[2]
index = pd.read_csv(runs / "index.csv")
batch = 163840  # TRAIN_ARGS' --batch-size: rows per step, negatives included
frames = []
for _, run in index.iterrows():
    hist = runs / run["name"] / "history.csv"
    if not hist.exists():
        frames.append(pd.DataFrame([run.to_dict()]))
        continue
    h = pd.read_csv(hist)
    summary = json.loads((runs / run["name"] / "summary.json").read_text())
    peaks = [json.loads(p.read_text()) for p in (runs / run["name"]).glob("peak_rank*.json")]
    for key, value in run.items():
        h[key] = value
    h["samples_per_s"] = h["samples"] / h["train_seconds"]  # the loop only, no validation
    # the whole process's allocator peak (the CLI does not reset it per epoch)
    h["peak_mib_max_rank"] = max((p["peak_mib"] for p in peaks), default=float("nan"))
    h["steps"] = -(-h["samples"] // batch)
    h["steps_per_epoch"] = -(-5 * summary["train_positives"] // batch)
    h["device"] = summary["device"]
    h["train_positives"] = summary["train_positives"]
    h["n_users"], h["n_items"] = summary["n_users"], summary["n_items"]
    frames.append(h)
table = pd.concat(frames, ignore_index=True)
first = ["name", "shape", "launcher", "amp", "epoch", "samples", "train_seconds", "samples_per_s",
         "peak_mib_max_rank", "steps", "steps_per_epoch", "train_loss", "val_ndcg", "rc", "wall_s"]
table = table[[c for c in first if c in table] + [c for c in table if c not in first]]
table.to_csv(out, index=False)
with pd.option_context("display.width", 250, "display.max_columns", 20):
    print(table[[c for c in first if c in table]].to_string(index=False))
EOF
[ -n "$SMI_PID" ] && kill "$SMI_PID" 2>/dev/null
stamp "done"
