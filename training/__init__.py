"""Data generation, training, evaluation and benchmarks. Imports ``server``, never the reverse."""

from serumrnn.server import native  # noqa: F401  (DawDreamer before TensorFlow, see server/native.py)
