// Test doubles for the device's ports: a manual clock (Max's Task), a scripted server that
// answers request lists the way docs/protocol.md says, and a flow wired to a fake Live set.
"use strict";

const protocol = require("../osc_protocol.js");
const text = require("../ui_text.js");
const { DeviceFlow } = require("../device_flow.js");
const { LiveAdapter } = require("../live_adapter.js");
const { FakeLiveSet, SETS } = require("./fake_live.js");
const spec = require("../serumrnn_spec.json");

const P = protocol.PREFIX;

// Timers that fire only when a test advances time.
class Clock {
  constructor() { this.t = 0; this.timers = []; this.seq = 0; }
  after(ms, fn) {
    const h = { at: this.t + ms, fn, seq: this.seq++ };
    this.timers.push(h);
    return h;
  }
  cancel(h) { this.timers = this.timers.filter((x) => x !== h); }
  advance(ms) {
    const end = this.t + ms;
    for (;;) {
      const due = this.timers.filter((x) => x.at <= end)
        .sort((a, b) => a.at - b.at || a.seq - b.seq)[0];
      if (!due) break;
      this.timers = this.timers.filter((x) => x !== due);
      this.t = due.at;
      due.fn();
    }
    this.t = end;
  }
}

function effectSpec(name) {
  return spec.effects.find((e) => e.name === name);
}

// Step replies recorded from the real server (tests/device_fixtures.py writes them; the
// pytest test_device_fixtures.py keeps them in sync): no step reply here is written by
// hand, except the fine-tune scenarios below (HAND_WRITTEN).
const FIXTURE = require("./fixtures/step_replies.json");

// Fine-tune scenarios (protocol 3), written by hand from the protocol until
// tests/device_fixtures.py records one from the server: distortion and reverb as recorded
// (verified_steps), then a fine-tune of both as step 3, then its verdict: kept (done,
// no_closer) or taken back (its knobs go back, done). TUNE_KNOBS: [name, value, text,
// label, before, before_text, effect_label].
const TUNE_KNOBS = [
  ["Verb Wet", 0.38, "38 %", "Mix", 0.5, "50 %", "Hall Reverb"],
  ["Dist_Drv", 0.7, "70 %", "Drive", 0.800000011920929, "80 %", "Distortion"],
];
const TUNE_SENTENCE = "Fine-tune: Hall Reverb Mix 50 % \u2192 38 %, Distortion Drive 80 % \u2192 70 %";

function counted(msgs) {
  const end = msgs[msgs.length - 1];
  end[end.length - 1] = msgs.length;
  return msgs;
}

function tuneScenario(kept) {
  const rec = FIXTURE.scenarios.verified_steps.replies;
  const S = FIXTURE.session;
  const m = (address, ...args) => [P + address, 0, S, ...args];
  const distances = (after) => rec[1].filter((x) => x[0] === P + "/step/distance")
    .map((x) => [x[0], 0, S, x[3], x[3] === "mse" ? after : x[4], 0.0, 0]);
  const tune = counted([
    m("/step/judged", 2, 1, 0.031782761216163635, 0.02),
    m("/step/tune", 3, 0.25, TUNE_KNOBS.length),
    ...TUNE_KNOBS.map((k) => m("/step/tune/knob", ...k)),
    ...distances(0.02),
    m("/step/renderer", "open rack", "capture"),
    m("/step/end", 3, "fine_tune", 0, "", 3, TUNE_SENTENCE, 0),
  ]);
  const verdict = kept
    ? counted([m("/step/judged", 3, 1, 0.02, 0.015),
               m("/step/end", 3, "", 1, "no_closer", 3, "A small gain after 3 steps.", 0)])
    : counted([m("/step/judged", 3, 0, 0.02, 0.05),
               m("/step/takeback", 3, "fine_tune", "", 0.0,
                 "Step 3 did not bring Serum's sound closer: its knobs go back " +
                 "(Hall Reverb Mix 50 %, Distortion Drive 80 %)."),
               m("/step/end", 2, "", 1, "no_closer", 2, "A small gain after 2 steps.", 0)]);
  return { loop: "verified", about: "hand-written: a fine-tune, then " + (kept ? "kept" : "taken back"),
           replies: [rec[0], rec[1], tune, verdict] };
}

// A second fine-tune round (step 4) arrives with the first one's verdict (kept); its own
// capture is not closer, so it is taken back to the first round's values.
const TUNE2_KNOBS = [
  ["Verb Wet", 0.34, "34 %", "Mix", 0.38, "38 %", "Hall Reverb"],
  ["Dist_Drv", 0.68, "68 %", "Drive", 0.7, "70 %", "Distortion"],
];

