// The SerumRNN OSC protocol (docs/protocol.md) as plain lists, the form Max's udpsend
// takes and udpreceive gives: [address, arg, arg, ...]. No Max or Live globals, so node
// runs the same file in the tests.
//
// ES5 only: Max's js object runs an old JavaScript (no let/const, arrows, classes).

var PREFIX = "/serumrnn";
// The server's UDP port unless the panel's Port box says otherwise (server.osc_server.DEFAULT_PORT).
var SERVER_PORT = 9870;
var PROTOCOL_VERSION = "3";   // server.osc.PROTOCOL_VERSION; compared at ping
// The request id of messages the server sends on its own (ready, MIDI-triggered steps).
var NO_REQUEST = -1;
// How long to wait for a reply before resending the same request id (protocol: "say 2 s").
// A step waits longest: the server ignores a resend while the step runs, and on a
// producer's plugins the turn that ends the steps and searches a fine-tune round (or a round
// that finds nothing and then the freed round) took up to 30.6 s on this project's idle
// 2-core test machine (docs/results/history/step_turn_time.json). 3 sends of 15 s: 45 s
// before the server counts as down; a lost datagram costs 15 s.
var TIMEOUT_MS = { ping: 1500, status: 1500, "new": 2000, target: 4000, step: 15000,
                   undo: 2000, reset: 2000, end: 2000 };
// Sends of one request before the server counts as unreachable.
var MAX_TRIES = 3;
// A resend of a request the server is still on is answered /serumrnn/working: then resend
// every WORKING_POLL_MS (each answer says it is still on it) and give up on the request,
// not on the server, once it has been on it MAX_WORKING_MS (a step that long is stuck).
var WORKING_POLL_MS = 5000;
var MAX_WORKING_MS = 180000;

var ADDRESSES = {
  ping: PREFIX + "/ping", status: PREFIX + "/status", "new": PREFIX + "/new",
  target: PREFIX + "/target", step: PREFIX + "/step", undo: PREFIX + "/undo",
  reset: PREFIX + "/reset", end: PREFIX + "/end"
};

// -- requests ---------------------------------------------------------------------------

// Request ids must not repeat within a session for two minutes, also across a reload of
// the device, and two devices (two Serum tracks) must not hand out the same ids, so each
// counter starts at a random point (the server answers a repeated id from its cache).
var ID_SPAN = 1000000000;
function randomIdStart(random) {
  return 1 + Math.floor(random() * ID_SPAN);
}
function IdCounter(start) {
  this.next = Math.max(1, Math.floor(Number(start) || 1));
}
IdCounter.prototype.take = function () {
  var id = this.next;
  this.next = id >= 2147483000 ? 1 : id + 1;  // stays an OSC int32
  return id;
};

// Each device listens on its own UDP port (udpreceive's "port N"; Cycling '74's udpreceive
// reference) and names it in ping and new, so two instances never share one. Ports are
// drawn from a block next to the server's (9870) so a firewall rule can allow them.
var REPLY_PORT_FIRST = 9872;
var REPLY_PORT_COUNT = 1000;
function pickReplyPort(random, avoid) {
  for (var i = 0; i < 8; i++) {
    var port = REPLY_PORT_FIRST + Math.floor(random() * REPLY_PORT_COUNT);
    if (port !== avoid) return port;
  }
  return avoid === REPLY_PORT_FIRST ? REPLY_PORT_FIRST + 1 : REPLY_PORT_FIRST;
}

function isInt(x) {
  return typeof x === "number" && isFinite(x) && Math.floor(x) === x;
}

// Every request is [address, request_id, ...]; only ints and strings are sent, so the
// request list says its own OSC types (an integral number is an int).
function ping(id, replyPort) { return [ADDRESSES.ping, id, replyPort]; }
function status(id, replyPort) { return [ADDRESSES.status, id, replyPort]; }
function newSession(id, group, options, replyPort) {
  return [ADDRESSES["new"], id, String(group)].concat(options || [], [replyPort]);
}
function target(id, session, path) { return [ADDRESSES.target, id, session, path]; }
function step(id, session, path) {
  return path ? [ADDRESSES.step, id, session, path] : [ADDRESSES.step, id, session];
}
function undo(id, session) { return [ADDRESSES.undo, id, session]; }
function reset(id, session) { return [ADDRESSES.reset, id, session]; }
function end(id, session) { return [ADDRESSES.end, id, session]; }

function requestName(list) {
  for (var k in ADDRESSES) {
    if (Object.prototype.hasOwnProperty.call(ADDRESSES, k) && ADDRESSES[k] === list[0]) return k;
  }
  return null;
}

// -- replies ----------------------------------------------------------------------------

