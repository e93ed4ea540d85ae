"""Every seed stream of the evaluation and training, by name, in one place.

A draw's seed is ``server.sampling.record_seed(stream, ...)``: one stream per purpose, so
no two purposes ever share random numbers, and adding draws to one changes no other.
Held-out test draws come from :data:`TEST_STREAM` and its sub-streams (the number added
to a sub-stream is the draw's chain length ``n``); training draws use the data set's
own seed. The values are fixed: changing one changes every published figure drawn from it.
"""

from __future__ import annotations

#: Held-out test draws: ``record_seed(TEST_STREAM, sub-stream, i)``.
TEST_STREAM = 0x5E57
#: Sub-streams of TEST_STREAM. The parameter models' test draws use the effect's index
#: (0-4) as their sub-stream.
SELECTOR_TEST = 100  # + n: Table 3's selector test draws with n effects
PAIR_STREAM = 300  # + n: the system evaluation's held-out pairs with n effects
RANDOM_STREAM = 400  # the Random baseline's dice, per pair
ORACLE_STREAM = 500  # the Oracle's order after the true effects, per pair
DEV_STREAM = 700  # + n: development pairs for choosing the decision distance

#: The out-of-domain suite's settings: ``record_seed(OOD_STREAM, seed, target index)``.
OOD_STREAM = 0x00D
#: Under OOD_STREAM: the training-like start distances (``record_seed(OOD_STREAM,
#: OOD_START, seed, i)``).
OOD_START = 0x99

#: Training: epoch e's shuffle seed is ``recipe.seed + EPOCH_STRIDE * (e + 1)``.
EPOCH_STRIDE = 1000
