// The device's state machine with a fake Live set, a scripted server and a manual clock:
// the whole loop, retries with the same id, a dead server, and error display.
"use strict";

const test = require("node:test");
const assert = require("node:assert/strict");
const { makeFlow, playNote, ScriptedServer, P, fixtureReply, fixtureMessages, TUNE_KNOBS,
        TUNE_SENTENCE } =
  require("./helpers.js");

const SERUM = "live_set tracks 0 devices 0";

function started(opts) {
  const t = makeFlow(opts);
  t.flow.start();
  t.clock.advance(10);
  return t;
}

// Drop the usual target and let the session and target requests go out.
function withTarget(t) {
  t.flow.dropTarget("/Users/me/want.wav");
  t.clock.advance(20);
}

// Play a note (captured), press Next, let the reply arrive.
function stepOnce(t) {
  playNote(t);
  t.flow.next();
  t.clock.advance(20);
}

// Instruction mode: the producer set Serum by hand, presses Done, then plays a note.
function doneByHand(t) {
  t.flow.doneByHand();
  playNote(t);
  t.clock.advance(20);
}

// What the recorded reply set: {Serum name: value} of its knob (or fixed) messages.
function knobValues(scenario, i, address) {
  const out = {};
  for (const m of fixtureMessages(scenario, i, address)) out[m[3]] = m[4];
  return out;
}

function expected(scenario, i) {
  const [effect] = fixtureMessages(scenario, i, "/step/effect");
  return "Expected to remove " + Math.round(effect[8] * 100) + " % of the difference";
}

// The Serum parameter names of every value set on the fake Live, in order.
function setNames(t) {
  const params = t.live.device(SERUM).parameters;
  return t.live.sets.map(([path, , value]) => [params[Number(path.split(" ").pop())].name, value]);
}

function names(t) {
  return t.server.requests.map((r) => r[0].slice(P.length + 1));
}

test("start: finds Serum, pings, shows the server as ready", () => {
  const t = started();
  assert.equal(t.shown.status, "Server ready (basic_shapes)");
  assert.match(t.shown.serum, /Serum found/);
  assert.deepEqual(t.sent[0].slice(0, 1), [P + "/ping"]);
  assert.equal(t.sent[0][2], 9871, "ping names the udpreceive port");
  assert.deepEqual(t.live.console, []);
});

test("a full session: target, capture, step applied on Serum, capture again, next step judged", () => {
  const t = started();
  t.flow.setGroup("basic");
  t.flow.setHome("Macintosh HD:/Users/me/");      // the boot volume, from conformpath
  t.flow.dropTarget("Macintosh HD:/Users/me/want.wav");
  t.clock.advance(20);
  assert.deepEqual(names(t).slice(1), ["new", "target"]);
  assert.equal(t.server.requests[2][3], "/Users/me/want.wav", "the path the server gets is native");
  assert.match(t.shown.detail, /^Target set/);

  t.flow.next();                       // no capture yet: arm and wait for a note
  assert.equal(t.flow.state().armed, true);
  assert.match(t.shown.detail, /Play a note/);
  assert.equal(names(t).includes("step"), false);
  playNote(t);                         // capture, then the pending Next goes out
  t.clock.advance(20);
  const step1 = t.server.requests.find((r) => r[0] === P + "/step");
  assert.equal(step1[3], "/tmp/serumrnn-capture-1.wav");
  assert.equal(t.live.value(SERUM, "Dist Enable"), 1);
  assert.equal(t.live.value(SERUM, "Dist_Drv"), knobValues("verified_steps", 0, "/step/knob").Dist_Drv);
  assert.equal(t.live.value(SERUM, "Dist_Wet"), 1);
  assert.equal(t.shown.instruction, "Step 1. Turn on Distortion: Mode HardClip, Drive 80 %");
  assert.equal(t.shown.confidence, expected("verified_steps", 0) + ".");
  assert.equal(t.flow.state().armed, true, "after a step the next note is captured");

  playNote(t);                         // the producer plays: the new sound is captured
  assert.equal(t.flow.state().captureFresh, true);
  t.flow.next();
  t.clock.advance(20);
  assert.equal(t.live.value(SERUM, "Rev Enable"), 1);
  assert.match(t.shown.instruction, /^Step 2\. Turn on Hall Reverb/);
  assert.equal(t.shown.confidence, "Step 1 brought the sound closer (distance 1.027 \u2192 0.032). " +
               expected("verified_steps", 1) + ".");
  assert.equal(t.flow.state().applied, 2);

  playNote(t);                         // the target is reached: done, nothing to roll back
  t.flow.next();
  t.clock.advance(20);
  assert.equal(t.flow.state().done, true);
  assert.equal(t.shown.detail, "Done: the sound now matches the target.");
  assert.equal(t.flow.state().applied, 2);
  assert.equal(t.live.value(SERUM, "Rev Enable"), 1, "the best state is the current one");
  assert.deepEqual(t.live.console, []);
});

