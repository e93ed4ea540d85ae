// End-to-end: the device's JavaScript (flow, protocol, UI text, Live adapter on a fake
// Live set) against the real `serumrnn serve` over UDP on loopback, for a whole session.
// tests/test_device.py starts the server and runs this script:
//
//   node e2e_session.js --port PORT --target /abs/target.wav [--group basic]
//                       [--set serum2 --by-hand]
//
// --by-hand: instruction mode (docs/device.md). The fake Live set (Serum 2 by default
// here) exposes none of the knobs, so the script plays the producer: it makes each shown
// setting "in Serum" (its own record of Serum's knobs), presses Done and plays the note;
// a capture is rendered from those hand-made values. A fine-tune (protocol 3) moves knobs of
// effects already on; taken back (or undone), the producer sets them back.
//
// Like the device, it sends from one socket and listens on another (udpsend and
// udpreceive), naming its listening port as the reply port. A capture is the one thing
// node cannot do: it prints {"capture": n, "values": {Serum name: value}} (the fake
// Serum's knobs) and reads back {"capture": n, "path": ...}, a WAV that pytest rendered
// with those knobs on the open rack. The last line it prints is {"result": ...}.
"use strict";

const dgram = require("node:dgram");
const readline = require("node:readline");
const protocol = require("../osc_protocol.js");
const text = require("../ui_text.js");
const { DeviceFlow } = require("../device_flow.js");
const { LiveAdapter, specParams } = require("../live_adapter.js");
const { FakeLiveSet, SETS } = require("./fake_live.js");
const wire = require("./osc_wire.js");
const spec = require("../serumrnn_spec.json");

const SERUM = "live_set tracks 0 devices 0";

function args() {
  const out = { group: "basic", host: "127.0.0.1", set: "configured" };
  const a = process.argv.slice(2).filter((x) => x !== "--by-hand");
  out.byHand = process.argv.includes("--by-hand");
  for (let i = 0; i < a.length; i += 2) out[a[i].replace(/^--/, "")] = a[i + 1];
  out.port = Number(out.port);
  return out;
}

function emit(obj) {
  process.stdout.write(JSON.stringify(obj) + "\n");
}

