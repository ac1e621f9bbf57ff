"""Every hyper-parameter default of transformnet, in one place, with its reason.

"Paper" is Johnson, Alahi & Fei-Fei 2016, "Perceptual Losses for Real-Time Style Transfer
and Super-Resolution" (and its supplementary material); "Gatys" is Gatys, Ecker & Bethge 2015,
"A Neural Algorithm of Artistic Style". Where we differ from the paper the line says why.
"""

import os

# --- Loss network (VGG16, ImageNet) -------------------------------------------------------
CONTENT_LAYERS = ("relu2_2",)
"""Paper: content (feature reconstruction) loss at relu2_2 keeps structure, lets colour/texture move."""

STYLE_LAYERS = ("relu1_2", "relu2_2", "relu3_3", "relu4_3")
"""Paper: style (Gram) loss at relu1_2, relu2_2, relu3_3, relu4_3."""

STYLE_LAYER_WEIGHTS = (1.0, 1.0, 1.0, 1.0)
"""Paper: the style layers are summed with equal weight."""

VGG_MIN_SIDE = 16
"""Implementation: VGG16 pools three times before relu4_3; an image (painting, photo) whose shorter
side is below 16 px leaves a 1-pixel feature map or none at all."""

VGG_WEIGHTS = os.environ.get("TRANSFORMNET_VGG_WEIGHTS", "imagenet")
"""Keras' ImageNet VGG16 (needs internet once); a local .weights.h5 or .npz path works offline.
The environment variable TRANSFORMNET_VGG_WEIGHTS sets it for every command (CI, offline use)."""

# --- Loss weights --------------------------------------------------------------------------
# Normalisation (see losses.py): content = mean squared feature difference; Gram = F^T F / (H*W*C);
# style = sum over layers of the squared Frobenius norm of the Gram difference (the paper's);
# tv = mean squared neighbour difference of the 0..255 image. Under this convention the paper's
# absolute weights do not transfer; these values were chosen on Starry Night with the ../shared
# VGG16 weights (benchmarks/RESULTS.md, "Style weight"). Trained models store their own weights.
CONTENT_WEIGHT = 1.0
"""Implementation: content loss is the unit everything else is measured against."""

STYLE_WEIGHT = 30.0
"""Implementation: slow path, Starry Night, astronaut, 256 px: 10 leaves a light texture, 100
covers the face in strokes, 30 gives clear swirls and stars with the content intact (RESULTS.md).
Each shipped model's own weight is in its metadata (``eval.py --info NAME``)."""

TV_WEIGHT = 1e-4
"""Paper: a small TV term (1e-6..1e-4 in the paper's units) suppresses high-frequency artefacts."""

# --- Fast training -------------------------------------------------------------------------
IMAGE_SIZE = 256
"""Paper: MS-COCO photos resized to 256x256. Implementation: the shorter side is resized to 256 and
a random 256x256 crop taken along the longer one (``data.crop``), so photos keep their aspect."""

BATCH_SIZE = 4
"""Paper: batch 4. It is the global batch, split evenly over every device of every process
(``--devices``, issue 11), so a run's result does not depend on how many devices train it."""

LEARNING_RATE = 1e-3
"""Paper: Adam with learning rate 1e-3. Kept as given when the global batch grows: it is never
scaled with the number of devices, because the batch, not the device count, sets the gradient
noise. Raising ``--batch-size`` averages out noise, and Adam's update size barely depends on
the gradient's scale, so SGD's linear scaling rule (Goyal et al. 2017) does not carry over;
``--steps`` counts updates, so a k-times larger batch sees k times more photos in the same steps.
Scale ``--lr`` yourself if a larger batch trains too slowly (for Adam a square-root rule is the
usual first try) and check the loss curve."""

STEPS = 40_000
"""Paper: 40,000 iterations, about two epochs of the 80k COCO training images."""

