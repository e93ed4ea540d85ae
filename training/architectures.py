"""The paper's networks (section 3) as readable Keras functions.

The paper's numbers are the named constants below. ``width`` scales every filter and unit
count: 1.0 is the paper's architecture; the CPU recipe that ships with the project uses a
narrower network so each model trains in minutes on two cores (see ``training/recipes.py``).
Only stock Keras layers are used, so the server loads a ``.keras`` file without this module.
"""

from __future__ import annotations

from collections.abc import Sequence

from serumrnn.server.quiet import import_tensorflow

import_tensorflow()  # before Keras, so its start-up banner stays off the terminal

import keras
from keras import layers

from serumrnn.server import features as F
from serumrnn.server import spec
from serumrnn.server.models import param_model_name

# -- effect-parameter model (3.1) -----------------------------------------------------------
CONV_FILTERS = (64, 128, 128)  # three conv layers per branch
CONV_KERNEL = (3, 3)
MEL_POOL = (4, 4)  # max-pool after each conv on the Mel branch
MFCC_POOL = (2, 4)  # ... and on the (shorter) MFCC branch
FC_UNITS = 128  # two fully connected layers
DROPOUT = 0.5
ACTIVATION = "elu"

# -- effect selector (3.2) ------------------------------------------------------------------
SELECTOR_FILTER_SCALE = 0.5  # "half as many filters" in the time-distributed CNNs
SELECTOR_CNN_OUT = 128  # the one FC output of each time-distributed CNN
LSTM_UNITS = 128  # bi-directional LSTM

MEL_SHAPE = (F.N_MELS, F.N_FRAMES, 2)  # channels: input, target
MFCC_SHAPE = (F.N_MFCC, F.N_FRAMES, 2)


def _n(x: int, width: float) -> int:
    return max(4, int(round(x * width)))


def conv_branch(x, pool: tuple[int, int], width: float, name: str):
    """Three (conv 3x3, ELU, max-pool) blocks, then flatten: one feature extractor."""
    for i, f in enumerate(CONV_FILTERS):
        x = layers.Conv2D(
            _n(f, width), CONV_KERNEL, padding="same", activation=ACTIVATION, name=f"{name}_conv{i + 1}"
        )(x)
        x = layers.MaxPooling2D(pool, padding="same", name=f"{name}_pool{i + 1}")(x)
    return layers.Flatten(name=f"{name}_flat")(x)


def spectral_inputs():
    mel = keras.Input(MEL_SHAPE, name="mel")
    mfcc = keras.Input(MFCC_SHAPE, name="mfcc")
    return mel, mfcc


def cnn_trunk(mel, mfcc, width: float):
    """Both branches and the two FC-128 layers shared by the parameter model and SerumCNN."""
    m = conv_branch(mel, MEL_POOL, width, "mel")
    c = layers.BatchNormalization(name="mfcc_norm")(mfcc)  # learnable shift and scale
    c = conv_branch(c, MFCC_POOL, width, "mfcc")
    x = layers.Concatenate(name="concat")([m, c])
    for i in range(2):
        x = layers.Dense(_n(FC_UNITS, width), activation=ACTIVATION, name=f"fc{i + 1}")(x)
        x = layers.Dropout(DROPOUT, name=f"dropout{i + 1}")(x)
    return x


def parameter_model(effect_name: str, width: float = 1.0) -> keras.Model:
    """One effect's knob predictor: a linear head for continuous knobs, a softmax per
    categorical knob (distortion: 12-way mode + 1-dim drive, losses weighted equally)."""
    eff = spec.effect(effect_name)
    mel, mfcc = spectral_inputs()
    x = cnn_trunk(mel, mfcc, width)
    outputs = {}
    for k in eff.categorical:
        outputs[k.name] = layers.Dense(len(k.choices), activation="softmax", name=k.name)(x)
    if eff.continuous:
        outputs["continuous"] = layers.Dense(len(eff.continuous), activation="linear", name="continuous")(x)
    return keras.Model([mel, mfcc], outputs, name=param_model_name(effect_name))


def serum_cnn(width: float = 1.0) -> keras.Model:
    """Baseline: predicts every effect at once (one sigmoid per effect, binary cross-entropy)."""
    mel, mfcc = spectral_inputs()
    x = cnn_trunk(mel, mfcc, width)
    out = layers.Dense(len(spec.EFFECT_NAMES), activation="sigmoid", name="effects")(x)
    return keras.Model([mel, mfcc], out, name="serum_cnn")


def _step_encoder(width: float, name: str, shape: Sequence[int], pool) -> keras.Model:
    """The per-step CNN of the selector: half the filters and one FC output."""
    inp = keras.Input(tuple(shape))
    x = inp
    if name == "mfcc":
        x = layers.BatchNormalization(name="mfcc_norm")(x)
    x = conv_branch(x, pool, width * SELECTOR_FILTER_SCALE, name)
    x = layers.Dense(_n(SELECTOR_CNN_OUT, width), activation=ACTIVATION, name=f"{name}_fc")(x)
    return keras.Model(inp, x, name=f"{name}_step_encoder")


def effect_selector(width: float = 1.0, name: str = "selector") -> keras.Model:
    """Bi-LSTM over the steps so far: (Mel, MFCC) of (current, target) per step plus the
    one-hot of the effect applied at that step (``spec.STEP_TOKENS``); outputs the next
    effect (a softmax over the effects).

    Sequences (the inputs before each effect) are padded to ``spec.MAX_STEPS`` at the end and
    masked, so one model handles 1 to ``spec.MAX_STEPS`` steps.
    """
    steps = spec.MAX_STEPS
    mel = keras.Input((steps, *MEL_SHAPE), name="mel_seq")
    mfcc = keras.Input((steps, *MFCC_SHAPE), name="mfcc_seq")
    applied = keras.Input((steps, len(spec.STEP_TOKENS)), name="applied_seq")
    present = keras.Input((steps, 1), name="step_present")  # 1 for real steps, 0 for padding
    m = layers.TimeDistributed(_step_encoder(width, "mel", MEL_SHAPE, MEL_POOL), name="td_mel")(mel)
    c = layers.TimeDistributed(_step_encoder(width, "mfcc", MFCC_SHAPE, MFCC_POOL), name="td_mfcc")(mfcc)
    x = layers.Concatenate(name="concat")([m, c, applied])
    x = layers.Multiply(name="zero_padding")([x, present])  # padded steps become all-zero ...
    x = layers.Masking(mask_value=0.0, name="mask")(x)  # ... and are skipped by the LSTM
    x = layers.Bidirectional(layers.LSTM(_n(LSTM_UNITS, width)), name="bilstm")(x)
    x = layers.Dense(_n(FC_UNITS, width), activation=ACTIVATION, name="fc")(x)
    x = layers.Dropout(DROPOUT, name="dropout")(x)
    out = layers.Dense(len(spec.EFFECT_NAMES), activation="softmax", name="next_effect")(x)
    return keras.Model([mel, mfcc, applied, present], out, name=name)