async function main() {
  const opt = args();
  const live = new FakeLiveSet(SETS[opt.set]());
  const adapter = new LiveAdapter(live.LiveAPI, spec);
  const sender = dgram.createSocket("udp4");
  const listener = dgram.createSocket("udp4");
  await new Promise((ok) => listener.bind(0, "127.0.0.1", ok));
  await new Promise((ok) => sender.bind(0, "127.0.0.1", ok));
  const replyPort = listener.address().port;

  const transcript = { sent: [], received: [], shown: [] };
  const shown = {};
  const captures = new Map();
  let captureCount = 0;
  const lines = readline.createInterface({ input: process.stdin });
  lines.on("line", (line) => {
    const m = JSON.parse(line);
    const done = captures.get(m.capture);
    if (done) done(m.path);
  });

  // Serum's knobs as they sound: what Live exposes, else what the producer set by hand
  // (Serum's own default until then: effects off, fixed knobs at their value).
  const hand = {};
  for (const p of specParams(spec)) hand[p.name] = p.role === "fixed" ? p.value : 0;
  const serumValues = () => {
    const out = {};
    for (const p of specParams(spec)) {
      const v = live.value(SERUM, p.name);
      out[p.name] = v === undefined ? hand[p.name] : v;
    }
    return out;
  };
  const handMade = [];     // [instruction shown, values set by hand]

  const flow = new DeviceFlow({
    send(list) {
      transcript.sent.push(list);
      sender.send(wire.encode(list), opt.port, opt.host);
    },
    show(field, value) {
      shown[field] = value;
      transcript.shown.push([field, value]);
    },
    record() {
      const n = ++captureCount;
      captures.set(n, (path) => flow.captured(path));
      emit({ capture: n, values: serumValues() });
    },
    after: (ms, fn) => setTimeout(fn, ms),
    cancel: (h) => clearTimeout(h),
    random: Math.random,
    adapter,
    replyPort,
    effectCount: spec.effects.length,
  }, { protocol, text });

  listener.on("message", (buf) => {
    for (const list of wire.decode(buf)) {
      transcript.received.push(list.slice(0, 3));
      flow.receive(list[0], list.slice(1));
    }
  });

  const steps = [];
  const origOnStep = flow.onStepReply.bind(flow);
  let pendingHand = [];
  let lastTune = [];       // the last fine-tune's values, for its take-back by hand
  const unexposed = (v) => live.value(SERUM, v.name) === undefined;
  flow.onStepReply = (reply) => {
    const before = serumValues();
    origOnStep(reply);
    // What the panel asks for by hand: the reply's values Live does not expose.
    const tune = protocol.tuneValues(reply);
    pendingHand = protocol.stepValues(reply).concat(tune).filter(unexposed);
    if (reply.takeback && protocol.isTune(reply.takeback)) {
      // a fine-tune taken back: its knobs go back (nothing is switched off)
      pendingHand = lastTune.filter(unexposed).map((v) => ({ name: v.name, value: v.before }))
        .concat(pendingHand);
    } else if (reply.takeback && live.value(SERUM, reply.takeback.enable) === undefined) {
      pendingHand.unshift({ name: reply.takeback.enable, value: 0 });
    }
    if (reply.tune) lastTune = tune;
    steps.push({
      requestId: reply.requestId,
      complete: reply.complete,
      effect: reply.effect ? reply.effect.effect : "",
      endEffect: reply.end.effect,     // "fine_tune" for a fine-tune
      tune: reply.tune ? { step: reply.tune.step, improvement: reply.tune.improvement,
                           knobs: tune.map((v) => [v.name, v.value, v.before]) } : null,
      step: reply.end.step, done: reply.end.done, reason: reply.end.reason,
      bestStep: reply.end.bestStep,
      judged: reply.judged ? { step: reply.judged.step, improved: reply.judged.improved } : null,
      takeback: reply.takeback ? { step: reply.takeback.step, effect: reply.takeback.effect,
                                   enable: reply.takeback.enable, value: reply.takeback.value,
                                   text: reply.takeback.text } : null,
      values: protocol.stepValues(reply).concat(tune).map((v) => [v.name, v.value]),
      serumBefore: before, serumAfter: serumValues(),
      instruction: shown.instruction, confidence: shown.confidence, detail: shown.detail,
    });
  };

  const waitFor = (what, pred, ms) => new Promise((ok, fail) => {
    const t0 = Date.now();
    const tick = () => {
      if (pred()) return ok();
      if (Date.now() - t0 > (ms || 60000)) {
        return fail(new Error("timed out waiting for " + what + ": " +
                              JSON.stringify({ state: flow.state(), shown })));
      }
      setTimeout(tick, 5);
    };
    tick();
  });
  const idle = () => !flow.state().inflight && flow.state().queue === 0;

  flow.start();
  await waitFor("the server's pong", () => flow.state().server === "up", 10000);
  const serumStart = serumValues();
  flow.setGroup(opt.group);
  flow.dropTarget(opt.target);
  await waitFor("the target", () => flow.state().targetSet);
  const targetShown = shown.detail;

  flow.capture();
  flow.onset();                                  // the producer plays a note
  await waitFor("the first capture", () => flow.state().captureFresh);

  // The producer makes the shown setting in Serum, as the instruction line says.
  const setByHand = () => {
    handMade.push([shown.instruction, pendingHand.map((v) => [v.name, v.value])]);
    for (const v of pendingHand) hand[v.name] = v.value;
    pendingHand = [];
  };

  // every effect, a take-back of each, a fine-tune and its verdict
  for (let i = 0; i < 2 * spec.effects.length + 4 && !flow.state().done; i++) {
    const n = steps.length;
    if (i === 0 || !opt.byHand) flow.next();
    await waitFor("step reply " + (n + 1), () => steps.length > n && idle());
    if (flow.state().done) break;
    if (opt.byHand) {
      if (!flow.state().awaitingHand || flow.state().armed) throw new Error("no instruction mode: " + shown.instruction);
      setByHand();
      flow.doneByHand();                         // Done, then the note: its capture goes
      flow.onset();                              // out with the next step by itself
      continue;
    }
    flow.onset();                                // the note plays again: auto-capture
    await waitFor("capture after step", () => flow.state().captureFresh);
  }
  if (opt.byHand && flow.state().awaitingHand) setByHand();   // the last step, made by hand
  const afterDone = { state: flow.state(), detail: shown.detail, serum: serumValues() };

  const nSent = transcript.sent.length;
  flow.next();                                   // refused by the device itself: done
  const nextAfterDone = { detail: shown.detail, sent: transcript.sent.length - nSent };

  const lastHand = flow.handSteps[flow.handSteps.length - 1];
  flow.undo();
  if (opt.byHand && flow.state().awaitingHand && lastHand) {
    // "Undo by hand, in Serum's FX tab: X: switch it off" (a fine-tune: "Mix 38 % -> 42 %"):
    // the producer does so.
    pendingHand = lastHand.tune ? lastHand.tune.map((v) => ({ name: v.name, value: v.value }))
                                : [{ name: lastHand.enable, value: 0 }];
    setByHand();
  }
  const undoLocal = serumValues();
  await waitFor("the undo reply", idle);
  const afterUndo = { state: flow.state(), serum: serumValues(), detail: shown.detail };

  const handBeforeReset = flow.handSteps.slice();
  flow.reset();
  const resetShown = shown.instruction;
  if (opt.byHand && flow.state().awaitingHand) {
    // every effect off, and a fine-tune's knobs back (newest first)
    pendingHand = [];
    for (const h of handBeforeReset.reverse()) {
      if (h.byHand && h.tune) pendingHand = pendingHand.concat(h.tune.map((v) => ({ name: v.name, value: v.value })));
    }
    pendingHand = pendingHand.concat(spec.effects.map((e) => ({ name: e.enable.serum_name, value: 0 })));
    setByHand();
  }
  await waitFor("the reset reply", idle);
  const afterReset = { state: flow.state(), serum: serumValues(), detail: shown.detail };

  const session = flow.state().session;
  flow.close();
  await waitFor("the end reply", () => transcript.received.some(
    (l) => l[0] === protocol.PREFIX + "/end/reply" && l[2] === session), 5000);

  emit({ result: {
    replyPort, session, status: shown.status, serumShown: shown.serum, targetShown,
    serumStart, steps, afterDone, nextAfterDone, undoLocal, afterUndo, afterReset, handMade,
    resetShown, liveSets: live.sets.length,
    captures: captureCount, console: live.console,
    sent: transcript.sent.map((l) => [l[0], ...l.slice(1).map((a) => typeof a)]),
    sentIds: transcript.sent.map((l) => l[1]),
    received: transcript.received.map((l) => l[0]),
  } });
  sender.close();
  listener.close();
  lines.close();
}

main().catch((e) => {
  emit({ error: String(e && e.stack || e) });
  process.exit(1);
});
