"""What the OSC server's session requests do: open a session, set its target, step, undo,
reset and end.

The server (:mod:`serumrnn.server.osc_server`) receives, queues, routes and answers
requests; this module holds what each session request does to its session, so the step
loop's rules can be read in one place without the plumbing. Each handler returns its
reply or raises (:class:`ProtocolError` with its code, or an error the server maps to one).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from serumrnn.server import osc
from serumrnn.server.osc import PREFIX, ProtocolError, Reply, Request
from serumrnn.server.osc_sessions import SOUND_BYTES, OscSession, Sessions, new_session_id, short_id
from serumrnn.server.rack.presets import PRESET_PREFIX

if TYPE_CHECKING:
    import numpy as np

    from serumrnn.server.assistant import Assistant
    from serumrnn.server.judge import Stop
    from serumrnn.server.models import GroupModels
    from serumrnn.server.osc_transport import LockedRenderer
    from serumrnn.server.rack.plugin_host import PluginHost
    from serumrnn.server.rack.profile import Profile
    from serumrnn.server.rack.render import Renderer

log = logging.getLogger("serumrnn.osc")

#: Option names in ``new`` that mean "the open rack" rather than a plugin profile.
OPEN_RACK_NAMES = ("", "open", "open_rack")


def check_path(path: str, rid: int) -> str:
    """``path`` if absolute: the server's working folder is not the device's."""
    if not os.path.isabs(path):
        raise ProtocolError(
            "relative_path",
            f"{osc.printable(path)!r} is not an absolute "
            "path; the server's working folder is not the device's, so "
            "send the full path (Max: absolutepath)",
            rid,
        )
    return path


def done_text(stop: Stop) -> str:
    """Why a finished session takes no more steps, and how to go on."""
    return (
        f"the session is done: {stop.text}; the best result is "
        f"after step {stop.best_step}. Undo or reset to go on"
    )


class StepHandlers:
    """The session requests, with the assistant's settings (``loop``, ``k``,
    ``refine_budget``, ``tolerance``) and the open rack the verified loops listen on
    (``rack``: set by the server at start, on its own thread)."""

    def __init__(
        self,
        models: dict[str, GroupModels],
        sessions: Sessions,
        *,
        loop: str,
        k: int,
        refine_budget: int,
        tolerance: int,
        fine_tune: int = 0,
        extra: bool = True,
        rack: LockedRenderer | None = None,
        profile_dirs: tuple[Path, ...],
        default_profile: Profile | None = None,
    ):
        from serumrnn.server.rack.plugin_host import HostPool

        self.models, self.sessions = models, sessions
        self.loop, self.k, self.refine_budget, self.tolerance = loop, k, refine_budget, tolerance
        self.fine_tune = fine_tune  # renders of the fine-tune offered as the last step (0: none)
        self.extra = extra  # serve --no-extra-knobs: the search moves Table 1 knobs only
        self.rack = rack
        self.profile_dirs = profile_dirs
        #: Sessions that name no renderer use this profile (``serve --profile``); None: the open rack.
        self.default_profile = default_profile
        #: The profiles' plugins, each in a worker process, loaded once per server.
        self.hosts = HostPool()

    def plugin_host(self, profile: Profile, rid: int) -> PluginHost:
        """The pooled host of ``profile``'s plugins (started on first use). A plugin that
        fails to load refuses the request in one line; the server keeps serving."""
        from serumrnn.server.rack.profile import ProfileError, redacted_key_path
        from serumrnn.server.rack.render import RenderError, RenderSettings

        settings = self.rack.settings if self.rack is not None else RenderSettings()
        name = osc.printable(Path(profile.source).stem)  # what the client named, not the file's "name"
        try:
            return self.hosts.get(profile, settings)
        except ProfileError as e:
            log.info("profile %s refused: %s", profile.name, e)
            where = f" at {redacted_key_path(e.key_path)}" if e.key_path else ""
            raise ProtocolError(
                "bad_profile",
                f"profile {name!r} does not match its plugins{where} (the server's log says why)",
                rid,
            ) from None
        except RenderError as e:
            log.info("profile %s: plugins failed to load: %s", profile.name, e)
            raise ProtocolError(
                "bad_profile",
                f"the plugins of profile {name!r} cannot be loaded (the server's log says why)",
                rid,
            ) from None

    @property
    def groups(self) -> str:
        return ",".join(self.models)

    def renderer_options(self, options: Sequence[str], rid: int) -> tuple[Profile | None, str | None]:
        """``new``'s options: (profile, preset). No option: the server's default profile
        (``serve --profile``), else the open rack; ``open`` names the open rack."""
        from serumrnn.server.rack import presets as P

        profile, preset, open_rack = None, None, False
        for opt in options:
            if opt.startswith(PRESET_PREFIX):
                preset = opt[len(PRESET_PREFIX) :]
            elif opt not in OPEN_RACK_NAMES:
                profile = self.load_profile(opt, rid)
            elif opt:
                open_rack = True  # named: the open rack even when the server has a default profile
        if preset is None:
            return (self.default_profile if profile is None and not open_rack else profile), None
        if profile is not None:
            raise ProtocolError(
                "bad_args",
                f"preset:{preset} renders on the open rack; "
                f"with the {profile.name} profile the device sends "
                "captures of the plugin instead",
                rid,
            )
        if preset not in P.PRESETS:
            raise ProtocolError(
                "unknown_preset", f"unknown preset {preset!r}; presets: {', '.join(P.PRESETS)}", rid
            )
        return None, preset

    def open_session(self, req: Request, dest: tuple[str, int], owner: str) -> tuple[Reply, OscSession]:
        """``new``: a session of a loaded group on the open rack, a profile or a preset."""
        from serumrnn.server.rack import presets as P

        try:
            group = P.resolve_group(req.args["group"])
        except KeyError as e:
            raise ProtocolError("unknown_group", e.args[0], req.request_id) from None
        if group not in self.models:
            raise ProtocolError(
                "missing_group",
                f"no models loaded for {group}; this server "
                f"has {self.groups} (start it with --models DIR holding "
                f"{group}/)",
                req.request_id,
            )
        profile, preset = self.renderer_options(req.args["options"], req.request_id)
        if profile is not None:
            self.plugin_host(profile, req.request_id)  # loaded now: a broken plugin refuses the session
        sess = OscSession(new_session_id(), group, self.models[group], dest, profile, preset, owner=owner)
        self.sessions.add(sess, req.request_id)
        return [
            (
                f"{PREFIX}/new/reply",
                (
                    req.request_id,
                    sess.id,
                    group,
                    "open" if profile is None else profile.name,
                    f"{PRESET_PREFIX}{preset}" if preset else "",
                ),
            )
        ], sess

    def load_profile(self, name: str, rid: int) -> Profile:
        """A profile from the shipped folder or a ``--profiles`` folder. Its faults are
        described by key path only, never by the file's contents (the full message goes
        to the log)."""
        from serumrnn.server.rack.profile import ProfileError, find_profile, load_profile, redacted_key_path

        if (os.sep in name or name.endswith(".json")) and not os.path.isabs(name):
            raise ProtocolError(
                "relative_path", f"profile path {osc.printable(name)!r} must be absolute", rid
            )
        try:
            return load_profile(find_profile(name, self.profile_dirs))
        except ProfileError as e:
            if e.key_path is None:
                raise
            log.info("profile %s refused: %s", name, e)
            raise ProtocolError(
                "bad_profile",
                f"profile {osc.printable(name)!r} is not valid "
                f"at {redacted_key_path(e.key_path)} (the server's log says "
                "why)",
                rid,
            ) from None
        except (OSError, RecursionError, UnicodeError) as e:
            raise ProtocolError(
                "bad_profile", f"profile {osc.printable(name)!r} cannot be read ({type(e).__name__})", rid
            ) from None

    def new_assistant(self, sess: OscSession, target: np.ndarray) -> Assistant:
        """A fresh assistant towards ``target`` (the chain starts empty)."""
        from serumrnn.server.assistant import Assistant

        # The verified loops simulate candidates from the first capture, the producer's dry
        # sound: on the session's profile's plugins, else on the open rack (in rack order);
        # the paper's loop renders only presets.
        renderer: Renderer | None = self.rack if self.loop != "paper" or sess.preset is not None else None
        if sess.profile is not None and self.loop != "paper":
            renderer = self.plugin_host(sess.profile, 0)
        return Assistant(
            sess.models,
            target,
            renderer=renderer,
            preset=sess.preset,
            tolerance=self.tolerance,
            loop=self.loop,
            k=self.k,
            refine_budget=self.refine_budget,
            fine_tune=self.fine_tune,
            extra=self.extra,
        )

    def on_target(self, req: Request, sess: OscSession) -> Reply:
        from serumrnn.server.audio_io import load_clip
        from serumrnn.server.pitch import to_model_note

        path = check_path(req.args["path"], req.request_id)
        moved = to_model_note(load_clip(path), Path(path).name, "target", sess.models.render_settings.note)
        # the target, its features and (preset input) the first state
        self.sessions.make_room(sess, 3 * SOUND_BYTES, req.request_id)
        with sess.lock:
            sess.assistant = None
            sess.target_audio = moved.audio
            sess.assistant = self.new_assistant(sess, moved.audio)
            sess.measure()
        midi = -1.0 if moved.midi is None else float(moved.midi)
        return [
            (
                f"{PREFIX}/target/reply",
                (req.request_id, sess.id, midi, float(moved.shift), moved.message or ""),
            )
        ]

    def on_step(self, req: Request, sess: OscSession) -> Reply:
        from serumrnn.server.audio_io import load_clip

        path = req.args.get("path") or None
        current = None
        if path is not None:
            if sess.preset is not None:
                raise ProtocolError(
                    "bad_args",
                    f"session {short_id(sess.id)} renders preset {sess.preset}: send the step without a path",
                    req.request_id,
                )
            from serumrnn.server.pitch import capture_to_model_note  # at the models' note, as match does

            current = capture_to_model_note(
                load_clip(check_path(path, req.request_id)), Path(path).name, sess.models.render_settings.note
            ).audio
        with sess.lock:
            a = sess.assistant
            if a is None:
                raise ProtocolError(
                    "no_target", f"the session has no target yet: send {PREFIX}/target first", req.request_id
                )
            stop = a.stop
            if stop is not None:
                raise ProtocolError("session_done", done_text(stop), req.request_id)
            if current is None and sess.preset is None:
                raise ProtocolError(
                    "no_current",
                    "give the path of the captured current sound (the session has no preset input)",
                    req.request_id,
                )
            self.sessions.make_room(sess, SOUND_BYTES, req.request_id)
            if path is not None:
                sess.last_path = path
            # The judge decides: a capture that shows the applied step made the sound
            # worse comes back as a take-back (verified loops) or a counted bad step (the
            # paper's loop), and the turn offers the next step unless the loop stopped.
            turn = a.advance(current=current)
            sess.measure()
            return osc.step_reply(req.request_id, sess.id, turn, renderer=self.renderer_of(sess))

    def renderer_of(self, sess: OscSession) -> str:
        """Which renderer simulated the session's candidates (the step reply says so)."""
        from serumrnn.server.rack.render import renderer_label

        if sess.profile is not None and self.loop != "paper":
            return renderer_label(self.plugin_host(sess.profile, 0))
        return renderer_label(self.rack) if self.rack is not None else "none"

    def on_undo(self, req: Request, sess: OscSession) -> Reply:
        with sess.lock:
            a = sess.assistant
            if a is None or not a.can_undo:
                raise ProtocolError("nothing_to_undo", "no step to undo", req.request_id)
            undone = a.undo()
            sess.measure()
            return [
                (
                    f"{PREFIX}/undo/reply",
                    (
                        req.request_id,
                        sess.id,
                        undone.steps_left,
                        undone.effect,
                        undone.enable.serum_name,
                        0.0,
                    ),
                )
            ]

    def on_reset(self, req: Request, sess: OscSession) -> Reply:
        from serumrnn.server import spec

        with sess.lock:
            off = () if sess.assistant is None else sess.assistant.effects_on
            if sess.target_audio is not None:
                sess.assistant = self.new_assistant(sess, sess.target_audio)
            sess.measure()
        names = tuple(spec.effect(e).enable.serum_name for e in off)
        return [(f"{PREFIX}/reset/reply", (req.request_id, sess.id, *names))]

    def on_end(self, req: Request, sess: OscSession) -> Reply:
        self.sessions.end(sess.id)
        return [(f"{PREFIX}/end/reply", (req.request_id, sess.id))]