test("undo restores Serum's values at once and tells the server; reset goes back to the start", () => {
  const t = started();
  withTarget(t);
  t.flow.capture();
  stepOnce(t);
  stepOnce(t);
  assert.equal(t.live.value(SERUM, "Rev Enable"), 1);

  t.flow.undo();
  assert.equal(t.live.value(SERUM, "Rev Enable"), 0, "restored before any reply");
  assert.equal(t.live.value(SERUM, "Verb Wet"), 0);
  assert.equal(t.live.value(SERUM, "Dist Enable"), 1);
  t.clock.advance(20);
  assert.equal(names(t).filter((n) => n === "undo").length, 1);
  assert.equal(t.flow.state().applied, 1);
  assert.match(t.shown.detail, /Play a note/);

  t.flow.reset();
  assert.equal(t.live.value(SERUM, "Dist Enable"), 0);
  assert.equal(t.live.value(SERUM, "Dist_Drv"), 0);
  t.clock.advance(20);
  assert.equal(names(t).filter((n) => n === "reset").length, 1);
  assert.equal(t.flow.state().applied, 0);
  t.flow.undo();
  assert.equal(t.shown.detail, "Nothing to undo");
});

test("a take-back: Serum's switch goes off at once, before the next candidate is applied", () => {
  const t = started({ plan: "verified_takeback" });
  withTarget(t);
  t.flow.capture();
  stepOnce(t);
  assert.equal(t.live.value(SERUM, "Dist Enable"), 1);
  const drive = knobValues("verified_takeback", 0, "/step/knob").Dist_Drv;
  assert.equal(t.live.value(SERUM, "Dist_Drv"), drive);
  const setsBefore = t.live.sets.length;

  stepOnce(t);                         // the capture was worse: take it back, offer reverb
  const [back] = fixtureMessages("verified_takeback", 1, "/step/takeback");
  const order = setNames(t).slice(setsBefore);
  assert.deepEqual(order[0], ["Dist Enable", 0], "the take-back is the first thing set");
  const reverb = Object.keys(knobValues("verified_takeback", 1, "/step/knob"));
  const firstReverb = order.findIndex(([n]) => n === "Rev Enable" || reverb.includes(n));
  assert.ok(firstReverb > 0, "the next effect's values come after the take-back");
  assert.equal(t.live.value(SERUM, "Dist Enable"), 0);
  assert.equal(t.live.value(SERUM, "Dist_Drv"), 0, "its knobs are back as they were");
  assert.equal(t.live.value(SERUM, "Rev Enable"), 1);
  assert.equal(t.flow.state().applied, 1, "the taken-back step no longer counts");
  assert.equal(t.shown.instruction, "Step 1. Turn on Hall Reverb: Mix 50 %, Low cut 50 Hz, High cut 6.6 kHz");
  assert.equal(t.shown.confidence, back[7] + " " + expected("verified_takeback", 1) + ".");
  assert.match(t.shown.confidence, /^Step 1 did not bring Serum's sound closer: turn Distortion off again/);
  assert.equal(t.flow.state().done, false);

  stepOnce(t);                         // reverb helped; nothing else does: done
  assert.equal(t.flow.state().done, true);
  assert.equal(t.shown.detail, "Done: no remaining effect brings it closer.");
  assert.equal(t.live.value(SERUM, "Rev Enable"), 1);
  assert.equal(t.flow.state().applied, 1);
  t.flow.undo();                      // Undo takes back reverb (the take-back is not undone twice)
  assert.equal(t.live.value(SERUM, "Rev Enable"), 0);
  assert.equal(t.live.value(SERUM, "Dist Enable"), 0);
  assert.deepEqual(t.live.console, []);
});

test("a take-back of a switch Live does not expose is asked for by hand", () => {
  const t = started({ set: "unconfigured", plan: "verified_takeback" });
  withTarget(t);
  t.flow.capture();
  stepOnce(t);
  assert.match(t.shown.instruction, /^Step 1, in Serum's FX tab: Distortion: switch it on, Mode \S+, Drive \d+ %/);
  assert.equal(t.flow.state().armed, false, "nothing is captured before Done");
  assert.equal(t.flow.state().awaitingHand, true);
  assert.match(t.shown.detail, /^Set this in Serum, then press Done and play a note \(C2 in Live, MIDI 48\)/);
  doneByHand(t);
  assert.match(t.shown.instruction, /in Serum's FX tab: Distortion: switch it off; Hall Reverb: switch it on, /);
  assert.match(t.shown.confidence, /turn Distortion off again \(Dist Enable = 0\)/);
  assert.deepEqual(t.live.sets, [], "Live exposes none of them");
});

test("a target the sound already matches: done at once, no step", () => {
  const t = started({ plan: "already_matches" });
  withTarget(t);
  t.flow.capture();
  stepOnce(t);
  assert.equal(t.flow.state().done, true);
  assert.equal(t.flow.state().applied, 0);
  assert.equal(t.shown.detail, "Done: the sound already matches the target, no step needed.");
  assert.equal(t.shown.instruction, "");
  assert.deepEqual(t.live.sets, [], "nothing set on Serum");
  const before = t.server.requests.length;
  t.flow.next();
  assert.equal(t.server.requests.length, before, "no step after done");
});

test("the paper's loop: done as worse keeps the unjudged step; the panel says how to go back", () => {
  const t = started({ plan: "paper_worse" });
  withTarget(t);
  t.flow.capture();
  stepOnce(t);
  assert.match(t.shown.confidence, /^Selector \d+ % sure\.$/, "the paper's confidence is the selector's");
  stepOnce(t);
  assert.equal(t.flow.state().applied, 2);
  stepOnce(t);
  assert.equal(t.flow.state().done, true);
  assert.equal(t.live.value(SERUM, "Rev Enable"), 1, "the server keeps step 2; so does Serum");
  assert.equal(t.flow.state().applied, 2);
  assert.equal(t.shown.detail, "Done: further steps made the sound worse. The sound was closest " +
               "before any step: press Reset.");
  assert.match(t.shown.confidence, /^Step 2 moved the sound away/);
  const before = t.server.requests.length;
  t.flow.next();
  assert.equal(t.server.requests.length, before, "no step after done");
  assert.match(t.shown.detail, /press Undo or Reset/);
});

test("a server of another protocol version: the panel says to update, Next sends no step", () => {
  const t = makeFlow();
  t.server.protocol = "2";
  t.flow.start();
  t.clock.advance(10);
  assert.equal(t.shown.status, "Server speaks protocol 2, this device 3: update the device and " +
               "the server to the same SerumRNN release");
  withTarget(t);
  t.flow.capture();
  playNote(t);
  t.flow.next();
  assert.equal(t.server.requests.some((r) => r[0] === P + "/step"), false);
  assert.match(t.shown.detail, /^Update SerumRNN/);
  t.server.protocol = "3";
  t.clock.advance(10100);
  assert.equal(t.shown.status, "Server ready (basic_shapes)");
});

test("a lost reply is retried with the same request id, and the step runs once", () => {
  let dropped = 0;
  const t = started({ lose: (m) => m[0] === P + "/step/fixed" && dropped++ < 1 });
  withTarget(t);
  t.flow.capture();
  stepOnce(t);
  const steps = t.server.requests.filter((r) => r[0] === P + "/step");
  assert.equal(steps.length, 2, "sent again after the short reply");
  assert.equal(steps[0][1], steps[1][1], "with the same id");
  assert.equal(t.live.value(SERUM, "Dist Enable"), 1);
  assert.equal(t.flow.state().applied, 1);
  const sessions = Object.values(t.server.sessions);
  assert.equal(sessions[0].chain.length, 1, "the server ran the step once");
});

test("no reply at all: resent after the timeout with the same id, then 'server not running'", () => {
  const t = started();
  t.server.down = true;
  t.flow.dropTarget("/Users/me/want.wav");
  t.clock.advance(1);
  assert.equal(t.sent[t.sent.length - 1][0], P + "/new");
  t.clock.advance(2000 * 3 + 10);
  const news = t.sent.filter((r) => r[0] === P + "/new");
  assert.equal(news.length, 3);
  assert.ok(news.every((r) => r[1] === news[0][1]));
  assert.equal(t.shown.status, "Server not answering on port 9870: starting it");
  t.flow.next();
  assert.match(t.shown.detail, /Server not answering/);
  // the server comes up: the next ping finds it and the target is sent again
  t.server.down = false;
  t.clock.advance(5000);
  assert.equal(t.shown.status, "Server ready (basic_shapes)");
  assert.equal(t.flow.state().targetSet, true);
});

test("a step that takes 40 s: the resend is answered working, the device says so and waits", () => {
  const t = started();
  t.server.stepMs = 40000;
  withTarget(t);
  t.flow.capture();
  stepOnce(t);
  t.clock.advance(15000 + 10);                 // the first wait: no reply yet, so it resends
  assert.match(t.shown.detail, /^The server is still working on this step \(15 s so far\)/);
  t.clock.advance(20000);
  assert.match(t.shown.detail, /still working on this step \(3\d s so far\)/);
  assert.equal(t.flow.state().applied, 0);
  t.clock.advance(6000);                       // the reply, 40 s after the request
  const steps = t.sent.filter((r) => r[0] === P + "/step");
  assert.ok(steps.length >= 5, "resent every WORKING_POLL_MS while working, not only 3 times");
  assert.ok(steps.every((r) => r[1] === steps[0][1]), "always the same id");
  assert.equal(t.live.value(SERUM, "Dist Enable"), 1);
  assert.equal(t.flow.state().applied, 1);
  assert.equal(Object.values(t.server.sessions)[0].chain.length, 1, "the server ran the step once");
  assert.equal(t.shown.status, "Server ready (basic_shapes)");
});

test("a step the server is stuck on: given up after MAX_WORKING_MS, the server still counts as up", () => {
  const t = started();
  t.server.stepMs = 3600 * 1000;
  withTarget(t);
  t.flow.capture();
  stepOnce(t);
  const sid = t.flow.state().session;
  t.clock.advance(179000);
  assert.match(t.shown.detail, /still working on this step/);
  assert.equal(t.flow.state().inflight, "step");
  t.clock.advance(10000);
  assert.match(t.shown.detail, /^The server has worked on this step for 18\d s without an answer/);
  assert.equal(t.flow.state().inflight, null);
  assert.equal(t.flow.state().session, null, "the session is forgotten: the server may still change it");
  assert.notEqual(sid, null);
  assert.equal(t.shown.status, "Server ready (basic_shapes)");
  assert.equal(t.flow.state().captureFresh, true, "the capture is kept for the next Next");
});

test("a server restart (unknown_session) starts a new session and sends the step again", () => {
  const t = started();
  withTarget(t);
  t.flow.capture();
  playNote(t);
  t.server.sessions = {};              // the server forgot everything
  t.flow.next();
  t.clock.advance(50);
  assert.deepEqual(names(t).slice(-4), ["step", "new", "target", "step"]);
  assert.equal(t.live.value(SERUM, "Dist Enable"), 1);
  assert.equal(t.flow.state().applied, 1);
});

test("the server's ready message after a restart makes the device forget its session", () => {
  const t = started();
  withTarget(t);
  const sid = t.flow.state().session;
  assert.ok(sid);
  t.flow.receive(P + "/ready", ["1", "basic_shapes", 9870]);
  assert.equal(t.flow.state().session, null);
  t.flow.receive(P + "/stopped", []);
  assert.equal(t.shown.status, "Server stopped: starting it again");
});

test("errors are shown for the producer: a bad target, a silent capture, a missing group", () => {
  const t = started();
  t.flow.dropTarget("/Users/me/bad.wav");
  t.clock.advance(20);
  assert.equal(t.shown.detail, "Target sound: /Users/me/bad.wav is not an audio file");
  assert.equal(t.flow.state().targetPath, null);
  t.flow.next();
  assert.equal(t.shown.detail, "Drop a target sound first");

  t.flow.dropTarget("samples/relative.wav");
  assert.match(t.shown.detail, /^Target sound: samples\/relative.wav is not an absolute path/);

  withTarget(t);
  t.flow.capture();
  playNote(t);
  const sid = t.flow.state().session;
  t.server.answer = function (name, rid) {
    return name === "step" ? [[P + "/error", rid, "silent", "capture.wav is silent", P + "/step", sid]]
                           : ScriptedServer.prototype.answer.apply(this, arguments);
  };
  t.flow.next();
  t.clock.advance(20);
  assert.match(t.shown.detail, /^The capture had no sound/);
  assert.equal(t.flow.state().armed, true, "armed to record again");

  t.server.answer = function (name, rid) {
    return [[P + "/error", rid, "missing_group", "no models loaded for advanced_shapes", P + "/new", ""]];
  };
  t.flow.setGroup("advanced");
  t.clock.advance(20);
  assert.match(t.shown.detail, /no models for this group/);
});

test("no Serum plugin on the track: instruction mode for every setting", () => {
  const t = started({ set: "noSerum", plan: "verified_steps" });
  assert.match(t.shown.serum, /^No Serum plugin on this track: SerumRNN tells you each setting and you press Done/);
  withTarget(t);
  t.flow.capture();
  stepOnce(t);
  assert.equal(names(t).filter((n) => n === "step").length, 1, "the step went out");
  assert.match(t.shown.instruction, /^Step 1, in Serum's FX tab: \w[\w ]*: switch it on/);
  assert.equal(t.flow.state().awaitingHand, true);
  assert.deepEqual(t.live.sets, []);
  assert.deepEqual(t.live.console, []);
});

test("knobs not configured: the step sets the others and shows the rest in Serum's words", () => {
  const t = started({ set: "partial", plan: "eq_first" });
  assert.match(t.shown.serum, /^Serum found: 5 knobs are not configured, so SerumRNN tells you those settings and you press Done/);
  assert.match(t.shown.configure, /^Configure list: click Configure on Serum, touch these 5 knobs in Serum, then choose Save as Default Configuration in the plugin's menu\. EQ: EQ Enable, EQ FrqH, EQ VolH; Hall Reverb: Rev Enable, VerbHiCt\./);
  assert.match(t.shown.configure, /Leave the other 24 fixed knobs at Serum's default\.$/);
  withTarget(t);
  t.flow.capture();
  stepOnce(t);
  assert.equal(t.live.value(SERUM, "EQ Q H"), knobValues("eq_first", 0, "/step/knob")["EQ Q H"]);
  assert.match(t.shown.instruction, /^Step 1, in Serum's FX tab: EQ: switch it on, \S.* 632 Hz, .*24\.0 dB$/);
  assert.doesNotMatch(t.shown.instruction, /Resonance|\bQ\b/, "the Q knob was set by the device");
  assert.deepEqual(t.live.console, []);
});

test("only what is needed: fixed knobs at Serum's default are neither asked for nor set", () => {
  const t = started({ set: "required", plan: "reverb_compressor" });
  assert.equal(t.shown.serum, "Serum found: every knob SerumRNN sets is configured; leave the other 24 fixed knobs at Serum's default");
  withTarget(t);
  t.flow.capture();
  stepOnce(t);
  stepOnce(t);
  assert.equal(t.live.value(SERUM, "Rev Enable"), 1);
  assert.equal(t.live.value(SERUM, "CmpMBnd"), 1, "the one fixed knob not at Serum's default is set");
  assert.equal(t.live.param(SERUM, "VerbSize"), undefined, "not exposed, and not needed");
  assert.match(t.shown.serum, /^Serum found/, "nothing to set by hand");
  assert.deepEqual(t.live.console, []);
});

test("configuring knobs in Serum updates the Configure line at once, outside Live's notification", () => {
  const t = started({ set: "unconfigured" });
  assert.match(t.shown.configure, /touch these 20 knobs in Serum/);
  t.live.configure(SERUM, ["Comp Enable", "CompMB L", "CompMB M", "CompMB H", "CmpMBnd"]);
  assert.match(t.shown.configure, /these 20 knobs/, "not inside the notification");
  t.clock.advance(100);
  assert.match(t.shown.configure, /touch these 15 knobs in Serum, then choose Save as Default Configuration in the plugin's menu\. Distortion:/);
  const { REQUIRED_NAMES } = require("./fake_live.js");
  t.live.configure(SERUM, REQUIRED_NAMES.slice(0, 10));
  t.live.configure(SERUM, REQUIRED_NAMES);
  t.clock.advance(100);
  assert.match(t.shown.serum, /^Serum found: every knob SerumRNN sets is configured/);
  assert.deepEqual(t.live.console, [], "nothing was set from inside a notification");
  t.flow.close();
  const n = t.history.length;
  t.live.configure(SERUM, ["Decay"]);
  t.clock.advance(100);
  assert.equal(t.history.length, n, "no updates after the device is removed");
});

test("the panel says which note to play, in Live's naming (MIDI 48 is C2 in Live)", () => {
  const t = started();
  withTarget(t);
  assert.match(t.shown.detail, /^Target set\. Play a note \(C2 in Live, MIDI 48\) then press Next$/);
  t.flow.capture();
  assert.equal(t.shown.detail, "Play a note (C2 in Live, MIDI 48) SerumRNN records the next one");
  assert.deepEqual(t.gate, [true], "the onset gate is armed in the patcher");
  playNote(t);
  assert.deepEqual(t.gate, [true, false], "and closed once the note started");
});

test("a target that is gone (a temporary copy, or moved) is asked for again", () => {
  const t = started();
  t.flow.dropTarget("/private/var/folders/xy/T/gone-decoded.wav");
  t.clock.advance(20);
  assert.equal(t.shown.detail, "The target sound gone-decoded.wav is no longer there: drop it again (from your own folder, not a temporary copy)");
  assert.equal(t.flow.state().targetPath, null);
  t.flow.next();
  assert.equal(t.shown.detail, "Drop a target sound first");
});

test("each device listens on its own port and draws its own request ids", () => {
  const a = started({ replyPort: null, random: require("./helpers.js").seeded(7) });
  const b = started({ replyPort: null, random: require("./helpers.js").seeded(8) });
  assert.equal(a.listened.length, 1);
  assert.notEqual(a.listened[0], b.listened[0]);
  assert.equal(a.sent[0][2], a.listened[0], "ping names the port the device listens on");
  assert.notEqual(a.sent[0][1], b.sent[0][1], "different request ids");
  withTarget(a);
  const newReq = a.server.requests.find((r) => r[0] === P + "/new");
  assert.equal(newReq[newReq.length - 1], a.listened[0], "the session's replies come to this port");
  // b ignores a reply meant for a's request
  const before = b.flow.state();
  b.flow.receive(P + "/new/reply", [newReq[1], "s9", "basic_shapes", "open", ""]);
  assert.deepEqual(b.flow.state(), before);
});

test("nothing ever arrives on the reply port: the device listens on another one", () => {
  const t = started({ replyPort: null });
  const first = t.listened[0];
  t.server.down = true;
  t.clock.advance(10000 + 1500 * 3 + 10);   // the next ping, sent three times, unanswered
  assert.equal(t.shown.status, "Server not answering on port 9870: starting it");
  // it had heard on `first` (the first pong): a server that stops does not move the port
  assert.deepEqual(t.listened, [first]);

  const u = makeFlowQuiet();
  u.flow.start();
  u.clock.advance(1500 * 3 + 10);           // never a reply on the first port
  assert.equal(u.listened.length, 2, "moved to another port");
  assert.notEqual(u.listened[1], u.listened[0]);
  u.server.down = false;
  u.clock.advance(3010);
  const ping = u.sent[u.sent.length - 1];
  assert.equal(ping[2], u.listened[1], "the next ping names the new port");
  assert.equal(u.shown.status, "Server ready (basic_shapes)");
});

function makeFlowQuiet() {
  const t = makeFlow({ replyPort: null });
  t.server.down = true;
  return t;
}

test("a step the server ran from MIDI (request id -1) is applied too", () => {
  const t = started();
  withTarget(t);
  const sid = t.flow.state().session;
  for (const m of fixtureReply("phaser_first", 0, -1, sid)) t.flow.receive(m[0], m.slice(1));
  assert.equal(t.live.value(SERUM, "Phs Enable"), 1);
  for (const m of fixtureReply("eq_first", 0, -1, "s99999999")) t.flow.receive(m[0], m.slice(1));
  assert.equal(t.live.value(SERUM, "EQ Enable"), 0, "another session's step is ignored");
});

test("changing the group ends the old session and starts one for the new group", () => {
  const t = started();
  withTarget(t);
  const old = t.flow.state().session;
  t.flow.setGroup("advanced");
  t.clock.advance(50);
  assert.deepEqual(names(t).slice(-3), ["end", "new", "target"]);
  assert.equal(t.server.requests[t.server.requests.length - 3][2], old);
  assert.equal(t.server.requests[t.server.requests.length - 2][2], "advanced");
  assert.notEqual(t.flow.state().session, old);
});

test("close ends the session and stops every timer", () => {
  const t = started();
  withTarget(t);
  t.flow.close();
  assert.equal(t.sent[t.sent.length - 1][0], P + "/end");
  const n = t.sent.length;
  t.clock.advance(60000);
  assert.equal(t.sent.length, n, "no more pings");
});

test("pings repeat while the server is up", () => {
  const t = started();
  t.clock.advance(35000);
  assert.equal(t.sent.filter((r) => r[0] === P + "/ping").length, 4);
});

test("Serum 2, nothing assigned: a whole session in instruction mode (steps by Done, undo and reset by hand)", () => {
  const t = started({ set: "serum2", plan: "verified_steps" });
  assert.match(t.shown.serum, /^Serum 2 \(Serum 2\) found/);
  assert.equal(t.shown.configure, "", "no Configure list: Serum 2 cannot expose the knobs");
  withTarget(t);
  t.flow.capture();
  stepOnce(t);
  assert.match(t.shown.instruction, /^Step 1, in Serum's FX tab: \w[\w ]*: switch it on, /);
  assert.equal(t.flow.state().awaitingHand, true);
  const stepsBefore = names(t).filter((n) => n === "step").length;
  playNote(t);                                   // a note before Done is not captured
  assert.equal(names(t).filter((n) => n === "step").length, stepsBefore);
  doneByHand(t);                                 // Done, then the note: captured and judged
  assert.equal(names(t).filter((n) => n === "step").length, stepsBefore + 1);
  assert.match(t.shown.instruction, /^Step 2, in Serum's FX tab: /);
  assert.match(t.shown.confidence, /^Step 1 /, "the hand-made step 1 was judged");
  t.flow.undo();
  assert.match(t.shown.instruction, /^Undo by hand, in Serum's FX tab: \w[\w ]*: switch it off$/);
  assert.equal(t.flow.state().armed, false, "waits for Done");
  doneByHand(t);
  assert.equal(t.flow.state().awaitingHand, false);
  t.flow.reset();
  assert.match(t.shown.instruction, /^Reset by hand, in Serum's FX tab: \w[\w ]*: switch it off$/);
  assert.deepEqual(t.live.sets, [], "Serum 2 exposes nothing to set");
  assert.deepEqual(t.live.console, []);
});

test("a group still loading: `new` is asked again with a new id, and the waiting step goes out", () => {
  const t = started();
  t.server.loading = 2;
  t.flow.capture();
  playNote(t);                                  // a capture exists
  t.flow.dropTarget("/Users/me/want.wav");
  t.flow.next();
  t.clock.advance(20);
  assert.match(t.shown.detail, /^Loading this group's models/);
  t.clock.advance(1000 + 20);
  assert.match(t.shown.detail, /^Loading this group's models/);
  t.clock.advance(1000 + 50);
  const news = t.server.requests.filter((r) => r[0] === P + "/new");
  assert.equal(news.length, 3);
  assert.equal(new Set(news.map((r) => r[1])).size, 3, "a new request id each time");
  assert.equal(names(t).filter((n) => n === "step").length, 1, "the step went out once loaded");
  assert.equal(t.live.value(SERUM, "Dist Enable"), 1);
});

// -- fine-tunes (protocol 3): knobs of effects already on move, nothing is switched on --

// The tune scenarios' first three replies: distortion, reverb, then the fine-tune (step 3).
function toTheTune(t) {
  withTarget(t);
  t.flow.capture();
  stepOnce(t);
  stepOnce(t);
  const sets = t.live ? t.live.sets.length : 0;
  stepOnce(t);
  return sets;
}

const ARROW = " \u2192 ";

test("a fine-tune sets exactly its knobs on Serum, switches nothing, and shows the server's sentence", () => {
  const t = started({ plan: "tune_kept" });
  const before = toTheTune(t);
  assert.deepEqual(setNames(t).slice(before), TUNE_KNOBS.map((k) => [k[0], k[1]]),
                   "only the fine-tune's knobs were set, no enable");
  assert.equal(t.live.value(SERUM, "Rev Enable"), 1);
  assert.equal(t.live.value(SERUM, "Dist Enable"), 1);
  assert.equal(t.shown.instruction, "Step 3. " + TUNE_SENTENCE);
  assert.equal(t.shown.confidence, "Step 2 brought the sound closer (distance 0.032" + ARROW + "0.02). " +
               "Expected to remove 25 % of the difference.");
  assert.equal(t.flow.state().applied, 3, "the fine-tune counts as a step");
  assert.equal(t.flow.state().done, false);
  assert.equal(t.flow.state().armed, true, "its sound is captured for the server to judge");

  stepOnce(t);                         // the capture was closer: kept, and the session is done
  assert.equal(t.flow.state().done, true);
  assert.equal(t.flow.state().applied, 3);
  assert.equal(t.live.value(SERUM, "Verb Wet"), 0.38, "the kept fine-tune stays on Serum");
  assert.equal(t.shown.detail, "Done: no remaining effect brings it closer.");
  assert.deepEqual(t.live.console, []);
});

test("a fine-tune taken back: its knobs go back as they were, nothing is switched off", () => {
  const t = started({ plan: "tune_takeback" });
  toTheTune(t);
  const drive = t.live.value(SERUM, "Dist_Drv");
  assert.equal(drive, 0.7);
  const before = t.live.sets.length;
  stepOnce(t);
  const [back] = fixtureMessages("tune_takeback", 3, "/step/takeback");
  assert.deepEqual(setNames(t).slice(before), [["Dist_Drv", knobValues("verified_steps", 0, "/step/knob").Dist_Drv],
                                              ["Verb Wet", 0.5]], "only the fine-tune's knobs, newest first");
  assert.equal(t.live.value(SERUM, "Rev Enable"), 1, "no effect is switched off");
  assert.equal(t.live.value(SERUM, "Dist Enable"), 1);
  assert.equal(t.flow.state().applied, 2);
  assert.equal(t.flow.state().done, true);
  assert.equal(t.shown.confidence, back[7]);
  assert.equal(t.shown.instruction, "", "nothing to set by hand");
  assert.equal(t.shown.detail, "Done: no remaining effect brings it closer.");
  t.flow.undo();                       // Undo now takes back the reverb, not the fine-tune again
  assert.equal(t.live.value(SERUM, "Rev Enable"), 0);
  assert.equal(t.live.value(SERUM, "Dist Enable"), 1);
  assert.equal(t.live.value(SERUM, "Dist_Drv"), knobValues("verified_steps", 0, "/step/knob").Dist_Drv);
  t.clock.advance(20);
  assert.equal(t.flow.state().applied, 1);
  assert.deepEqual(t.live.console, []);
});

test("a second fine-tune round comes with the first one's verdict; its take-back and Undo go back one round each", () => {
  const t = started({ plan: "tune_rounds" });
  toTheTune(t);
  const before = t.live.sets.length;
  stepOnce(t);                         // round 1 kept; round 2 (step 4) applied on top of it
  assert.deepEqual(setNames(t).slice(before), [["Verb Wet", 0.34], ["Dist_Drv", 0.68]], "only round 2's knobs");
  assert.equal(t.flow.state().applied, 4, "each round counts as a step");
  assert.equal(t.flow.state().done, false);
  assert.equal(t.flow.state().armed, true, "round 2's sound is captured for the server to judge");
  assert.match(t.shown.instruction, /^Step 4\. Fine-tune: Hall Reverb Mix 38 %/);
  stepOnce(t);                         // round 2 not closer: back to round 1's values, not the steps'
  assert.equal(t.live.value(SERUM, "Verb Wet"), 0.38);
  assert.equal(t.live.value(SERUM, "Dist_Drv"), 0.7);
  assert.equal(t.flow.state().applied, 3);
  assert.equal(t.flow.state().done, true);
  t.flow.undo();                       // Undo: round 1 goes back to the steps' values
  assert.equal(t.live.value(SERUM, "Verb Wet"), 0.5);
  assert.equal(t.live.value(SERUM, "Dist_Drv"), knobValues("verified_steps", 0, "/step/knob").Dist_Drv);
  assert.equal(t.live.value(SERUM, "Rev Enable"), 1, "no effect is switched off");
  t.clock.advance(20);
  assert.equal(t.flow.state().applied, 2);
  t.flow.undo();                       // then the reverb
  assert.equal(t.live.value(SERUM, "Rev Enable"), 0);
  assert.deepEqual(t.live.console, []);
});

test("Undo after a fine-tune puts its knobs back and the session is done; the next Undo takes back the last effect", () => {
  const t = started({ plan: "tune_kept" });
  toTheTune(t);
  const before = t.live.sets.length;
  t.flow.undo();
  assert.deepEqual(setNames(t).slice(before).map(([n]) => n), ["Dist_Drv", "Verb Wet"], "no switch");
  assert.equal(t.live.value(SERUM, "Verb Wet"), 0.5);
  assert.equal(t.live.value(SERUM, "Rev Enable"), 1);
  assert.ok(t.history.some(([f, v]) => f === "detail" && v === "Took back the fine-tune"));
  t.clock.advance(20);
  assert.equal(names(t).filter((n) => n === "undo").length, 1);
  assert.equal(t.flow.state().applied, 2);
  assert.equal(t.shown.instruction, "");
  assert.equal(t.shown.detail, "Took back the fine-tune; the session is done. Press Undo again to take " +
               "back the step before it");
  assert.equal(t.flow.state().done, true, "the server offers no fine-tune after an undone one");
  assert.equal(t.flow.state().armed, false);
  const steps = names(t).filter((n) => n === "step").length;
  playNote(t);
  t.flow.next();
  assert.equal(names(t).filter((n) => n === "step").length, steps, "no step after it");

  t.flow.undo();
  assert.ok(t.history.some(([f, v]) => f === "detail" && v === "Took back Hall Reverb"));
  assert.equal(t.live.value(SERUM, "Rev Enable"), 0);
  assert.equal(t.live.value(SERUM, "Verb Wet"), 0);
  assert.equal(t.live.value(SERUM, "Dist Enable"), 1);
  assert.equal(t.flow.state().done, false, "the steps go on");
  assert.match(t.shown.detail, /Play a note/);
  t.clock.advance(20);
  assert.equal(t.flow.state().applied, 1);
  t.flow.reset();
  assert.equal(t.live.value(SERUM, "Dist Enable"), 0);
  assert.deepEqual(t.live.console, []);
});

test("a fine-tune counts as a step: offered again for its step, it replaces the one on Serum", () => {
  const t = started({ plan: "tune_kept" });
  toTheTune(t);
  const sid = t.flow.state().session;
  // the same fine-tune as a step the server ran from MIDI (request id -1): Serum holds two
  // steps before it, so the one applied is put back first, not stacked under it
  for (const m of fixtureReply("tune_kept", 2, -1, sid)) t.flow.receive(m[0], m.slice(1));
  assert.equal(t.flow.state().applied, 3);
  assert.equal(t.live.value(SERUM, "Verb Wet"), 0.38);
  t.flow.undo();
  assert.equal(t.live.value(SERUM, "Verb Wet"), 0.5, "one Undo takes the fine-tune back");
  assert.equal(t.live.value(SERUM, "Rev Enable"), 1);
});

test("Reset after a fine-tune restores every knob, the fine-tune's included", () => {
  const t = started({ plan: "tune_kept" });
  toTheTune(t);
  t.flow.reset();
  for (const k of TUNE_KNOBS) assert.equal(t.live.value(SERUM, k[0]), 0, k[0]);
  assert.equal(t.live.value(SERUM, "Rev Enable"), 0);
  t.clock.advance(20);
  assert.equal(t.flow.state().applied, 0);
});

test("Serum 2: a fine-tune is set by hand from -> to, and its take-back and undo say what to set back", () => {
  const t = started({ set: "serum2", plan: "tune_takeback" });
  withTarget(t);
  t.flow.capture();
  stepOnce(t);
  doneByHand(t);
  doneByHand(t);
  const set = "Hall Reverb: Mix 50 %" + ARROW + "38 %; Distortion: Drive 80 %" + ARROW + "70 %";
  const unset = "Hall Reverb: Mix 38 %" + ARROW + "50 %; Distortion: Drive 70 %" + ARROW + "80 %";
  assert.equal(t.shown.instruction, "Step 3, fine-tune, in Serum's FX tab: " + set);
  assert.equal(t.flow.state().awaitingHand, true);
  assert.equal(t.flow.state().armed, false, "nothing is captured before Done");
  doneByHand(t);                       // the hand-made fine-tune was worse: set it back
  assert.equal(t.shown.instruction, "Set the fine-tune back, in Serum's FX tab: " + unset);
  assert.doesNotMatch(t.shown.instruction, /switch it off/);
  assert.match(t.shown.detail, /^Set this in Serum\. Done: no remaining effect brings it closer/);
  assert.equal(t.flow.state().applied, 2);
  t.flow.undo();                       // the fine-tune is gone: Undo switches the reverb off
  assert.equal(t.shown.instruction, "Undo by hand, in Serum's FX tab: Hall Reverb: switch it off");
  assert.deepEqual(t.live.sets, []);
  assert.deepEqual(t.live.console, []);

  const u = started({ set: "serum2", plan: "tune_kept" });
  withTarget(u);
  u.flow.capture();
  stepOnce(u);
  doneByHand(u);
  doneByHand(u);
  u.flow.undo();
  assert.equal(u.shown.instruction, "Undo by hand, in Serum's FX tab: " + unset);
  assert.match(u.shown.detail, /^Set this in Serum\. Took back the fine-tune; the session is done/);
  assert.equal(u.flow.state().awaitingHand, true);
  u.flow.undo();                       // and the reverb before it
  assert.equal(u.shown.instruction, "Undo by hand, in Serum's FX tab: Hall Reverb: switch it off");
  assert.deepEqual(u.live.sets, []);
});
