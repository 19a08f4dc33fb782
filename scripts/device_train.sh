#!/usr/bin/env bash
# Build the corpus and train the default model on a lent GPU machine, in ONE device call.
#
#   here:   python scripts/device_bundle.py --corpus /work/data/corpus      # makes .device/
#   device: run(command="bash scripts/device_train.sh", carry=[".device"], timeout_s=600)
#   here:   mkdir -p /work/runs/gpu1 && cat <files_at>/run.tar.part-* | tar -x --strip-components=1 -C /work/runs/gpu1
#           python scripts/ship_default_model.py --run /work/runs/gpu1 --corpus /work/data/corpus
#
# The machine has PyTorch and a GPU but no TTS, no network and (as lent here) ~13 usable
# minutes, so the budget is fixed up front (minutes, env-overridable): PROBE_SYNTH_MIN + SYNTH_MIN
# of corpus synthesis on every core, then TRAIN_MIN of training warm-started from the shipped
# model (~9 minutes in all). The cosine schedule must end inside TRAIN_MIN, so a 40-step probe
# measures steps/s first; it runs after the first slice of synthesis, so a broken GPU path
# fails within ~2 minutes, leaving device time to fix it and call again. STEPS=N skips the
# probe (a rate known from an earlier call); BENCH=0 skips the GPU forward benchmark.
# Everything that comes back is under $OUT (at most 8 files of 16 MiB): the run's log,
# recipe and its best/ checkpoint (float16; the latest weights if no eval finished; swa/ too when
# SETS turns weight averaging on), as a tar split into 15 MB parts: the run directory minus
# last.pt, ready for ship_default_model.py.
set -euo pipefail
PROBE_SYNTH_MIN=${PROBE_SYNTH_MIN:-0.4}
SYNTH_MIN=${SYNTH_MIN:-2}
TRAIN_MIN=${TRAIN_MIN:-4}
DEVICE=${DEVICE:-cuda}
PYTHON=${PYTHON:-python3}
BUNDLE=${BUNDLE:-.device}
WORK=${WORK:-/tmp/sewstream-device}
OUT=${OUT:-$WORK/out}
WORKERS=${WORKERS:-}  # batch-building processes (default: the trainer's, one per core less one on a GPU)
# recipe for the GPU: 4x the CPU batch (the GPU is idle at 40 s), the warm-start lr
SETS=${SETS:---set batch_seconds=160 --set lr=0.0005 --set checkpoint_every_s=60}
say() { echo "[$(date +%T)] $*"; }

[ -f "$BUNDLE/tts.tar.xz" ] || { echo "no $BUNDLE/tts.tar.xz: run scripts/device_bundle.py here first" >&2; exit 2; }
mkdir -p "$WORK/tts" "$WORK/corpus" "$OUT"
exec > >(tee "$OUT/console.log") 2>&1
say "unpacking TTS engines and wheels"
tar -C "$WORK/tts" -xJf "$BUNDLE/tts.tar.xz"
# tts.py lists festival voices in its standard library dir, espeak-ng and tts.py find mbrola
# databases under /usr/share/mbrola, pico2wave its languages under /usr/share/pico/lang (built
# in): link ours there, each only if the bundle has it and the machine does not
for d in festival mbrola pico; do
  [ -e "/usr/share/$d" ] || [ ! -d "$WORK/tts/$d" ] || ln -s "$WORK/tts/$d" "/usr/share/$d"
