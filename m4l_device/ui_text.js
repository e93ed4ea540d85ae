// Every sentence the device shows a producer, in one place, so wording changes here only.
// Pure functions of plain values: no Max or Live globals (node tests run this file).
//
// ES5 only: Max's js object runs an old JavaScript.

var SERVE_COMMAND = "serumrnn serve";

function percent(x) {
  return Math.round(Number(x) * 100) + " %";
}

// A step's `confidence`: in the verified loops (the server's default) the share of the
// current difference to the target that the step removed on the server's simulated render;
// in the paper's loop the selector's probability.
function confidence(c, verified) {
  if (c === null || c === undefined || !isFinite(Number(c))) return "";
  return verified ? "Expected to remove " + percent(c) + " of the difference"
                  : "Selector " + percent(c) + " sure";
}

// "Turn on Distortion: Mode Tube, Drive 72 %" from the step reply's parts; the server
// sends the same sentence in /step/end, which wins when present.
function instruction(reply) {
  if (!reply || !reply.effect) return "";
  if (reply.end && reply.end.instruction) return reply.end.instruction;
  var parts = [];
  for (var i = 0; i < reply.knobs.length; i++) {
    parts.push(reply.knobs[i].label + " " + reply.knobs[i].text);
  }
  return "Turn on " + reply.effect.label + (parts.length ? ": " + parts.join(", ") : "");
}

// "Fine-tune: Hall Reverb Mix 42 % -> 38 %" from a fine-tune reply's knobs; the server's
// sentence in /step/end wins when present.
function tuneInstruction(reply) {
  if (!reply || !reply.tune) return "";
  if (reply.end && reply.end.instruction) return reply.end.instruction;
  var parts = [];
  for (var i = 0; i < reply.tuneKnobs.length; i++) {
    var k = reply.tuneKnobs[i];
    parts.push((k.effectLabel ? k.effectLabel + " " : "") + k.label + " " + k.beforeText +
               " \u2192 " + k.text);
  }
  return "Fine-tune" + (parts.length ? ": " + parts.join(", ") : "");
}

function stepTitle(step, effectLabel) {
  return "Step " + step + (effectLabel ? ": " + effectLabel : "");
}

function fixed3(x) {
  return (Math.round(Number(x) * 1000) / 1000).toString();
}

// What the capture sent with this step said about the previous step.
function judged(j) {
  if (!j) return "";
  var d = " (distance " + fixed3(j.before) + " \u2192 " + fixed3(j.after) + ")";
  return j.improved ? "Step " + j.step + " brought the sound closer" + d
                    : "Step " + j.step + " moved the sound away" + d;
}

// Why a session is done, by the server's stop reason (docs/protocol.md, step/end).
// "{effects}" is the number of effects in the spec (serumrnn_spec.js), filled in by doneReason.
var DONE_REASONS = {
  already_matches: "Done: the sound already matches the target, no step needed.",
  reached: "Done: the sound now matches the target.",
  no_closer: "Done: no remaining effect brings it closer.",
  all_effects: "Done: all {effects} effects are on.",
  worse: "Done: further steps made the sound worse."
};

function doneReason(reason, effectCount) {
  if (!Object.prototype.hasOwnProperty.call(DONE_REASONS, reason)) return "Done (" + reason + ").";
  return DONE_REASONS[reason].replace("{effects}", String(effectCount));
}

// The session is done: say why and, in the paper's loop (which keeps unjudged steps), how
// to get back to the best step. In the verified loops the best step is the current one.
// effectCount: the number of effects in the spec.
function done(end, appliedSteps, effectCount) {
  if (!end || !end.done) return "";
  var why = doneReason(end.reason, effectCount);
  if (end.reason === "already_matches") return why;
  var back = appliedSteps - end.bestStep;
  if (back <= 0) return why;             // the sound now is the best one: nothing to undo
  if (end.bestStep === 0) return why + " The sound was closest before any step: press Reset.";
  return why + " Best after step " + end.bestStep + ": press Undo " +
    (back === 1 ? "once." : back + " times.");
}

function serverReady(groups) {
  return "Server ready" + (groups && groups.length ? " (" + groups.join(", ") + ")" : "");
}

// The device starts the server itself (server_launcher.js); while it does not answer, the
// status line shows what the launcher last said, else this.
function serverDown(port) {
  return "Server not answering" + (port ? " on port " + port : "") + ": starting it";
}

// The server speaks another protocol version than this device: nothing is sent to it.
function versionMismatch(server, device) {
  return "Server speaks protocol " + server + ", this device " + device +
    ": update the device and the server to the same SerumRNN release";
}

function serverStopped() {
  return "Server stopped: starting it again";
}

// The panel's port number box: what a port outside the usable range gets.
function badPort(port) {
  return "Server port " + port + " is not between 1024 and 65535";
}