STYLE_SIZE = 512
"""Implementation: the painting's longer side when its Gram targets are computed; the paper
did not fix it. Too small and brush strokes vanish, too large and strokes shrink relative to
the 256-px training crops."""

# --- Slow reference path (Gatys) -----------------------------------------------------------
SLOW_ITERATIONS = 300
"""Implementation: enough for the style to be unmistakable from a content initialisation."""

SLOW_LEARNING_RATE = 10.0
"""Implementation: Adam step on 0..255 pixels; ~10 reaches the style in a few hundred steps."""

SLOW_OPTIMIZER = "adam"
"""Gatys used L-BFGS; Adam is default because each step costs one evaluation (predictable time)."""

SLOW_SIZE = 256
"""Implementation: longer side of the optimised image; 256 px fits the 5-minute CPU budget."""

# --- Transform network ---------------------------------------------------------------------
NETWORK_WIDTH = 1.0
"""Paper: 32/64/128 channels. 0.5 gives the slimmer variant (half the channels)."""

NETWORK_WIDTH_RANGE = (0.125, 4.0)
"""Implementation: limits that catch a typo (``--width 0``, ``0.01``, ``50``): below 1/8 (4/8/16
channels) the net is too narrow to be useful (the tests use 1/4), above 4x (128/256/512) a step
costs ~16x the paper's and nothing suggests it helps."""

# --- Trainer (train.py) --------------------------------------------------------------------
PRECISION = "float32"
"""Implementation: exact on every device; use mixed_bfloat16 on GPUs/TPUs for speed (issue 4)."""

SEED = 0
"""Implementation: seeds weight init, photo order and crops, so a run is reproducible."""

VALIDATION_PHOTOS = 8
"""Implementation: photos held out of training; their loss is the validation curve and the first
four are shown stylised in TensorBoard. Small, so validation stays cheap."""

VALIDATION_FRACTION = 0.2
"""Implementation: at most a fifth of a photo folder is held out (the usual 80/20 split), so a
small folder (9 photos: 1 held out, 8 trained on) never starves training."""

LOG_EVERY = 100
"""Implementation: steps between loss fetches (progress bar, TensorBoard scalars). Each fetch is
a device->host sync; every step would stall a fast GPU."""

VAL_EVERY = 2_000
"""Implementation: steps between validation losses and stylised validation images."""

CHECKPOINT_EVERY = 2_000
"""Implementation: steps between checkpoints; a few seconds of GPU time are at risk, not hours
(on a CPU they are hours, but Ctrl-C saves a checkpoint at the step it stops at: signals.py)."""

KEEP_CHECKPOINTS = 3
"""Implementation: checkpoints kept; more than one so a corrupt newest one has a fallback."""

DATA_CACHE_MB = 16_384
"""Implementation: RAM for decoded photos (shorter side = training size, uint8). 16 GiB holds
~60k 256-px COCO photos; after the first epoch cached photos are only cropped, not decoded."""

DATA_WORKERS = 0
"""Implementation: photo decoding threads; 0 = one per CPU core (PIL releases the GIL)."""

VALIDATION_IMAGES_SHOWN = 4
"""Implementation: validation photos shown stylised in TensorBoard (PNG events stay small)."""

# --- Command line --------------------------------------------------------------------------
CHECKPOINT_DIR = "checkpoints"
"""Implementation: ``eval.py --model NAME`` loads ``checkpoints/NAME.keras`` (the trainer writes
there); $TRANSFORMNET_CHECKPOINTS or --checkpoints point elsewhere."""

OUTPUT_SUFFIX = ".jpg"
"""Implementation: default output format; JPEG quality 95 keeps brush strokes, files stay small."""

# --- Stylizing large photos (tiling.py) ----------------------------------------------------
TILE_BLEND = 32
"""Implementation: width in pixels of the raised-cosine cross-fade between neighbouring tiles;
a tile's core must be at least twice this wide."""
