"""Score the paper's own evaluation outputs with our scorer and write docs/results/research_code.json.

    git clone https://github.com/christhetree/serum_rnn /tmp/serum_rnn
    python scripts/score_research_code.py /tmp/serum_rnn/data/eval_out/ensemble

Prints SerumRNN's and Random's Mel-MSE Δ % per group (Table 4, research rule).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from serumrnn.training.research_code import DEFAULT_OUT, write


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("folder", type=Path, help="the research code's data/eval_out/ensemble folder")
    p.add_argument("--out", type=Path, default=DEFAULT_OUT, help=f"where to write (default {DEFAULT_OUT})")
    a = p.parse_args()
    res = write(a.folder, a.out)
    for group, rows in res["groups"].items():
        cells = ", ".join(
            f"{s} {r['delta_pct']['mse']:+.1f} % Mel-MSE / {r['delta_pct']['mssmae']:+.1f} % MSSMAE"
            for s, r in rows.items()
        )
        print(f"{group}: {cells}")
    print(f"wrote {a.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
