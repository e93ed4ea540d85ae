"""A match result as something a producer can follow: a terminal listing and a report folder.

The folder is self-contained (open ``index.html`` anywhere, offline): the steps as
instructions in Serum's names, a WAV per step, the Mel-spectrogram progression (the
paper's Figure 1) and ``steps.json`` for tools. Nothing here runs models or renders: the
functions take a finished :class:`~server.assistant.Result` and the audio of each step.
"""

from __future__ import annotations

import html
import json
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

from server import features as F
from server.assistant import STOP_METRIC, KnobSetting, Result, StepReport
from server.audio_io import write_wav

#: The two distances a producer sees: the stopping rule's (Mel MSE) and a perceptual one.
SHOWN_METRICS = (("mse", "Mel-MSE"), ("mssmae", "MSSMAE"))
TARGET_WAV = "target.wav"
MEL_PNG = "mel_progression.png"
STEPS_JSON = "steps.json"
INDEX_HTML = "index.html"


# -- names of the files ------------------------------------------------------------------
def step_wav_names(result: Result) -> list[str]:
    """``step0-input.wav``, ``step1-<effect>.wav``, ...: one per sound along the way."""
    return ["step0-input.wav"] + [f"step{s.step}-{s.effect}.wav" for s in result.steps]


def step_titles(result: Result) -> list[str]:
    return ["input"] + [f"step {s.step}: + {s.label}" for s in result.steps]


# -- text ---------------------------------------------------------------------------------
def _fmt_dist(d: Mapping[str, float] | None) -> str:
    if not d:
        return "n/a"
    return "  ".join(f"{label} {d[key]:.4g}" for key, label in SHOWN_METRICS)


def _verdict(step: StepReport) -> str:
    if step.improved is None:
        return "not judged yet"
    return "closer" if step.improved else "further away"


def _rollback_text(result: Result) -> str:
    """Which step to keep, said the way a producer acts on it."""
    n, best = len(result.steps), result.best_step
    if n == 0:
        return "No step was taken."
    if best == n:
        return f"Step {best} is the best: keep every step."
    if best == 0:
        return "No step got closer to the target: switch every suggested effect off again."
    undo = ", ".join(s.label for s in result.steps[best:])
    return f"Step {best} is the best: roll back to it (switch off {undo})."


def _knob_line(k: KnobSetting) -> str:
    return f"{k.serum_name} = {k.value:.3f} ({k.text.strip()})"


def format_steps(result: Result, *, header: str = "") -> str:
    """A compact terminal listing of the steps (the same facts as the HTML page)."""
    lines = [header] if header else []
    lines += [f"note: {n}" for n in result.notes]
    lines.append(f"start: {_fmt_dist(result.initial)}")
    for s in result.steps:
        best = "  <- best" if s.step == result.best_step else ""
        lines.append(f"{s.step}. {s.instruction}  [{s.confidence:.0%} sure]{best}")
        lines.append(f"   turn on: {s.enable.serum_name} = 1")
        lines += [f"   set:     {_knob_line(k)}" for k in s.knobs]
        if s.fixed:
            lines.append("   fixed:   " + ", ".join(_knob_line(f) for f in s.fixed))
        lines.append(f"   after:   {_fmt_dist(s.after)}  ({_verdict(s)})")
    lines.append(_rollback_text(result))
    return "\n".join(lines)


# -- the Mel progression ------------------------------------------------------------------
def plot_progression(audios: Sequence[np.ndarray], titles: Sequence[str], path: Path) -> Path:
    """Input, each step and the target side by side as dB Mel spectrograms (Figure 1)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    mel, _ = F.features(np.stack([np.asarray(a, np.float32) for a in audios]))
    n = len(audios)
    fig, axes = plt.subplots(1, n, figsize=(2.1 * n, 2.4), sharey=True, squeeze=False)
    for ax, m, title in zip(axes[0], mel, titles):
        ax.imshow(m * F.TOP_DB, origin="lower", aspect="auto", vmin=-F.TOP_DB, vmax=20,
                  cmap="magma")
        ax.set_title(title, fontsize=8)
        ax.set_xticks([])
        ax.set_yticks([])
    axes[0][0].set_ylabel("Mel bands", fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path


# -- HTML ---------------------------------------------------------------------------------
_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,sans-serif;max-width:980px;margin:2em auto;
padding:0 1em;color:#222;background:#fafafa}
h1{font-size:1.5em}h2{font-size:1.15em;margin:0 0 .4em}
.step{background:#fff;border:1px solid #ddd;border-radius:8px;padding:1em;margin:1em 0}
.step.best{border:2px solid #2a8a3a}
.badge{display:inline-block;padding:.1em .5em;border-radius:4px;font-size:.85em;margin-left:.4em}
.good{background:#dff3e2;color:#1d6b2a}.bad{background:#fbe3e3;color:#9b1c1c}
.bestb{background:#2a8a3a;color:#fff}.muted{color:#666;font-size:.9em}
table{border-collapse:collapse;margin:.4em 0}td,th{padding:.2em .8em;text-align:left;
border-bottom:1px solid #eee}th{font-weight:600}code{background:#f0f0f0;padding:0 .25em}
img{max-width:100%;border:1px solid #ddd}.notes li{margin:.2em 0}audio{height:2em}
"""


def _e(x: Any) -> str:
    return html.escape(str(x))


def _audio(name: str) -> str:
    n = _e(name)
    return f'<audio controls preload="none" src="{n}"></audio> <a href="{n}">{n}</a>'


