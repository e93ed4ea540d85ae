"""``serumrnn match``: the assistant for producers, from the command line.

Given the sound a producer has (an audio file, or an open-rack preset as
``preset:<name>``) and the sound they want, it runs the step loop on the open rack and
writes a report folder they can follow in Serum (see :mod:`serumrnn.server.report`). Kept light
at import time: ``serumrnn --help`` imports this module to register the command.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from serumrnn.server.loop_settings import (
    DEFAULT_K,
    REFINE_BUDGET,
    add_loop_options,
    check_settings,
    fine_tune_for,
)
from serumrnn.server.rack.presets import PRESET_PREFIX

# The report folder's checks; tests and callers import them from here too.
from serumrnn.server.report_folder import OutDirError as OutDirError
from serumrnn.server.report_folder import check_out_dir as check_out_dir
from serumrnn.server.report_folder import write_swapped as write_swapped

if TYPE_CHECKING:
    from serumrnn.server.models import GroupModels
    from serumrnn.server.rack.profile import Profile
    from serumrnn.server.rack.render import RenderSettings
    from serumrnn.server.steps import Result

DEFAULT_OUT = Path("out") / "match"  # relative to the current folder, as --help says
DEFAULT_GROUP = "basic"
RENDER_NOTE_TEXT = (
    "Sounds rendered on the open rack (Faust effects with Serum's knob names), "
    "so Serum itself will sound similar, not identical."
)
#: What a report without a profile says about how its steps were checked.
OPEN_RACK_ONLY = (
    "Steps verified on the open rack only, not on your plugins: run match with "
    "--profile P to render and judge every candidate on the plugins of profile P."
)


def plugins_note(profile_name: str, source: str) -> str:
    """What a report with a profile says about how its steps were checked."""
    return (
        f"Steps verified on your plugins: every candidate and refinement render ran on the "
        f"plugins of profile {profile_name} ({source}), from the input sound."
    )


@dataclass(frozen=True)
class InputSpec:
    """Where the current sound comes from: an open-rack preset or an audio file."""

    preset: str | None = None
    path: str | None = None

    @classmethod
    def parse(cls, text: str) -> InputSpec:
        if text.startswith(PRESET_PREFIX):
            return cls(preset=text[len(PRESET_PREFIX) :])
        return cls(path=text)

    @property
    def label(self) -> str:
        return f"preset {self.preset}" if self.preset else Path(self.path or "").name


def models_meta(models: GroupModels) -> dict[str, Any]:
    """What identifies the models in a report: a content id, when and how they were made."""
    m = models.manifest
    digest = hashlib.sha256(json.dumps(m, sort_keys=True).encode()).hexdigest()[:12]
    return {
        "group": models.group,
        "models_dir": str(models.folder),
        "models_id": digest,
        "models_created": m.get("created"),
        "models_recipe": (m.get("recipe") or {}).get("name"),
        "spec_version": m.get("spec_version"),
        "render_note": models.render_settings.note,
    }


def _group_for(spec: InputSpec, group: str | None) -> str:
    from serumrnn.server.rack import presets as P

    if group:
        return P.resolve_group(group)
    return P.group_of(spec.preset) if spec.preset else P.resolve_group(DEFAULT_GROUP)


def match(
    input_spec: str | InputSpec,
    target_path: str | Path,
    group: str | None = None,
    out: str | Path | None = None,
    models_dir: str | Path | None = None,
    tolerance: int = 1,
    *,
    models: GroupModels | None = None,
    loop: str | None = None,
    k: int = DEFAULT_K,
    refine_budget: int = REFINE_BUDGET,
    rack_order: str | Sequence[str] | None = None,
    profile: str | None = None,
    fine_tune: int | None = None,
    extra: bool = True,
) -> tuple[Result, Path]:
    """Run the step loop from the input to the target and write the report folder.

    Returns the result (with notes on any transposition) and the path of ``index.html``.
    ``models``: already loaded models (skips loading ``group`` from ``models_dir``).
    ``loop``: one of ``loop_settings.LOOPS`` (None: ``loop_settings.DEFAULT_LOOP``; see ``serumrnn.server.assistant``);
    ``k``: candidates rendered per step; ``tolerance``: the paper loop's bad steps;
    ``fine_tune``: renders of the fine-tune after the last step (``loop_settings.fine_tune_for``).
    ``profile``: render and judge every candidate on that plugin profile's plugins (hosted
    in a worker process); the input is then an audio file or one of the profile's presets.
    Raises ``AudioInputError`` / ``ModelError`` / ``KeyError`` with messages for people.
    """
    from serumrnn.server import progress
    from serumrnn.server import spec as spec_mod
    from serumrnn.server.assistant import Assistant
    from serumrnn.server.audio_io import load_clip
    from serumrnn.server.loop_settings import DEFAULT_LOOP
    from serumrnn.server.models import SERVER_BACKEND, STEP_MODELS, load_group
    from serumrnn.server.pitch import check_target, to_model_note
    from serumrnn.server.rack import presets as P
    from serumrnn.server.rack import renderer_label
    from serumrnn.server.report import write_report
    from serumrnn.server.steps import usage_notes

    loop = DEFAULT_LOOP if loop is None else loop
    fine_tune = fine_tune_for(loop, fine_tune)
    spec = input_spec if isinstance(input_spec, InputSpec) else InputSpec.parse(input_spec)
    if tolerance < 0:
        raise ValueError(f"tolerance must be 0 or more, got {tolerance}")
    check_settings(loop, k, refine_budget, fine_tune)  # before anything slow
    prof = None
    if profile is not None:
        from serumrnn.server.rack.profile import load_profile

        prof = load_profile(profile)  # a bad profile fails before anything slow
    if spec.preset is not None and prof is None:
        P.preset(spec.preset)  # an unknown preset fails before anything slow
    # Files first: a wrong path should not wait for the models to load.
    target = load_clip(target_path)
    check_target(target, str(target_path))
    source = load_clip(spec.path) if spec.path is not None else None
    out_dir = Path(out) if out is not None else DEFAULT_OUT
    check_out_dir(out_dir, [target_path, spec.path])  # a wrong --out fails before the models load
    if models is None:
        with progress.stage(f"loading the {_group_for(spec, group)} models"):
            models = load_group(
                _group_for(spec, group), models_dir, which=STEP_MODELS, backend=SERVER_BACKEND
            )
    note, notes = models.render_settings.note, []
    moved = to_model_note(target, str(target_path), "target", note)
    target, notes = moved.audio, [moved.message] if moved.message else []
    if source is not None:
        moved = to_model_note(source, str(spec.path), "input", note)
        source, notes = moved.audio, notes + ([moved.message] if moved.message else [])
    settings = models.render_settings
    if rack_order is not None:  # a producer's own FX-rack order (docs/developer-guide.md, "The renderer API")
        settings = replace(settings, rack_order=spec_mod.rack_order(rack_order))
    rack, verified_on = _renderer(prof, settings)
    try:
        assistant = Assistant(
            models,
            target,
            renderer=rack,
            preset=spec.preset,
            input_audio=source,
            tolerance=tolerance,
            loop=loop,
            k=k,
            refine_budget=refine_budget,
            fine_tune=fine_tune,
            extra=extra,
        )
        _announce_steps(assistant.runner, spec_mod.MAX_STEPS)
        result = assistant.run()
    finally:
        if prof is not None:
            rack.close()
    result.notes[:0] = usage_notes(models.render_settings.note)
    result.notes.extend(notes)
    if loop != "paper":
        result.notes.append(verified_on)
    meta = {
        **models_meta(models),
        "input": spec.label,
        "target": Path(target_path).name,
        "tolerance": tolerance,
        "loop": loop,
        "k": k,
        "refine_budget": refine_budget,
        "fine_tune": fine_tune,
        "extra_knobs": extra,
        "rack_order": list(rack.settings.rack_order),
        "render": RENDER_NOTE_TEXT if prof is None else plugins_note(prof.name, prof.source),
        "renderer": renderer_label(rack),
    }
    progress.say(f"writing the report to {out_dir}")
    check_out_dir(out_dir, [target_path, spec.path])  # again: it may have changed
    try:
        page = write_swapped(
            out_dir,
            lambda d: write_report(
                result,
                [s.audio for s in assistant.states],
                target,
                d,
                meta,
                sample_rate=rack.settings.sample_rate,
                tuned_audio=assistant.tuned_audio,
            ),
        )
    except Exception as e:  # a full disk, a folder gone: one line, and the earlier report intact
        why = getattr(e, "strerror", None) or str(e) or type(e).__name__
        raise OutDirError(
            f"cannot write the report into {out_dir}: {why}; nothing there was changed"
        ) from None
    return result, page


def _renderer(prof: Profile | None, settings: RenderSettings) -> tuple[Any, str]:
    """The renderer a match runs on (the open rack, or the profile's plugins hosted in a
    worker process) and what the report says about how its steps were checked."""
    from serumrnn.server.rack import OpenRack

    if prof is None:
        return OpenRack(settings), OPEN_RACK_ONLY
    from serumrnn.server.rack.plugin_host import PluginHost

    return PluginHost(prof, settings), plugins_note(prof.name, prof.source)


def _announce_steps(session: Any, most: int) -> None:
    """Say each step of the loop as it starts and what it chose as it ends (on stderr)."""
    from serumrnn.server import progress

    inner = session.step

    def step(*args: Any, **kwargs: Any) -> Any:
        n = len(session.steps) + 1
        progress.step(n, most, "choosing and rendering the next effect")
        report = inner(*args, **kwargs)
        if report is None or len(session.steps) < n:
            progress.say(f"step {n}: none taken, the loop stops")
        else:
            progress.say(f"step {n}: {report.label}")
        return report

    session.step = step


# -- command line -------------------------------------------------------------------------
def _input_from_args(a: argparse.Namespace) -> str:
    if a.preset and a.input:
        raise ValueError("give the input either as INPUT or as --preset, not both")
    if a.preset:
        return PRESET_PREFIX + str(a.preset)
    if not a.input:
        raise ValueError("no input sound: give INPUT (a file or preset:<name>) or --preset")
    return str(a.input)


def _cmd_match(a: argparse.Namespace) -> int:
    from serumrnn.server.audio_io import AudioInputError
    from serumrnn.server.models import ModelError
    from serumrnn.server.rack.render import RenderError
    from serumrnn.server.report import format_steps

    try:
        spec = _input_from_args(a)
        result, page = match(
            spec,
            a.target,
            a.group,
            a.out,
            a.models,
            a.tolerance,
            loop=a.loop,
            k=a.k,
            refine_budget=a.refine_budget,
            rack_order=a.rack_order,
            profile=a.profile,
            fine_tune=a.fine_tune,
            extra=not a.no_extra_knobs,
        )
    except (AudioInputError, ModelError, RenderError) as e:
        print(f"serumrnn: error: {e}", file=sys.stderr)
        return 2
    header = f"SerumRNN: {InputSpec.parse(spec).label} -> {Path(a.target).name}"
    print(format_steps(result, header=header))
    print(f"report: {page}")
    return 0


def add_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> argparse.ArgumentParser:
    """Register ``serumrnn match`` (listed in ``serumrnn.server.cli.COMMAND_MODULES``)."""

    m: argparse.ArgumentParser = subparsers.add_parser(
        "match",
        help="step-by-step effect settings from your sound to a target, as a report",
        description="Suggest, one step at a time, which Serum effect to turn on and how to set "
        "its knobs to get from INPUT to TARGET; writes an HTML report with audio.",
    )
    m.add_argument(
        "input",
        nargs="?",
        metavar="INPUT",
        help="your sound: an audio file, or preset:<name> for an open-rack preset",
    )
    m.add_argument("target", metavar="TARGET", help="the sound you want (an audio file)")
    m.add_argument(
        "--preset", default=None, metavar="P", help="start from open-rack preset P (same as INPUT preset:P)"
    )
    m.add_argument(
        "--group",
        default=None,
        metavar="G",
        help="basic | advanced | modulating (default: the preset's group, else basic)",
    )
    m.add_argument(
        "--out",
        default=str(DEFAULT_OUT),
        metavar="DIR",
        help="report folder (default out/match): new, empty, or an earlier report "
        "(whose files are replaced); any other folder is refused",
    )
    m.add_argument("--models", default=None, metavar="DIR", help="models folder (default models/)")
    m.add_argument(
        "--profile",
        default=None,
        metavar="P",
        help="render and judge every candidate on the plugins of profile P (a shipped name such as "
        "debian_test, or a profile JSON); default: the open rack",
    )
    add_loop_options(
        m,
        "verified: each step is rendered first and offered only when it brings "
        "the sound closer; refine: the same, with each step's knobs "
        "polished by listening; paper: the paper's loop, unchanged",
    )
    m.set_defaults(func=_cmd_match)
    return m
