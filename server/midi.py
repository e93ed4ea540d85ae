"""A MIDI note or CC as "next step", so a producer can step from a controller.

The matching is pure (mido message objects in, a yes/no out) and tested without MIDI
hardware; only :func:`open_listener` touches a real port, through mido's default backend
(python-rtmidi).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

DEFAULT_TRIGGER = "note:36"  # C1: the first pad of most drum-pad controllers
#: A CC counts as pressed at or above this value (a button sends 127, then 0).
CC_ON = 64


class MidiError(RuntimeError):
    """A trigger that cannot be parsed, or a MIDI port that cannot be opened."""


@dataclass(frozen=True)
class Trigger:
    """Which message means "next step": a note-on or a CC, on one channel or any.

    ``channel`` is 1-16 as on a controller's display (mido counts 0-15), None for any.
    """

    kind: str  # "note" or "cc"
    number: int  # note number or controller number, 0-127
    channel: int | None = None

    def __post_init__(self) -> None:
        if self.kind not in ("note", "cc"):
            raise MidiError(f"trigger kind must be 'note' or 'cc', not {self.kind!r}")
        if not 0 <= self.number <= 127:
            raise MidiError(f"{self.kind} number {self.number} is outside 0-127")
        if self.channel is not None and not 1 <= self.channel <= 16:
            raise MidiError(f"MIDI channel {self.channel} is outside 1-16")

    @classmethod
    def parse(cls, text: str) -> Trigger:
        """'note:36', 'cc:64', or either with a channel: 'cc:64@2'."""
        body, _, chan = text.strip().partition("@")
        kind, sep, num = body.partition(":")
        try:
            if not sep:
                raise ValueError
            return cls(kind.lower(), int(num), int(chan) if chan else None)
        except ValueError:
            raise MidiError(
                f"bad MIDI trigger {text!r}: use note:N or cc:N, optionally "
                "@CHANNEL (1-16), e.g. note:36 or cc:64@1"
            ) from None

    def __str__(self) -> str:
        return f"{self.kind}:{self.number}" + (f"@{self.channel}" if self.channel else "")


class TriggerMatcher:
    """Feeds on incoming messages; says yes once per press.

    A note-on with velocity 0 is a note-off (running status), so it does not count. A CC
    counts when it rises to :data:`CC_ON` or above from below, so a button's release and
    a knob held high do not step again.
    """

    def __init__(self, trigger: Trigger):
        self.trigger = trigger
        self._cc_down = False

    # ``msg`` is a mido.Message: mido is untyped.
    def _channel_ok(self, msg: Any) -> bool:
        want = self.trigger.channel
        return want is None or getattr(msg, "channel", None) == want - 1

    def feed(self, msg: Any) -> bool:
        """True when ``msg`` (a ``mido.Message``) means "next step"."""
        t = self.trigger
        if not self._channel_ok(msg):
            return False
        if t.kind == "note":
            return bool(msg.type == "note_on" and msg.note == t.number and msg.velocity > 0)
        if msg.type != "control_change" or msg.control != t.number:
            return False
        down = msg.value >= CC_ON
        pressed = down and not self._cc_down
        self._cc_down = down
        return pressed


def open_listener(port_name: str, trigger: Trigger, on_step: Callable[[], object]) -> Any:
    """Open a MIDI input port that calls ``on_step`` for each trigger; returns the port
    (an untyped mido port: close it to stop). A missing backend or unknown port is a
    :class:`MidiError`."""
    import mido

    matcher = TriggerMatcher(trigger)

    def callback(msg: Any) -> None:
        if matcher.feed(msg):
            on_step()

    try:
        names = mido.get_input_names()
    except Exception as e:  # ImportError of the backend, or its own errors
        raise MidiError(
            f"no MIDI backend ({type(e).__name__}: {e}); install it with "
            "`.venv/bin/pip install python-rtmidi`"
        ) from None
    if port_name not in names:
        raise MidiError(f"no MIDI input {port_name!r}; inputs: {', '.join(names) or 'none'}")
    try:
        return mido.open_input(port_name, callback=callback)
    except Exception as e:
        raise MidiError(f"cannot open MIDI input {port_name!r}: {e}") from None