function noSerum() {
  return "No Serum plugin on this track: SerumRNN tells you each setting and you press Done" +
    " (put SerumRNN after Serum on its track to let it turn the knobs)";
}

// The serum line for a found Serum (`found` from LiveAdapter.find): which Serum, and
// whether the device turns every knob or tells the producer some settings (instruction
// mode). The full Configure list goes to its own display (configure()).
function serumSummary(found) {
  var missing = found.missing || [], n = 0;
  for (var i = 0; i < missing.length; i++) n += missing[i].names.length;
  var name = found.name || "Serum";
  if (!n) return serumFound(name, found.leaveAtDefault);
  if (found.version === 2) {
    return name + " (Serum 2) found: it shows its effects to Live only as FX Main Param slots," +
      " so SerumRNN tells you each setting and you press Done (it sets the slots you assigned)";
  }
  return name + " found: " + n + " knobs are not configured, so SerumRNN tells you those" +
    " settings and you press Done. To let it turn them, see the Configure list";
}

// Settings to make by hand, in Serum's words: values [{effectLabel, word, text, role}]
// grouped by effect in order: "Distortion: switch it on, Mode HardClip, Drive 80 %". A
// value that says what the knob had (`beforeText`, a fine-tune's) reads "Mix 42 % -> 38 %".
function handSettings(values) {
  var groups = [], byEffect = {};
  for (var i = 0; i < (values || []).length; i++) {
    var v = values[i];
    var key = v.effectLabel || "Serum";
    if (!Object.prototype.hasOwnProperty.call(byEffect, key)) {
      byEffect[key] = [];
      groups.push(key);
    }
    if (v.role === "enable") byEffect[key].push(/^on$/i.test(v.text) ? "switch it on" : "switch it off");
    else {
      byEffect[key].push((v.word || v.label || v.name) + " " +
                         (v.beforeText ? v.beforeText + " \u2192 " : "") + v.text);
    }
  }
  var parts = [];
  for (var g = 0; g < groups.length; g++) parts.push(groups[g] + ": " + byEffect[groups[g]].join(", "));
  return parts.join("; ");
}

// Instruction mode: the step's settings the device could not make. `what` names a step
// that switches no effect on ("fine-tune").
function byHandInstruction(step, values, what) {
  return "Step " + step + (what ? ", " + what : "") + ", in Serum's FX tab: " + handSettings(values);
}

// The server took the fine-tune back and Live could not set its knobs: the producer sets
// them back (values from the fine-tune's new values to its old ones).
function tuneBackByHand(values) {
  return "Set the fine-tune back, in Serum's FX tab: " + handSettings(values);
}

// Undo put back a step: its effect's label, or the fine-tune.
function tookBack(label) {
  if (label === TUNE_LABEL) return "Took back the fine-tune";
  return "Took back " + (label || "the last step");
}

// Undo took back a fine-tune: the server offers none after it, so the session is done.
function tuneUndone() {
  return "Took back the fine-tune; the session is done. Press Undo again to take back the step before it";
}

// The label of a fine-tune's entry in the Live adapter's history (and of Undo's line).
var TUNE_LABEL = "Fine-tune";

function pressDone(midi) {
  return "Set this in Serum, then press Done and " + playPrompt(midi, "so SerumRNN hears it").charAt(0).toLowerCase() +
    playPrompt(midi, "so SerumRNN hears it").slice(1);
}

// Note names as Live shows them: MIDI 60 is C3, so the models' note 48 is C2 (Live names
// notes an octave lower than scientific pitch, where 48 is C3; see README).
var NOTE_NAMES = ["C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B"];
function liveNoteName(midi) {
  var n = Math.round(Number(midi));
  return NOTE_NAMES[((n % 12) + 12) % 12] + (Math.floor(n / 12) - 2);
}

// "C2 in Live, MIDI 48": the note the models know, to play when SerumRNN listens.
function noteToPlay(midi) {
  return liveNoteName(midi) + " in Live, MIDI " + Math.round(Number(midi));
}

function playPrompt(midi, why) {
  return "Play a note (" + noteToPlay(midi) + ") " + why;
}

function atDefaultNote(count) {
  return count ? " Leave the other " + count + " fixed knobs at Serum's default." : "";
}

function serumFound(name, leaveAtDefault) {
  var n = leaveAtDefault ? leaveAtDefault.length : 0;
  return (name || "Serum") + " found: every knob SerumRNN sets is configured" +
    (n ? "; leave the other " + n + " fixed knobs at Serum's default" : "");
}