function tuneRoundsScenario() {
  const two = tuneScenario(true);
  const S = FIXTURE.session;
  const m = (address, ...args) => [P + address, 0, S, ...args];
  const distances = two.replies[2].filter((x) => x[0] === P + "/step/distance")
    .map((x) => [x[0], 0, S, x[3], x[3] === "mse" ? 0.015 : x[4], 0.0, 0]);
  const second = counted([
    m("/step/judged", 3, 1, 0.02, 0.015),
    m("/step/tune", 4, 0.2, TUNE2_KNOBS.length),
    ...TUNE2_KNOBS.map((k) => m("/step/tune/knob", ...k)),
    ...distances,
    m("/step/renderer", "open rack", "capture"),
    m("/step/end", 4, "fine_tune", 0, "", 4,
      "Fine-tune: Hall Reverb Mix 38 % \u2192 34 %, Distortion Drive 70 % \u2192 68 %", 0),
  ]);
  const back = counted([
    m("/step/judged", 4, 0, 0.015, 0.03),
    m("/step/takeback", 4, "fine_tune", "", 0.0,
      "Step 4 did not bring Serum's sound closer: its knobs go back (Hall Reverb Mix 38 %, Distortion Drive 70 %)."),
    m("/step/end", 3, "", 1, "no_closer", 3, "A small gain after 3 steps.", 0),
  ]);
  return { loop: "verified", about: "hand-written: two fine-tune rounds, the second taken back",
           replies: [two.replies[0], two.replies[1], two.replies[2], second, back] };
}

const HAND_WRITTEN = { tune_kept: tuneScenario(true), tune_takeback: tuneScenario(false),
                       tune_rounds: tuneRoundsScenario() };

function scenario(name) {
  const s = FIXTURE.scenarios[name] || HAND_WRITTEN[name];
  if (!s) throw new Error("no fixture scenario " + name);
  return s;
}

// The i-th recorded step reply of a scenario, as this request's messages: [address, ...args]
// with the request id and the session id put in.
function fixtureReply(name, i, rid, sid) {
  const reply = scenario(name).replies[i];
  if (!reply) return null;
  return reply.map((m) => [m[0], rid, ...m.slice(2).map((a) => (a === FIXTURE.session ? sid : a))]);
}

// The recorded messages of a scenario's i-th reply with one address.
function fixtureMessages(name, i, address) {
  return scenario(name).replies[i].filter((m) => m[0] === P + address);
}

// A server that answers new/target/undo/reset/end as docs/protocol.md says and replays a
// fixture scenario's step replies in order (one per step request). Set `down` to stop
// answering; `protocol` to answer pings as another protocol version.
class ScriptedServer {
  constructor(plan) {
    this.plan = plan || "verified_steps";
    scenario(this.plan);
    this.requests = [];
    this.sessions = {};
    this.down = false;
    this.nextSession = 1;
    this.groups = "basic_shapes";
    this.protocol = FIXTURE.pong[2];
    this.cache = {};
    this.loading = 0;           // answer this many `new` requests with "loading"
    this.stepMs = 0;            // a step's reply comes this long after its request
    this.now = () => 0;         // the clock (makeFlow wires the test's)
  }
  // The reply messages to one request list; `delayMs` on the array: when they go out.
  handle(list) {
    this.requests.push(list);
    if (this.down) return [];
    const [addr, rid, ...a] = list;
    const name = addr.slice(P.length + 1);
    const key = name + ":" + (a[0] || "") + ":" + rid;
    const kept = name !== "ping" && this.cache[key];
    if (kept && this.now() < kept.readyAt) {      // still running: docs/protocol.md's working
      return [[P + "/working", rid, name, name === "new" ? "" : a[0] || ""]];
    }
    if (kept) return kept.out;
    const out = this.answer(name, rid, a);
    const ms = name === "step" ? this.stepMs : 0;
    if (name !== "ping") this.cache[key] = { out, readyAt: this.now() + ms };
    const sent = out.slice();
    sent.delayMs = ms;
    return sent;
  }
  error(rid, code, message, addr, sid) {
    return [[P + "/error", rid, code, message, addr, sid || ""]];
  }
  answer(name, rid, a) {
    if (name === "ping") return [[FIXTURE.pong[0], rid, this.protocol, this.groups, 0]];
    if (name === "new" && this.loading > 0) {    // install-contract.md: "loading" at once
      this.loading--;
      return this.error(rid, "loading", "basic_shapes is loading", P + "/new");
    }
    if (name === "new") {
      const sid = "s0000000" + this.nextSession++;
      this.sessions[sid] = { group: a[0], target: null, chain: [], at: 0, done: false };
      return [[P + "/new/reply", rid, sid, "basic_shapes", "open", ""]];
    }
    const sid = a[0];
    const s = this.sessions[sid];
    if (!s) return this.error(rid, "unknown_session", "no session " + sid, P + "/" + name);
    if (name === "target") {
      if (String(a[1]).indexOf("bad") >= 0) {
        return this.error(rid, "not_audio", a[1] + " is not an audio file", P + "/target", sid);
      }
      if (String(a[1]).indexOf("gone") >= 0) {
        return this.error(rid, "missing", a[1] + " does not exist", P + "/target", sid);
      }
      s.target = a[1];
      s.chain = [];
      s.at = 0;
      return [[P + "/target/reply", rid, sid, 48.0, 0.0, ""]];
    }
    if (name === "step") {
      if (!s.target) return this.error(rid, "no_target", "no target", P + "/step", sid);
      if (s.done) return this.error(rid, "session_done", "done", P + "/step", sid);
      const out = fixtureReply(this.plan, s.at++, rid, sid);
      if (!out) return this.error(rid, "internal", "fixture " + this.plan + " has no more steps");
      for (const m of out) {
        if (m[0] === P + "/step/takeback") s.chain.splice(s.chain.lastIndexOf(m[4]), 1);
        if (m[0] === P + "/step/effect") s.chain.push(m[4]);
        if (m[0] === P + "/step/tune") s.chain.push("fine_tune");
        if (m[0] === P + "/step/end") s.done = m[5] === 1;
      }
      return out;
    }
    if (name === "undo") {
      if (!s.chain.length) return this.error(rid, "nothing_to_undo", "no step", P + "/undo", sid);
      const last = s.chain.pop();
      s.done = last === "fine_tune";     // the fine-tune is offered once: done without it
      if (s.done) return [[P + "/undo/reply", rid, sid, s.chain.length, last, "", 0.0]];
      const e = effectSpec(last);
      return [[P + "/undo/reply", rid, sid, s.chain.length, e.name, e.enable.serum_name, 0.0]];
    }
    if (name === "reset") {
      const names = s.chain.filter((n) => n !== "fine_tune").map((n) => effectSpec(n).enable.serum_name);
      s.chain = [];
      s.done = false;
      return [[P + "/reset/reply", rid, sid, ...names]];
    }
    if (name === "end") {
      delete this.sessions[sid];
      return [[P + "/end/reply", rid, sid]];
    }
    return this.error(rid, "unknown_address", "?", P + "/" + name);
  }
}

