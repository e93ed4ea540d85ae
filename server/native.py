"""Load order of the two native libraries that both carry LLVM.

DawDreamer (Faust's JIT) and TensorFlow each ship LLVM. With TensorFlow loaded first,
compiling Faust code segfaults; with DawDreamer loaded first, both work. Every entry
point that may use both imports this module before TensorFlow.
"""

import dawdreamer  # noqa: F401  (imported for its side effect: load first)