done
export PATH="$WORK/tts/bin:$PATH"
if [ "${WHEELS:-1}" = 1 ] && [ -d "$BUNDLE/wheels" ]; then  # WHEELS=0: a local test on another Python
  "$PYTHON" -m pip install -q --no-index --no-deps --no-compile --target "$WORK/site" "$BUNDLE"/wheels/*.whl
  export PYTHONPATH="$WORK/site:$PWD${PYTHONPATH:+:$PYTHONPATH}"
else
  export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
fi
export PYTHONUNBUFFERED=1
# fail fast (before minutes are spent) if an engine does not run from the bundle
WORK="$WORK" "$PYTHON" - <<'EOF'
import os
from sewstream.train import tts
voices = [tts.Voice("espeak-ng", "en-us"), tts.Voice("flite", "slt"), tts.Voice("festival", "kal_diphone")]
if os.path.exists(os.path.join(os.environ["WORK"], "tts", "mbrola")):
    voices.append(tts.Voice("mbrola", tts.mbrola_voices()[0]))
if os.path.exists(os.path.join(os.environ["WORK"], "tts", "pico")):
    voices.append(tts.Voice("pico", "en-US"))
for voice in voices:
    for attempt in range(3):  # espeak-ng's pipe to mbrola fails now and then on a busy machine
        try:
            audio = tts.synthesize(voice, "testing the engine")
            break
        except tts.TTSError as e:
            print(f"{voice.key}: {e}" + ("; trying again" if attempt < 2 else ""))
    else:
        raise SystemExit(f"{voice.key} does not run from the bundle")
    assert len(audio) > 8000, voice
    print(f"{voice.engine}: {len(audio) / 16000:.2f} s of audio")
EOF
nvidia-smi -L 2>/dev/null || true
cp "$BUNDLE/corpus/config.json" "$WORK/corpus/"
[ -f "$WORK/corpus/sentences.json.gz" ] || xz -dc "$BUNDLE/corpus/sentences.json.xz" | gzip -1 >"$WORK/corpus/sentences.json.gz"
# the bundled corpus's own engine mix (the three free engines, or corpus6's five)
WEIGHTS=$("$PYTHON" -c "import json; w = json.load(open('$BUNDLE/corpus/config.json'))['config']['engine_weights']
print(','.join(f'{k}={v}' for k, v in w.items()))")
corpus() {  # resumable: each call continues the same corpus for $1 more minutes
  "$PYTHON" scripts/build_corpus.py --out "$WORK/corpus" --hours 60 --test-utts 400 --seed 0 \
    --engine-weights "$WEIGHTS" --workers "$(nproc)" --minutes "$1" --eval-dir /nonexistent >/dev/null
}
say "corpus, first $PROBE_SYNTH_MIN min on $(nproc) cores (the test split, some training data)"
corpus "$PROBE_SYNTH_MIN"

if [ -z "${STEPS:-}" ]; then  # STEPS=N: the rate is known from an earlier call; no probe
  # the GPU path fails here, within ~2 minutes, if it fails at all
  say "probe: steps per second on $DEVICE"
  rm -rf "$WORK/probe"
  # shellcheck disable=SC2086
  "$PYTHON" scripts/train_default_model.py --run "$WORK/probe" --corpus "$WORK/corpus" --device "$DEVICE" \
    ${WORKERS:+--workers "$WORKERS"} --init-from sewstream/assets/default-model $SETS --set log_every=10 --set eval_every=100000 --steps 40 \
    >"$WORK/probe.log" 2>&1 || { cat "$WORK/probe.log"; exit 1; }
  STEPS=$("$PYTHON" -c "
import json
rows = [json.loads(l) for l in open('$WORK/probe/log.jsonl') if '\"loss\"' in l]
a, b = rows[-2], rows[-1]  # the steady state: the first rows wait for 15 workers' first batches
rate = (b['step'] - a['step']) / (b['time'] - a['time'])
print(int(rate * 60 * $TRAIN_MIN * 0.85))")  # 15% for evals, saves and start-up
  tail -3 "$WORK/probe.log"
fi

if [ "${DEVICE%%:*}" = cuda ] && [ "${BENCH:-1}" = 1 ]; then  # the GPU idles while the corpus grows: measure the model there meanwhile
  say "background: forward speed and parity, ours vs transformers, on $DEVICE -> bench_cuda.txt"
  timeout 150 "$PYTHON" scripts/bench_model.py --device "$DEVICE" --quick >"$OUT/bench_cuda.txt" 2>&1 &
  bench=$!
fi
say "corpus, $SYNTH_MIN min more"
corpus "$SYNTH_MIN"
# its pid only: a bare `wait` also waits for the `tee` of the log above, which never ends
[ -z "${bench:-}" ] || wait "$bench" || true  # the benchmark is a side measurement: its failure is in bench_cuda.txt
"$PYTHON" -c "
from sewstream.train.corpus import CorpusReader
for s in ('train', 'test'): print(s, CorpusReader('$WORK/corpus', s).summary())"

say "training: $STEPS steps (~$TRAIN_MIN min)"
# shellcheck disable=SC2086
"$PYTHON" scripts/train_default_model.py --run "$WORK/run" --corpus "$WORK/corpus" --device "$DEVICE" \
  ${WORKERS:+--workers "$WORKERS"} --init-from sewstream/assets/default-model $SETS --set total_steps="$STEPS" \
  --set eval_every=$(( (STEPS + 3) / 4 )) --minutes "$(awk "BEGIN {print $TRAIN_MIN + 0.5}")" || say "training stopped early"

say "packing the run"
if [ ! -f "$WORK/run/best/model.safetensors" ]; then  # no eval finished: the latest weights instead
  "$PYTHON" scripts/train_default_model.py --run "$WORK/run" --export "$WORK/run/best"
fi
rm -f "$WORK/run/last.pt"  # optimizer state: 3x the model, too big to return
# best/ and (with weight averaging) swa/ travel in float16, as the package stores them: two
# float32 exports (~80 MB) would overrun the 64 MiB that can come back
"$PYTHON" -c "
import sys, torch
from pathlib import Path
from sewstream.model import load_model
from sewstream.train.trainer import export
for d in sys.argv[1:]:
    if (Path(d) / 'model.safetensors').is_file():
        export(load_model(d), d, dtype=torch.float16)
" "$WORK/run/best" "$WORK/run/swa"
tar -C "$WORK" -cf - run | split -b 15000000 - "$OUT/run.tar.part-"
ls -la "$OUT"
say "done"
