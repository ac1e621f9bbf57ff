#!/usr/bin/env bash
# The exact commands of issue 8's GPU calls, one stage per argument, run from the repository root
# on the lent machine (JAX, no Keras: the wheels come in .carry/, built by prepare_gpu_carry.py).
#
#   bash benchmarks/gpu_session.sh probe train:starry:30 train:starry_full:30:1.0:checkpoints/styles/starry.jpg compare:starry
#
# Stages:
#   check                        gpu_check_precision.py: is the jitted VGG16 finite and close to
#                                float32 in mixed_bfloat16 here? If not, later train stages use
#                                float32 (JAX 0.11.2's CPU backend gives inf from relu2_2 on)
#   sweep                        slow-path contact sheets, 5 paintings x --weights, 2 photos, 384 px
#   probe                        gpu_probe.py: compiled step alone, synthetic data on the device
#                                (batch $PROBE_BATCHES, default 16)
#   rate:PRECISION:BATCH[:WIDTH] train.py's own images/s: $RATE_STEPS steps on starry, model discarded
#   speed                        gpu_stylize_speed.py: stylizing, batch 1, 256..4096 px
#   train:NAME:STYLE_WEIGHT[:WIDTH[:PAINTING]]
#                                train.py on .carry/photos, mixed_bfloat16, batch $BATCH,
#                                $STEPS steps (160,000 images at batch 16), width 0.5 (the
#                                shipped width, README), painting checkpoints/styles/NAME.jpg
#                                (or PAINTING's)
#   compare:NAME                 gpu_slow_path.py compare: the model vs the slow path, 10 photos, 512 px
# Everything worth keeping lands in $OUT (log.txt, models, JSON lines, one tar of the rest),
# stage by stage: a call cut off at its limit still returns every finished stage's files. A stage
# that would not end by $DEADLINE seconds (from the last train stage's measured time) is skipped:
# $DEADLINE is 30 s before $LIMIT, the call's own timeout_s (600, or less for the session's last
# call: device time counts from the machine's start, so three full calls do not fit in 30 minutes).
set -uo pipefail
OUT=${OUT:-out}
EXTRA=/tmp/gpu_extra/extra  # logs and events, tarred into $OUT after each stage (3 folders deep would not come back)
rm -rf "$EXTRA" && mkdir -p "$OUT" "$EXTRA"
exec > >(tee -a "$OUT/log.txt") 2>&1
LIMIT=${LIMIT:-600}
DEADLINE=${DEADLINE:-$(( LIMIT - 30 ))}
TRAIN_ESTIMATE=${TRAIN_ESTIMATE:-200}
BATCH=${BATCH:-16}
STEPS=${STEPS:-10000}
VGG=.carry/vgg16.npz
export KERAS_BACKEND=jax PYTHONUNBUFFERED=1 TF_CPP_MIN_LOG_LEVEL=2
# The package is not installed there: every stage (train.py and the benchmarks) imports it from
# this checkout.
export PYTHONPATH=$PWD${PYTHONPATH:+:$PYTHONPATH}
# Every painting's train step is one program (the painting is an argument, steps.py): the second
# and later train stages of a call load it from JAX's persistent cache instead of compiling.
export JAX_COMPILATION_CACHE_DIR=${JAX_COMPILATION_CACHE_DIR:-/tmp/jax-cache}
if ! python3 -c "import keras" 2>/dev/null; then
    python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .carry/wheels/*.whl || exit 1
    export PYTHONPATH=/tmp/site:${PYTHONPATH:-}
fi
start=$(date +%s)
log() { echo "[$(( $(date +%s) - start )) s] $*"; }
# train_py RUN PAINTING STYLE_WEIGHT WIDTH PRECISION BATCH STEPS OUTPUT: train.py on .carry/photos,
# its console on stdout as it comes (one line per bar update) and whole in $EXTRA/train_RUN.log,
# its events in $EXTRA/runs/RUN/; the status is train.py's own.
train_py() {
    # runs/RUN is this stage's scratch (its events come back in $OUT): a stage repeated on a warm
    # machine, whose ignored files outlive a call, starts afresh instead of refusing the old run.
    rm -rf "runs/$1"
    python3 train.py --name "$1" --style "$2" --style-weight "$3" --width "$4" --precision "$5" --batch-size "$6" \
        --steps "$7" --output "$8" --data .carry/photos --vgg-weights $VGG --logdir "runs/$1" \
        --log-every ${LOG_EVERY:-100} --force 2>&1 | tr '\r' '\n' | grep -v '^ *$' | tee "$EXTRA/train_$1.log"
    local status=${PIPESTATUS[0]}
    mkdir -p "$EXTRA/runs/$1" && cp runs/"$1"/events.* "$EXTRA/runs/$1/" 2>/dev/null
    return "$status"
}
save_extra() { tar -cf "$OUT/extra.tar.part" -C "$(dirname "$EXTRA")" extra && mv "$OUT/extra.tar.part" "$OUT/extra.tar"; }
# check_validation NAME: the exported model's validation total; a warning line when it is not finite
check_validation() {
    python3 -c "import math, sys; from transformnet.model_file import read_model_metadata as r; v = r(sys.argv[1]).get('validation_losses', {}).get('total'); print('validation total', v); sys.exit(0 if v is not None and math.isfinite(v) else 1)" \
        "checkpoints/$1.keras" || log "WARNING: $1: validation loss not finite; look at its outputs before shipping it"
}
log "$(nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader 2>/dev/null) $(nproc) cores; python3 -c: $(python3 -c 'import jax, keras; print("jax", jax.__version__, "keras", keras.__version__, jax.devices())')"

for stage in "$@"; do
    IFS=: read -r kind name weight width painting <<<"$stage"
    elapsed=$(( $(date +%s) - start ))
    need=60; [ "$kind" = train ] && need=$TRAIN_ESTIMATE
    if [ $(( elapsed + need )) -gt "$DEADLINE" ]; then
        log "SKIPPED $stage: ${elapsed} s gone, ~${need} s needed, deadline ${DEADLINE} s"
        continue
    fi
    log "== $stage"
    begun=$(date +%s)
    case $kind in
    check)
        if ! python3 benchmarks/gpu_check_precision.py --vgg-weights $VGG --photos .carry/photos | tee "$OUT/check_precision.jsonl"; then
            export PRECISION=float32
            log "WARNING: mixed_bfloat16 is not finite or not close to float32 here: train stages use float32"
        fi ;;
    sweep)
        python3 benchmarks/gpu_slow_path.py sweep --vgg-weights $VGG --styles checkpoints/styles/*.jpg \
            --weights ${SWEEP_WEIGHTS:-10 30 100 300} --photos .carry/content/chicago.jpg .carry/content/corgi.jpg \
            --size ${SWEEP_SIZE:-384} --iterations ${SWEEP_ITERS:-300} --out "$EXTRA/sweep" | tee "$EXTRA/sweep.jsonl" ;;
    probe)
        for width in 0.5 1.0; do
            python3 benchmarks/gpu_probe.py --vgg-weights $VGG --width $width --policy mixed_bfloat16 --batch ${PROBE_BATCHES:-16} --steps 30 | tee -a "$OUT/probe.jsonl"
        done
        python3 benchmarks/gpu_probe.py --vgg-weights $VGG --width 0.5 --policy float32 --batch 16 --steps 20 | tee -a "$OUT/probe.jsonl" ;;
    rate)
        run=rate_${name}_${weight}_${width:-0.5}
        train_py "$run" checkpoints/styles/starry.jpg 30 "${width:-0.5}" "$name" "$weight" ${RATE_STEPS:-1000} /tmp/rate |
            grep -E "img/s|compil|error|Error" | tail -n 3 ;;
    speed)
        timeout ${SPEED_TIMEOUT:-150} python3 benchmarks/gpu_stylize_speed.py ${MODEL:+--model $MODEL} | tee "$OUT/stylize_speed.jsonl" ;;
    train)
        train_py "$name" "${painting:-checkpoints/styles/$name.jpg}" "$weight" "${width:-0.5}" ${PRECISION:-mixed_bfloat16} $BATCH $STEPS checkpoints |
            grep -E "img/s|data:|device:|compil|exported|error|Error" | awk 'NR % 10 == 1 || /exported|error|Error|data:|device:|compil/'
        status=${PIPESTATUS[0]}
        # Only a model this stage trained comes back, never one left in checkpoints/ before it.
        [ "$status" = 0 ] && cp "checkpoints/$name.keras" "$OUT/" && log "$name.keras $(stat -c %s checkpoints/$name.keras) bytes" && check_validation "$name"
        TRAIN_ESTIMATE=$(( $(date +%s) - begun + 15 )) ;;
    compare)
        python3 benchmarks/gpu_slow_path.py compare --vgg-weights $VGG --model "checkpoints/$name.keras" \
            --style "checkpoints/styles/$name.jpg" --photos .carry/content/*.jpg --size 512 --json "$OUT/compare_$name.jsonl" ;;
    *) echo "unknown stage $stage"; exit 2 ;;
    esac
    save_extra
    log "done $stage ($(( $(date +%s) - begun )) s)"
done
save_extra
log "all done"
