"""The OSC protocol of the SerumRNN server as pure functions (no sockets).

``docs/protocol.md`` is the reference the Max for Live device implements; this module is
its code: the request signatures and their parsing, the error codes, and the reply
messages (a step reply encodes one :class:`~serumrnn.server.steps.Turn`). Bytes on the
wire (decoding, encoding, packing into datagrams) are :mod:`serumrnn.server.osc_wire`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

# The wire format's names, read through this module by the server, the device tooling and
# the tests (``osc.decode``, ``osc.encode``, ...); their one home is osc_wire.
from serumrnn.server.osc_wire import (  # noqa: F401
    MAX_DATAGRAM,
    DecodeError,
    Message,
    decode,
    encode,
    encode_fitting,
    loggable,
    pack,
    printable,
)

if TYPE_CHECKING:
    from serumrnn.server.steps import TuneStep, Turn

PREFIX = "/serumrnn"
PROTOCOL_VERSION = "3"
#: The request id of messages the server sends on its own (ready, MIDI-triggered steps)
#: and of errors for a request whose id could not be read.
NO_REQUEST = -1
#: Messages of one datagram (a bundle's) that the server runs; the rest get one error.
#: The device sends one message per datagram; the cap keeps a 64 kB bundle of tiny
#: messages from turning into thousands of replies.
MAX_MESSAGES = 16

#: Error codes the protocol adds to those of ``AudioInputError`` and ``ModelError``.
PROTOCOL_ERRORS: dict[str, str] = {
    "bad_packet": "the datagram is not a readable OSC message or bundle",
    "unknown_address": "no request has this address",
    "bad_args": "missing arguments or arguments of the wrong type",
    "unknown_session": "no open session has this id (ended, expired or never made)",
    "unknown_group": "not a preset group name",
    "unknown_preset": "not a preset of the open rack",
    "bad_profile": "the plugin profile cannot be found or read",
    "render_error": "the open rack could not render a preset input",
    "relative_path": "a file path must be absolute",
    "no_target": "a step before a target was set",
    "no_current": "a step without the path of the captured sound (and no preset input)",
    "session_done": "the assistant has stopped (its stop reason is in the last step reply's end)",
    "nothing_to_undo": "undo with no step taken",
    "busy": "the server has too many requests queued; retry shortly",
    "too_many_messages": "a datagram held more messages than the server runs from one",
    "too_many_sessions": "this address, or the server as a whole, has as many open sessions "
    "as it may keep (none idle enough to close)",
    "internal": "a fault in the server (logged); the server keeps running",
}


# -- requests -------------------------------------------------------------------------


@dataclass(frozen=True)
class Param:
    name: str
    tag: str  # "i" or "s"
    optional: bool = False
    repeat: bool = False


def _sig(text: str) -> tuple[Param, ...]:
    """'request_id:i path:s?' -> params; '?' optional, '*' zero or more."""
    out = []
    for part in text.split():
        name, tag = part.split(":")
        out.append(Param(name, tag.rstrip("?*"), tag.endswith("?"), tag.endswith("*")))
    return tuple(out)


#: Request name -> (address, signature). Every request starts with its request id.
REQUESTS: dict[str, tuple[str, tuple[Param, ...]]] = {
    "ping": (f"{PREFIX}/ping", _sig("request_id:i reply_port:i?")),
    "status": (f"{PREFIX}/status", _sig("request_id:i reply_port:i?")),
    "new": (f"{PREFIX}/new", _sig("request_id:i group:s options:s* reply_port:i?")),
    "target": (f"{PREFIX}/target", _sig("request_id:i session:s path:s")),
    "step": (f"{PREFIX}/step", _sig("request_id:i session:s path:s?")),
    "undo": (f"{PREFIX}/undo", _sig("request_id:i session:s")),
    "reset": (f"{PREFIX}/reset", _sig("request_id:i session:s")),
    "end": (f"{PREFIX}/end", _sig("request_id:i session:s")),
}
BY_ADDRESS = {addr: name for name, (addr, _) in REQUESTS.items()}
#: Requests that change a session: a retried id is answered from the reply cache.
MUTATING = frozenset({"new", "target", "step", "undo", "reset", "end"})


class ProtocolError(Exception):
    """A request the server answers with ``/serumrnn/error``: ``code`` is stable."""

    def __init__(self, code: str, message: str, request_id: int = NO_REQUEST):
        super().__init__(message)
        self.code, self.request_id = code, request_id


@dataclass(frozen=True)
class Request:
    name: str
    address: str
    request_id: int
    args: dict[str, Any] = field(default_factory=dict)

    @property
    def session(self) -> str:
        return str(self.args.get("session", ""))


def signature_text(name: str) -> str:
    """'/serumrnn/step request_id:i session:s [path:s]' for error messages and docs."""
    addr, params = REQUESTS[name]
    parts = []
    for p in params:
        t = f"{p.name}:{p.tag}"
        parts.append(f"[{t} ...]" if p.repeat else f"[{t}]" if p.optional else t)
    return " ".join([addr, *parts])


def _matches(tag: str, types: str, i: int) -> bool:
    have = types[i] if i < len(types) else ""
    return have in ("i", "h") if tag == "i" else have in ("s", "S")


def request_id_of(msg: Message) -> int:
    """The request id if the first argument is one, else :data:`NO_REQUEST`."""
    if msg.args and msg.types[:1] in ("i", "h") and not isinstance(msg.args[0], bool):
        return int(msg.args[0])
    return NO_REQUEST


def parse_request(msg: Message) -> Request:
    """A checked request, or :class:`ProtocolError` (unknown_address / bad_args)."""
    rid = request_id_of(msg)
    name = BY_ADDRESS.get(msg.address)
    if name is None:
        raise ProtocolError(
            "unknown_address",
            f"unknown address {printable(msg.address)!r}; "
            f"requests: {', '.join(a for a, _ in REQUESTS.values())}",
            rid,
        )
    _, params = REQUESTS[name]
    values: dict[str, Any] = {}
    i = 0
    for p in params:
        if p.repeat:
            got = []
            while i < len(msg.args) and _matches(p.tag, msg.types, i):
                got.append(msg.args[i])
                i += 1
            values[p.name] = tuple(got)
        elif i < len(msg.args) and _matches(p.tag, msg.types, i):
            values[p.name] = int(msg.args[i]) if p.tag == "i" else msg.args[i]
            i += 1
        elif not p.optional:
            found = "nothing" if i >= len(msg.args) else f"type {msg.types[i]!r}"
            raise ProtocolError(
                "bad_args",
                f"{p.name} ({p.tag}) expected as argument {i + 1}, "
                f"got {found}; usage: {signature_text(name)}",
                rid,
            )
    if i < len(msg.args):
        raise ProtocolError(
            "bad_args",
            f"{len(msg.args) - i} unexpected argument(s) from "
            f"argument {i + 1} (types {msg.types[i:]!r}); usage: "
            f"{signature_text(name)}",
            rid,
        )
    return Request(name, msg.address, values.pop("request_id"), values)


# -- replies --------------------------------------------------------------------------

Reply = list[tuple[str, tuple[Any, ...]]]  # (address, args) in sending order


def unpadded(msg: Message) -> Message:
    """``msg`` without a trailing blob: padding a client adds so that a reply to an
    address it has not proved may be as long as the request (see docs/protocol.md)."""
    if msg.types.endswith("b") and msg.args:
        return Message(msg.address, msg.args[:-1], msg.types[:-1], msg.size)
    return msg


def pong(request_id: int, groups: str, sessions: int) -> Reply:
    """The reply to ``ping``: the protocol version, the groups served, the open sessions."""
    return [(f"{PREFIX}/pong", (request_id, PROTOCOL_VERSION, groups, sessions))]


#: The answer to a retried request id whose first copy is still queued or running.
WORKING = f"{PREFIX}/working"


def working(request_id: int, name: str, session: str) -> Reply:
    """``working``: the request arrived and is queued or running; its reply will come.
    Why: a step on a producer's plugins can take half a minute, and without it a device
    cannot tell a long step from a lost request or a stuck server."""
    return [(WORKING, (request_id, name, session))]


def is_final(address: str) -> bool:
    """Whether a reply message completes its request: all do, except ``working`` and the
    parts of a step reply before ``/serumrnn/step/end``."""
    if address == WORKING:
        return False
    return not address.startswith(f"{PREFIX}/step/") or address == f"{PREFIX}/step/end"


def error_reply(request_id: int, code: str, message: str, address: str = "", session: str = "") -> Reply:
    return [(f"{PREFIX}/error", (request_id, code, message, address, session))]


def fit_error(
    request_id: int,
    code: str,
    message: str,
    address: str = "",
    session: str = "",
    *,
    budget: int,
    limit: int = MAX_DATAGRAM,
    short_message: str | None = None,
) -> bytes | None:
    """One ``/serumrnn/error`` datagram of at most ``budget`` bytes (the size of the request
    it answers), or None when not even the bare error fits.

    A reply never outgrows its request, so the server cannot amplify a flood of small
    requests (or reflect one at a forged sender). To fit, the echoed ``address`` and
    ``session`` go first (the request id already names the request), then the message
    becomes ``short_message`` (e.g. without the path the client sent), then it is cut
    with "…".
    """
    cap = min(budget, limit)
    addr = f"{PREFIX}/error"
    tries = [(message, address, session), (message, "", session), (message, "", "")]
    if short_message is not None:
        tries.append((short_message, "", ""))
    for m, a, s in tries:
        data = encode(addr, (request_id, code, m, a, s))
        if len(data) <= cap:
            return data
    # the longest cut of the message that fits, found by its UTF-8 length (no re-encoding
    # per try: under a flood of failing requests, this runs for every one)
    text = printable(tries[-1][0])
    room = cap - len(encode(addr, (request_id, code, "", "", ""))) + 4  # the message's field
    most = room - room % 4 - 1 - len("…".encode())  # its longest text before the "…"
    cut = text.encode("utf-8")[: max(0, most)].decode("utf-8", "ignore") if most > 0 else ""
    data = encode(addr, (request_id, code, cut + "…" if cut else "", "", ""))
    return data if len(data) <= cap else None


def min_error_bytes(code: str, request_id: int = 0) -> int:
    """The size of the barest error reply with ``code``: requests shorter than this that
    fail get no reply (see :func:`fit_error`)."""
    return len(encode(f"{PREFIX}/error", (request_id, code, "", "", "")))


def step_reply(
    request_id: int, session: str, turn: Turn, *, stop_metric: str = "mse", renderer: str | None = None
) -> Reply:
    """The messages of a step reply (see docs/protocol.md, "step"): the verdict on the
    previous captured step (and its take-back), the effect, each knob and fixed knob as
    (Serum name, 0..1 value, text), the distances, then ``end``.

    ``turn.report`` is None when no step is offered: the loop stopped (the capture showed
    the previous step made the sound worse and the stopping rule fired, or no effect is
    left that brings it closer).
    """
    out: Reply = []
    head = (request_id, session)
    judged, report = turn.judged, turn.report
    if judged is not None:
        out.append(
            (
                f"{PREFIX}/step/judged",
                head
                + (
                    judged.step,
                    int(judged.improved),
                    float(judged.before[stop_metric]),
                    float(judged.after[stop_metric]),
                ),
            )
        )
        if judged.take_back:  # the verified loops' take-back
            out.append(
                (
                    f"{PREFIX}/step/takeback",
                    head + (judged.step, judged.effect, judged.enable.serum_name, 0.0, judged.text),
                )
            )
    if report is not None:
        en = report.enable
        out.append(
            (
                f"{PREFIX}/step/effect",
                head
                + (
                    report.step,
                    report.effect,
                    report.label,
                    en.serum_name,
                    float(en.value),
                    float(report.confidence),
                ),
            )
        )
        for k in report.knobs:
            out.append((f"{PREFIX}/step/knob", head + (k.serum_name, float(k.value), k.text, k.label)))
        for k in report.fixed:
            out.append((f"{PREFIX}/step/fixed", head + (k.serum_name, float(k.value), k.text)))
        out += distance_messages(head, report.before, report.after)
    tune = turn.tune
    if tune is not None:
        out += tune_messages(head, tune)
    offered = report if report is not None else tune
    if offered is not None and renderer is not None:
        # which renderer simulated this step's candidates, and what judges it: the next
        # capture (Live) or that renderer's own render (a preset session)
        judged_by = "capture" if offered.after is None else renderer
        out.append((f"{PREFIX}/step/renderer", head + (renderer, judged_by)))
    out.append(
        (
            f"{PREFIX}/step/end",
            head
            + (
                turn.step,
                offered.effect if offered is not None else "",
                int(turn.done),
                turn.reason,
                turn.best_step,
                offered.instruction if offered is not None else turn.done_text,
                len(out) + 1,
            ),
        )
    )
    return out


def distance_messages(
    head: tuple[int, str], before: dict[str, float], after: dict[str, float] | None
) -> Reply:
    """One ``/step/distance`` per metric: before the step and after it (0 and not known
    until the new sound is)."""
    out: Reply = []
    for metric, b in before.items():
        a = None if after is None else after.get(metric)
        out.append(
            (
                f"{PREFIX}/step/distance",
                head + (metric, float(b), float(a) if a is not None else 0.0, int(a is not None)),
            )
        )
    return out


def tune_messages(head: tuple[int, str], tune: TuneStep) -> Reply:
    """The fine-tune offered as a step: how many knobs it moves, each knob (Serum name,
    new 0..1 value and text, label, the value and text it had, the effect's label: enough
    to set it back without reading it), then the distances."""
    out: Reply = [(f"{PREFIX}/step/tune", head + (tune.step, float(tune.improvement), len(tune.changes)))]
    for c in tune.changes:
        out.append(
            (
                f"{PREFIX}/step/tune/knob",
                head
                + (
                    c.serum_name,
                    float(c.serum_value),
                    c.after_text,
                    c.label,
                    float(c.serum_before),
                    c.before_text,
                    c.effect_label,
                ),
            )
        )
    out += distance_messages(head, tune.before, tune.after)
    return out


def to_datagrams(reply: Reply, limit: int = MAX_DATAGRAM, *, bundles: bool = True) -> list[bytes]:
    """Encode and pack a reply; every datagram fits ``limit`` bytes."""
    per_message = limit - 20 if bundles else limit  # room for a bundle's header
    return pack((encode_fitting(a, args, per_message) for a, args in reply), limit, bundles=bundles)