def _knob_rows(knobs: Sequence[KnobSetting]) -> str:
    return "".join(
        f"<tr><td>{_e(k.label)}</td><td><code>{_e(k.serum_name)}</code></td>"
        f"<td>{k.serum_index}</td><td>{k.value:.3f}</td><td>{_e(k.text.strip())}</td></tr>"
        for k in knobs)


def _knob_table(knobs: Sequence[KnobSetting]) -> str:
    head = ("<tr><th>knob</th><th>Serum parameter</th><th>index</th><th>value (0..1)</th>"
            "<th>reads as</th></tr>")
    return f"<table>{head}{_knob_rows(knobs)}</table>"


def _dist_table(before: Mapping[str, float] | None, after: Mapping[str, float] | None) -> str:
    rows = "".join(
        f"<tr><td>{label}</td><td>{_num(before, key)}</td><td>{_num(after, key)}</td></tr>"
        for key, label in SHOWN_METRICS)
    return f"<table><tr><th>distance to target</th><th>before</th><th>after</th></tr>{rows}</table>"


def _num(d: Mapping[str, float] | None, key: str) -> str:
    return "n/a" if not d else f"{d[key]:.4g}"


def _step_html(s: StepReport, wav: str, best: bool) -> str:
    verdict = {None: "", True: '<span class="badge good">closer to the target</span>',
               False: '<span class="badge bad">further from the target</span>'}[s.improved]
    best_badge = '<span class="badge bestb">best step</span>' if best else ""
    fixed = (f"<p>Also set these fixed knobs (the models never change them):</p>"
             f"{_knob_table(s.fixed)}") if s.fixed else ""
    return f"""
<section class="step{' best' if best else ''}" id="step{s.step}">
<h2>Step {s.step}: {_e(s.instruction)} {verdict}{best_badge}</h2>
<p class="muted">Confidence {s.confidence:.0%} that {_e(s.label)} is the effect to add next.</p>
<p>1. Turn on <b>{_e(s.label)}</b>: set <code>{_e(s.enable.serum_name)}</code>
(index {s.enable.serum_index}) to 1 (On).</p>
<p>2. Set its knobs:</p>{_knob_table(s.knobs)}
{fixed}
{_dist_table(s.before, s.after)}
<p>Listen: {_audio(wav)}</p>
</section>"""


def _step_link(step: int) -> str:
    return f' <a href="#step{step}">Go to step {step}</a>' if step else ""


def render_html(result: Result, meta: Mapping[str, Any], wavs: Sequence[str]) -> str:
    """The report page: inline CSS, files referenced relatively, nothing fetched."""
    notes = "".join(f"<li>{_e(n)}</li>" for n in result.notes)
    steps = "".join(_step_html(s, w, s.step == result.best_step)
                    for s, w in zip(result.steps, wavs[1:]))
    best = result.best_step
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>SerumRNN match: {_e(meta.get('input', ''))} to {_e(meta.get('target', ''))}</title>
<style>{_CSS}</style></head><body>
<h1>SerumRNN: from {_e(meta.get('input', 'input'))} to {_e(meta.get('target', 'target'))}</h1>
<p class="muted">Group {_e(meta.get('group', ''))}; models {_e(meta.get('models_id', ''))}
created {_e(meta.get('models_created', ''))}; rendered at MIDI note
{_e(meta.get('render_note', ''))}. {_e(meta.get('render', ''))}</p>
{f'<ul class="notes">{notes}</ul>' if notes else ''}
<p>Input: {_audio(wavs[0])}<br>Target: {_audio(TARGET_WAV)}</p>
<p>Distance at the start: {_e(_fmt_dist(result.initial))}.
After all steps: {_e(_fmt_dist(result.final))}.</p>
<p><b>{_e(_rollback_text(result))}</b>{_step_link(best)}</p>
<p><img src="{MEL_PNG}" alt="Mel spectrograms: input, each step, target"></p>
<p class="muted">A step is judged by {dict(SHOWN_METRICS)[STOP_METRIC]} (lower is closer); the loop
stops after too many steps that move away from the target.</p>
{steps}
</body></html>
"""


# -- the folder ---------------------------------------------------------------------------
def write_report(result: Result, audio_by_step: Sequence[np.ndarray], target_audio: np.ndarray,
                 out_dir: Path, meta: Mapping[str, Any], *, sample_rate: int = 44100) -> Path:
    """Write WAVs, the Mel PNG, ``steps.json`` and ``index.html``; return the page's path.

    ``audio_by_step``: the input sound, then the sound after each step (len(steps) + 1).
    """
    if len(audio_by_step) != len(result.steps) + 1:
        raise ValueError(f"need {len(result.steps) + 1} sounds (input and one per step), "
                         f"got {len(audio_by_step)}")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    wavs = step_wav_names(result)
    for name, audio in zip(wavs, audio_by_step):
        write_wav(out_dir / name, audio, sample_rate)
    write_wav(out_dir / TARGET_WAV, target_audio, sample_rate)
    plot_progression([*audio_by_step, target_audio], [*step_titles(result), "target"],
                     out_dir / MEL_PNG)
    files = {"steps": wavs, "target": TARGET_WAV, "mel_png": MEL_PNG, "html": INDEX_HTML}
    doc = {**result.to_json(), "meta": dict(meta), "files": files}
    _write_text(out_dir / STEPS_JSON, json.dumps(doc, indent=2) + "\n")
    return _write_text(out_dir / INDEX_HTML, render_html(result, meta, wavs))


def _write_text(path: Path, text: str) -> Path:
    """Atomic, so a browser refreshing the page never sees half a file."""
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)
    return path
