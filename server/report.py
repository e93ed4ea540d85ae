"""A match result as something a producer can follow: a terminal listing and a report folder.

The folder is self-contained (open ``index.html`` anywhere, offline):

* the result first: one closeness score with what it means, why the loop stopped, and a
  one-click A/B between the sound now (the best state) and the target;
* players for the input, each step, the best state and the target;
* the Mel strip (input, each step, target) with frequency (Hz) and time (s) axes and a
  colour scale in dB, and one picture of the difference that remains;
* each step in Serum's words: which effect to switch on, each knob by Serum's parameter
  name with its value in a musical unit, the fixed knobs by the names on Serum's panel;
* ``steps.json`` for tools.

Nothing here runs models or renders: the functions take a finished
:class:`~serumrnn.server.steps.Result` and the audio of each step.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from serumrnn.server.audio_io import write_wav

# The report's parts, importable from here: the words (report_text), the pictures
# (report_plots) and the page (report_html).
from serumrnn.server.report_html import BEST_WAV as BEST_WAV
from serumrnn.server.report_html import DIFF_PNG as DIFF_PNG
from serumrnn.server.report_html import INDEX_HTML as INDEX_HTML
from serumrnn.server.report_html import MEL_PNG as MEL_PNG
from serumrnn.server.report_html import STEPS_JSON as STEPS_JSON
from serumrnn.server.report_html import TARGET_WAV as TARGET_WAV
from serumrnn.server.report_html import TUNED_WAV as TUNED_WAV
from serumrnn.server.report_html import render_html as render_html
from serumrnn.server.report_html import value_html as value_html
from serumrnn.server.report_plots import FIG_DPI as FIG_DPI
from serumrnn.server.report_plots import mel_axes as mel_axes
from serumrnn.server.report_plots import plot_difference as plot_difference
from serumrnn.server.report_plots import plot_progression as plot_progression
from serumrnn.server.report_text import closeness_text as closeness_text
from serumrnn.server.report_text import format_steps as format_steps
from serumrnn.server.report_text import rollback_text as rollback_text
from serumrnn.server.report_text import step_titles as step_titles
from serumrnn.server.report_text import stop_text as stop_text
from serumrnn.server.report_text import tried_lines as tried_lines
from serumrnn.server.steps import Result


# -- names of the files ------------------------------------------------------------------
def step_wav_names(result: Result) -> list[str]:
    """``step0-input.wav``, ``step1-<effect>.wav``, ...: one per sound along the way."""
    return ["step0-input.wav"] + [f"step{s.step}-{s.effect}.wav" for s in result.steps]


# -- the folder ---------------------------------------------------------------------------
def write_report(
    result: Result,
    audio_by_step: Sequence[np.ndarray],
    target_audio: np.ndarray,
    out_dir: Path,
    meta: Mapping[str, Any],
    *,
    sample_rate: int = 44100,
    tuned_audio: np.ndarray | None = None,
) -> Path:
    """Write WAVs, the two pictures, ``steps.json`` and ``index.html``; return the page.

    ``audio_by_step``: the input sound, then the sound after each step (len(steps) + 1);
    ``tuned_audio``: the kept fine-tune's sound, which is then the sound now.
    """
    if len(audio_by_step) != len(result.steps) + 1:
        raise ValueError(
            f"need {len(result.steps) + 1} sounds (input and one per step), got {len(audio_by_step)}"
        )
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    wavs = step_wav_names(result)
    sounds, titles = list(audio_by_step), step_titles(result)
    if tuned_audio is not None:
        wavs, sounds, titles = [*wavs, TUNED_WAV], [*sounds, tuned_audio], [*titles, "fine-tuned"]
    for name, audio in zip(wavs, sounds):
        write_wav(out_dir / name, audio, sample_rate)
    now = audio_by_step[result.best_step] if tuned_audio is None else tuned_audio
    write_wav(out_dir / BEST_WAV, now, sample_rate)
    write_wav(out_dir / TARGET_WAV, target_audio, sample_rate)
    plot_progression([*sounds, target_audio], [*titles, "target"], out_dir / MEL_PNG)
    plot_difference(
        now, target_audio, out_dir / DIFF_PNG, "What still differs: the sound now minus the target"
    )
    files = {
        "steps": wavs,
        "best": BEST_WAV,
        "target": TARGET_WAV,
        "mel_png": MEL_PNG,
        "difference_png": DIFF_PNG,
        "html": INDEX_HTML,
    }
    doc = {**result.to_json(), "meta": dict(meta), "files": files}
    _write_text(out_dir / STEPS_JSON, json.dumps(doc, indent=2) + "\n")
    return _write_text(out_dir / INDEX_HTML, render_html(result, meta, wavs))


def _write_text(path: Path, text: str) -> Path:
    """Atomic, so a browser refreshing the page never sees half a file."""
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)
    return path