// address -> [kind, field names after the request id, types]. "s" text, "f" number,
// "i" integer, "b" 0/1 flag; "*" collects the rest as text.
var REPLIES = {};
REPLIES[PREFIX + "/pong"] = ["pong", ["protocol", "groups", "sessions"], "ssi"];
REPLIES[PREFIX + "/status/reply"] = ["status", ["protocol", "groups", "sessions", "requests",
                                                "errors", "uptime"], "ssiiif"];
REPLIES[PREFIX + "/new/reply"] = ["new", ["session", "group", "profile", "input"], "ssss"];
REPLIES[PREFIX + "/target/reply"] = ["target", ["session", "detectedMidi", "shift", "note"],
                                     "sffs"];
REPLIES[PREFIX + "/step/judged"] = ["judged", ["session", "step", "improved", "before", "after"],
                                    "sibff"];
// verified loops: the judged step made the sound worse; switch `enable` to `value` now
REPLIES[PREFIX + "/step/takeback"] = ["takeback", ["session", "step", "effect", "enable", "value",
                                                   "text"], "sissfs"];
REPLIES[PREFIX + "/step/effect"] = ["effect", ["session", "step", "effect", "label", "enable",
                                               "value", "confidence"], "sisssff"];
// a fine-tune of the effects already on (no effect switched on), in place of /step/effect:
// `knobs` /step/tune/knob messages follow; `improvement` is the expected share (0..1) of the
// current distance it removes
REPLIES[PREFIX + "/step/tune"] = ["tune", ["session", "step", "improvement", "knobs"], "sifi"];
// one knob of a fine-tune: its new value, and the one it had before (to set it back)
REPLIES[PREFIX + "/step/tune/knob"] = ["tuneKnob", ["session", "name", "value", "text", "label",
                                                    "before", "beforeText", "effectLabel"],
                                       "ssfssfss"];
REPLIES[PREFIX + "/step/knob"] = ["knob", ["session", "name", "value", "text", "label"],
                                  "ssfss"];
REPLIES[PREFIX + "/step/fixed"] = ["fixed", ["session", "name", "value", "text"], "ssfs"];
REPLIES[PREFIX + "/step/distance"] = ["distance", ["session", "metric", "before", "after",
                                                   "afterKnown"], "ssffb"];
// which renderer simulated the step's candidates, and what judges it (the next capture, or
// that renderer's own render)
REPLIES[PREFIX + "/step/renderer"] = ["renderer", ["session", "renderer", "judgedBy"], "sss"];
REPLIES[PREFIX + "/step/end"] = ["end", ["session", "step", "effect", "done", "reason",
                                         "bestStep", "instruction", "messages"], "sisbsisi"];
REPLIES[PREFIX + "/undo/reply"] = ["undo", ["session", "steps", "effect", "enable", "value"],
                                   "sissf"];
REPLIES[PREFIX + "/reset/reply"] = ["reset", ["session", "enables"], "s*"];
REPLIES[PREFIX + "/end/reply"] = ["ended", ["session"], "s"];
REPLIES[PREFIX + "/error"] = ["error", ["code", "message", "address", "session"], "ssss"];
// the answer to a resend of a request still queued or running: its reply is still to come
REPLIES[PREFIX + "/working"] = ["working", ["request", "session"], "ss"];

function coerce(value, type) {
  if (type === "s") return value === undefined || value === null ? "" : String(value);
  var n = Number(value);
  if (typeof value === "string" && value === "") n = NaN;
  if (!isFinite(n)) return undefined;
  if (type === "i") return isInt(n) ? n : undefined;
  if (type === "b") return n === 0 || n === 1 ? n === 1 : undefined;
  return n;
}

// One reply message as an object: {kind, requestId, ...fields}, or {kind: "malformed",
// reason} when its arguments do not fit the protocol, or null for an address that is not
// a reply (the device ignores it). `args` are what udpreceive hands over after the address.
function parseMessage(address, args) {
  args = args || [];
  if (address === PREFIX + "/ready") {
    return { kind: "ready", requestId: NO_REQUEST, protocol: String(args[0]),
             groups: splitGroups(args[1]), port: Number(args[2]) };
  }
  if (address === PREFIX + "/stopped") return { kind: "stopped", requestId: NO_REQUEST };
  var spec = REPLIES[address];
  if (!spec) return null;
  var rid = coerce(args[0], "i");
  if (rid === undefined) return { kind: "malformed", address: address, reason: "no request id" };
  var out = { kind: spec[0], requestId: rid, address: address };
  var names = spec[1], types = spec[2];
  for (var i = 0; i < names.length; i++) {
    var t = types.charAt(i);
    if (t === "*") {
      var rest = [];
      for (var j = i + 1; j < args.length; j++) rest.push(String(args[j]));
      out[names[i]] = rest;
      return out;
    }
    if (i + 1 >= args.length) {
      return { kind: "malformed", address: address, requestId: rid,
               reason: "missing " + names[i] };
    }
    var v = coerce(args[i + 1], t);
    if (v === undefined) {
      return { kind: "malformed", address: address, requestId: rid,
               reason: names[i] + " is not " + ({ i: "an integer", f: "a number", b: "0 or 1" })[t] };
    }
    out[names[i]] = v;
  }
  if (out.kind === "pong" || out.kind === "status") out.groups = splitGroups(out.groups);
  return out;
}

