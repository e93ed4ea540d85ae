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

// The messages of one step reply for `effect` (a spec effect name) or none (done, worse).
function stepReply(rid, sid, n, effect, opts) {
  const o = opts || {};
  const out = [];
  if (o.judged) out.push([P + "/step/judged", rid, sid, ...o.judged]);
  if (effect) {
    const e = effectSpec(effect);
    out.push([P + "/step/effect", rid, sid, n, e.name, e.label, e.enable.serum_name, 1.0,
              o.confidence === undefined ? 0.41 : o.confidence]);
    e.knobs.forEach((k, i) => {
      const v = k.choices ? k.serum_values[0] : 0.5 + i * 0.1;
      const t = k.choices ? k.choices[0] : Math.round(v * 100) + " %";
      out.push([P + "/step/knob", rid, sid, k.serum_name, v, t, k.label]);
    });
    e.fixed.forEach((f) => out.push([P + "/step/fixed", rid, sid, f.serum_name, f.value, "x"]));
    ["mse", "mae", "lsd", "mfccd", "pcc", "mssmae"].forEach((m) =>
      out.push([P + "/step/distance", rid, sid, m, 0.5, 0.0, 0]));
  }
  const instruction = effect ? "Turn on " + effectSpec(effect).label + ": test" : "";
  out.push([P + "/step/end", rid, sid, o.step === undefined ? n : o.step, effect || "",
            o.done ? 1 : 0, o.reason || "", o.best === undefined ? 0 : o.best, instruction,
            out.length + 1]);
  return out;
}

// A server that answers like serumrnn serve from a plan of effects, one per step.
// `plan` entries: an effect name, or {worse: true} (the capture judged the last step bad
// and the stopping rule fired). Set `down` to stop answering.
class ScriptedServer {
  constructor(plan) {
    this.plan = plan || ["distortion", "reverb", "eq"];
    this.requests = [];
    this.sessions = {};
    this.down = false;
    this.nextSession = 1;
    this.groups = "basic_shapes";
    this.cache = {};
  }
  handle(list) {
    this.requests.push(list);
    if (this.down) return [];
    const [addr, rid, ...a] = list;
    const name = addr.slice(P.length + 1);
    const key = name + ":" + (a[0] || "") + ":" + rid;
    if (name !== "ping" && this.cache[key]) return this.cache[key];
    const out = this.answer(name, rid, a);
    if (name !== "ping") this.cache[key] = out;
    return out;
  }
  error(rid, code, message, addr, sid) {
    return [[P + "/error", rid, code, message, addr, sid || ""]];
  }
  answer(name, rid, a) {
    if (name === "ping") return [[P + "/pong", rid, "1", this.groups, 0]];
    if (name === "new") {
      const sid = "s0000000" + this.nextSession++;
      this.sessions[sid] = { group: a[0], target: null, chain: [], planAt: 0, done: false };
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
      s.planAt = 0;
      return [[P + "/target/reply", rid, sid, 48.0, 0.0, ""]];
    }
    if (name === "step") {
      if (!s.target) return this.error(rid, "no_target", "no target", P + "/step", sid);
      if (s.done) return this.error(rid, "session_done", "done", P + "/step", sid);
      const item = this.plan[s.planAt++];
      const judged = s.chain.length ? { judged: [s.chain.length, 1, 0.5, 0.4] } : {};
      if (item && item.worse) {
        s.chain.pop();
        s.done = true;
        return stepReply(rid, sid, s.chain.length, null, {
          judged: [s.chain.length + 1, 0, 0.4, 0.6], done: true, reason: "worse",
          best: s.chain.length, step: s.chain.length });
      }
      s.chain.push(item);
      const done = s.chain.length === 5;
      return stepReply(rid, sid, s.chain.length, item, Object.assign(judged, {
        done, reason: done ? "all_effects" : "", best: s.chain.length }));
    }
    if (name === "undo") {
      if (!s.chain.length) return this.error(rid, "nothing_to_undo", "no step", P + "/undo", sid);
      const e = effectSpec(s.chain.pop());
      s.done = false;
      return [[P + "/undo/reply", rid, sid, s.chain.length, e.name, e.enable.serum_name, 0.0]];
    }
    if (name === "reset") {
      const names = s.chain.map((n) => effectSpec(n).enable.serum_name);
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
      for (const reply of server.handle(list)) {
        if (o.lose && o.lose(reply)) continue;
        clock.after(5, () => flow.receive(reply[0], reply.slice(1)));
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
    os: o.os || "macintosh",
  };
  const flow = new DeviceFlow(ports, { protocol, text });
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

module.exports = { Clock, ScriptedServer, makeFlow, playNote, stepReply, effectSpec, seeded, P, spec };