// missing: [{effect, label, names: [...]}] grouped by effect (required knobs only);
// leaveAtDefault: names of fixed knobs Live does not expose whose value is Serum's own.
function configure(name, missing, leaveAtDefault) {
  if (!missing || !missing.length) return serumFound(name, leaveAtDefault);
  var groups = [], count = 0;
  for (var i = 0; i < missing.length; i++) {
    groups.push(missing[i].label + ": " + missing[i].names.join(", "));
    count += missing[i].names.length;
  }
  return "Configure list: click Configure on " + (name || "Serum") + ", touch these " + count +
    " knobs in Serum, then choose Save as Default Configuration in the plugin's menu. " +
    groups.join("; ") + "." + atDefaultNote(leaveAtDefault ? leaveAtDefault.length : 0);
}

// The dropped target is gone (Live hands out temporary copies of some samples, deleted
// a minute after use; or the file moved since the set was saved).
function targetGone(path) {
  var file = String(path || "").replace(/^.*[/\\]/, "");
  return "The target sound " + (file || "") + " is no longer there: drop it again" +
    " (from your own folder, not a temporary copy)";
}


// Knobs a step needed that Live does not expose: the producer sets them by hand.
function setByHand(values) {
  if (!values || !values.length) return "";
  var parts = [];
  for (var i = 0; i < values.length; i++) {
    parts.push(values[i].name + " = " + values[i].text);
  }
  return "Not configured, set by hand: " + parts.join(", ");
}

// Error replies, by the protocol's stable codes. `request` is the request's name
// (target / step / ...), so a file error says which file it was about.
var FILE_CODES = {
  missing: 1, is_directory: 1, permission: 1, empty: 1, too_large: 1, not_audio: 1,
  corrupt: 1, too_short: 1, non_finite: 1, silent: 1, noise_only: 1, io_error: 1,
  not_regular: 1, bad_path: 1, bad_rate: 1, relative_path: 1
};

function isFileError(code) {
  return Object.prototype.hasOwnProperty.call(FILE_CODES, code);
}

function error(code, message, request) {
  var msg = message ? String(message) : "";
  if (FILE_CODES[code]) {
    if (request === "target") return "Target sound: " + msg;
    if (request === "step") {
      if (code === "silent" || code === "too_short") {
        return "The capture had no sound: play a note (or loop a clip) after pressing Capture";
      }
      return "Captured sound: " + msg;
    }
  }
  switch (code) {
    case "no_target": return "Drop a target sound first";
    case "session_done": return "This session is done: press Undo or Reset to go on";
    case "nothing_to_undo": return "Nothing to undo";
    case "unknown_group": return "Unknown preset group: " + msg;
    case "missing_group": return "The server has no models for this group: " + msg;
    case "busy": return "The server is busy: try again in a moment";
    case "loading": return "Loading this group's models (the first time takes a few seconds)...";
    case "too_many_sessions":
      return "The server has too many open sessions: close another SerumRNN or restart the server";
    case "too_many_messages": return "The server got too many messages at once: press Next again";
    case "unknown_session": return "The server restarted: starting a new session";
    case "internal": return "Server error (see its log): " + msg;
    default: return (code ? code + ": " : "") + msg;
  }
}

// What each request is about, for the working and stuck lines.
var REQUEST_WHAT = { "new": "the session", target: "the target", step: "this step",
                     undo: "the undo", reset: "the reset", end: "closing the session" };

function working(request, seconds) {
  return "The server is still working on " + (REQUEST_WHAT[request] || request) +
    (seconds > 0 ? " (" + seconds + " s so far)" : "") + "...";
}

function stuck(request, seconds) {
  return "The server has worked on " + (REQUEST_WHAT[request] || request) + " for " + seconds +
    " s without an answer: press Next to start again from the sound as it is now, " +
    "or restart the server";
}

function incomplete() {
  return "Part of the server's reply was lost: press Next again";
}

var api = {
  SERVE_COMMAND: SERVE_COMMAND, percent: percent, confidence: confidence,
  instruction: instruction, stepTitle: stepTitle, judged: judged, done: done,
  DONE_REASONS: DONE_REASONS, doneReason: doneReason, versionMismatch: versionMismatch,
  serverReady: serverReady, serverDown: serverDown, serverStopped: serverStopped,
  noSerum: noSerum, badPort: badPort, serumSummary: serumSummary,
  handSettings: handSettings, byHandInstruction: byHandInstruction,
  tuneInstruction: tuneInstruction, tuneBackByHand: tuneBackByHand, tookBack: tookBack,
  tuneUndone: tuneUndone,
  TUNE_LABEL: TUNE_LABEL, pressDone: pressDone, serumFound: serumFound, configure: configure, setByHand: setByHand,
  liveNoteName: liveNoteName, noteToPlay: noteToPlay, playPrompt: playPrompt,
  targetGone: targetGone,
  error: error, isFileError: isFileError, incomplete: incomplete, working: working, stuck: stuck
};
if (typeof exports !== "undefined") { for (var key in api) exports[key] = api[key]; }