function splitGroups(text) {
  var s = text === undefined || text === null ? "" : String(text);
  return s ? s.split(",") : [];
}

// Whether a message completes its request: all do except working and the parts of a step
// reply before /serumrnn/step/end (the same rule as server.osc.is_final).
function isFinal(msg) {
  var k = msg.kind;
  return !(k === "working" || k === "judged" || k === "takeback" || k === "effect" ||
           k === "knob" || k === "fixed" || k === "distance" || k === "renderer" ||
           k === "tune" || k === "tuneKnob");
}

// -- step replies -----------------------------------------------------------------------

// Gathers the messages of step replies by request id. A reply may come in several
// datagrams and one may be lost; /step/end says how many messages there were, so a short
// reply is known to be incomplete (the device then resends the same id and the server
// replays its cached reply). Parts are keyed (knob by name, distance by metric), so a
// replayed copy replaces rather than doubles them (a fine-tune's knobs by name too).
function StepAssembler() {
  this.pending = {};
}
StepAssembler.prototype.add = function (msg) {
  var key = String(msg.requestId);
  var r = this.pending[key];
  if (!r) {
    r = this.pending[key] = { judged: null, takeback: null, effect: null, knobs: {},
                              knobOrder: [], fixed: {}, fixedOrder: [], distances: {},
                              distanceOrder: [], renderer: null, tune: null, tuneKnobs: {},
                              tuneKnobOrder: [] };
  }
  if (msg.kind === "judged") r.judged = msg;
  else if (msg.kind === "takeback") r.takeback = msg;
  else if (msg.kind === "effect") r.effect = msg;
  else if (msg.kind === "knob") keep(r.knobs, r.knobOrder, msg.name, msg);
  else if (msg.kind === "fixed") keep(r.fixed, r.fixedOrder, msg.name, msg);
  else if (msg.kind === "distance") keep(r.distances, r.distanceOrder, msg.metric, msg);
  else if (msg.kind === "renderer") r.renderer = msg;
  else if (msg.kind === "tune") r.tune = msg;
  else if (msg.kind === "tuneKnob") keep(r.tuneKnobs, r.tuneKnobOrder, msg.name, msg);
  else if (msg.kind === "end") {
    var reply = {
      requestId: msg.requestId, session: msg.session, judged: r.judged, takeback: r.takeback,
      effect: r.effect,
      knobs: values(r.knobs, r.knobOrder), fixed: values(r.fixed, r.fixedOrder),
      distances: values(r.distances, r.distanceOrder), renderer: r.renderer,
      tune: r.tune, tuneKnobs: values(r.tuneKnobs, r.tuneKnobOrder), end: msg
    };
    reply.received = 1 + (reply.judged ? 1 : 0) + (reply.takeback ? 1 : 0) +
      (reply.effect ? 1 : 0) + (reply.renderer ? 1 : 0) + reply.knobs.length + reply.fixed.length + reply.distances.length +
      (reply.tune ? 1 : 0) + reply.tuneKnobs.length;
    // /step/tune says how many knobs follow: all of them, or the reply is not whole
    reply.complete = reply.received === msg.messages &&
      (!reply.tune || reply.tune.knobs === reply.tuneKnobs.length);
    return reply;
  }
  return null;
};
StepAssembler.prototype.forget = function (requestId) {
  delete this.pending[String(requestId)];
};

function keep(map, order, key, msg) {
  if (!Object.prototype.hasOwnProperty.call(map, key)) order.push(key);
  map[key] = msg;
}
function values(map, order) {
  var out = [];
  for (var i = 0; i < order.length; i++) out.push(map[order[i]]);
  return out;
}