// A flow on a fake Live set talking to a scripted server through the fake clock.
// `lose(list)` may return true to drop a reply message on its way back.
function makeFlow(opts) {
  const o = opts || {};
  const clock = new Clock();
  const live = o.set === null ? null : new FakeLiveSet(SETS[o.set || "configured"]());
  const server = o.server || new ScriptedServer(o.plan);
  const shown = {};
  const history = [];
  const sent = [];
  const logs = [];
  const adapter = live ? new LiveAdapter(live.LiveAPI, spec, { log: (m) => logs.push(m) })
                       : null;
  let captures = 0;
  const gate = [];
  const listened = [];
  const ports = {
    send(list) {
      sent.push(list);
      const replies = server.handle(list);
      for (const reply of replies) {
        if (o.lose && o.lose(reply)) continue;
        clock.after(5 + (replies.delayMs || 0), () => flow.receive(reply[0], reply.slice(1)));
      }
    },
    show(field, value) { shown[field] = value; history.push([field, value]); },
    record() {
      captures++;
      clock.after(1100, () => flow.captured("/tmp/serumrnn-capture-" + captures + ".wav"));
    },
    arm(on) { gate.push(on); },
    after: (ms, fn) => clock.after(ms, fn),
    cancel: (h) => clock.cancel(h),
    random: o.random || seeded(1),
    listen(port) { listened.push(port); },
    adapter,
    replyPort: o.replyPort === undefined ? 9871 : o.replyPort,
    modelNote: 48,
    effectCount: spec.effects.length,
    os: o.os || "macintosh",
  };
  const flow = new DeviceFlow(ports, { protocol, text });
  if (server instanceof ScriptedServer) server.now = () => clock.t;
  return { flow, clock, live, server, shown, history, sent, logs, adapter, gate, listened,
           captures: () => captures };
}

// A reproducible Math.random for the flow (request ids, reply ports).
function seeded(seed) {
  let x = seed >>> 0 || 1;
  return () => {
    x = (Math.imul(x, 1664525) + 1013904223) >>> 0;
    return x / 4294967296;
  };
}

// Play a note: the onset the patcher's detector sends, then the recording's 1.1 s.
function playNote(t) {
  t.flow.onset();
  t.clock.advance(1200);
}

module.exports = { Clock, ScriptedServer, makeFlow, playNote, fixtureReply, fixtureMessages,
                   FIXTURE, effectSpec, seeded, P, spec, TUNE_KNOBS, TUNE_SENTENCE };