// The Serum values a step sets, in order: the enable switch, the knobs the model chose,
// then the fixed knobs. [{name, value, text, label, role}]
function stepValues(reply) {
  var out = [];
  if (!reply.effect) return out;
  out.push({ name: reply.effect.enable, value: reply.effect.value, text: "On",
             label: reply.effect.label, role: "enable" });
  var i;
  for (i = 0; i < reply.knobs.length; i++) {
    var k = reply.knobs[i];
    out.push({ name: k.name, value: k.value, text: k.text, label: k.label, role: "knob" });
  }
  for (i = 0; i < reply.fixed.length; i++) {
    var f = reply.fixed[i];
    out.push({ name: f.name, value: f.value, text: f.text, label: f.name, role: "fixed" });
  }
  return out;
}

// /step/end's, /step/takeback's and /undo/reply's effect for a fine-tune.
var FINE_TUNE = "fine_tune";

// Whether a take-back (or an undo reply) is of a fine-tune: there is no switch to turn off.
function isTune(msg) {
  return !!msg && (msg.effect === FINE_TUNE || msg.enable === "");
}

// The Serum values a fine-tune sets, in order: [{name, value, text, label, role: "knob",
// before, beforeText, effectLabel}], `before`/`beforeText` what the knob had before it.
function tuneValues(reply) {
  var out = [];
  if (!reply.tune) return out;
  for (var i = 0; i < reply.tuneKnobs.length; i++) {
    var k = reply.tuneKnobs[i];
    out.push({ name: k.name, value: k.value, text: k.text, label: k.label, role: "knob",
               before: k.before, beforeText: k.beforeText, effectLabel: k.effectLabel });
  }
  return out;
}

// -- paths ------------------------------------------------------------------------------

// The server needs absolute native paths; live.drop and Max hand out Max's style (the
// "conformpath" reference): "Macintosh HD:/Users/me/a.wav" on macOS, "C:/Users/me/a.wav"
// on Windows. On macOS the boot volume's files live at "/..." and every other volume's
// at "/Volumes/<name>/..."; `bootVolume` is the boot volume's name (from the home folder,
// see serumrnn_device.js); when it is not known, "/Volumes/<name>" is used, which also
// reaches the boot volume (macOS lists it there as a link to "/"). A path that is
// already native comes back as it is (Windows backslashes become slashes). `os` is Max's
// max.os ("macintosh" | "windows"); without it a drive letter means Windows.
function nativePath(path, bootVolume, os) {
  var p = String(path);
  var windows = os === "windows" || (os !== "macintosh" && /^[A-Za-z]:[/\\]/.test(p));
  if (windows) {
    if (/^[A-Za-z]:[/\\]/.test(p)) return p.charAt(0).toUpperCase() + p.slice(1).replace(/\\/g, "/");
    return p.replace(/\\/g, "/");             // UNC (//server/share/...) or already odd
  }
  var m = /^([^/:]+):(\/.*)$/.exec(p);
  if (m) {
    if (bootVolume && m[1] === bootVolume) return m[2];
    return "/Volumes/" + m[1] + m[2];
  }
  return p;
}

// The volume name of a Max-style macOS path ("Macintosh HD:/Users/me" -> "Macintosh HD"),
// or "" for anything else.
function volumeOf(maxPath) {
  var m = /^([^/:]+):\//.exec(String(maxPath));
  return m ? m[1] : "";
}

function isAbsolute(path) {
  var p = String(path);
  return p.charAt(0) === "/" || /^[A-Za-z]:[/\\]/.test(p);
}

var api = {
  PREFIX: PREFIX, PROTOCOL_VERSION: PROTOCOL_VERSION, NO_REQUEST: NO_REQUEST,
  TIMEOUT_MS: TIMEOUT_MS, MAX_TRIES: MAX_TRIES, WORKING_POLL_MS: WORKING_POLL_MS,
  MAX_WORKING_MS: MAX_WORKING_MS, ADDRESSES: ADDRESSES, REPLIES: REPLIES,
  IdCounter: IdCounter, randomIdStart: randomIdStart, ID_SPAN: ID_SPAN, isInt: isInt,
  SERVER_PORT: SERVER_PORT, REPLY_PORT_FIRST: REPLY_PORT_FIRST, REPLY_PORT_COUNT: REPLY_PORT_COUNT,
  pickReplyPort: pickReplyPort, volumeOf: volumeOf,
  ping: ping, status: status, newSession: newSession, target: target, step: step,
  undo: undo, reset: reset, end: end, requestName: requestName,
  parseMessage: parseMessage, isFinal: isFinal, StepAssembler: StepAssembler,
  stepValues: stepValues, tuneValues: tuneValues, isTune: isTune, FINE_TUNE: FINE_TUNE,
  nativePath: nativePath, isAbsolute: isAbsolute
};
// CommonJS in node and in Max's require(); a plain global when loaded another way.
if (typeof exports !== "undefined") { for (var key in api) exports[key] = api[key]; }
