// The protocol module: request lists, reply parsing, step-reply reassembly, paths; and the
// node-only wire codec the end-to-end test uses.
"use strict";

const test = require("node:test");
const assert = require("node:assert/strict");
const P = require("../osc_protocol.js");
const wire = require("./osc_wire.js");
const { fixtureReply, FIXTURE, TUNE_KNOBS } = require("./helpers.js");

const A = P.PREFIX;

test("requests are [address, id, ...] lists with the protocol's argument order", () => {
  assert.deepEqual(P.ping(7, 9871), [A + "/ping", 7, 9871]);
  assert.deepEqual(P.status(8, 9871), [A + "/status", 8, 9871]);
  assert.deepEqual(P.newSession(9, "basic", [], 9871), [A + "/new", 9, "basic", 9871]);
  assert.deepEqual(P.newSession(9, "advanced", ["serum"], 9871),
                   [A + "/new", 9, "advanced", "serum", 9871]);
  assert.deepEqual(P.target(10, "s1234abcd", "/Users/me/want.wav"),
                   [A + "/target", 10, "s1234abcd", "/Users/me/want.wav"]);
  assert.deepEqual(P.step(11, "s1", "/tmp/c.wav"), [A + "/step", 11, "s1", "/tmp/c.wav"]);
  assert.deepEqual(P.step(11, "s1"), [A + "/step", 11, "s1"]);
  assert.deepEqual(P.undo(12, "s1"), [A + "/undo", 12, "s1"]);
  assert.deepEqual(P.reset(13, "s1"), [A + "/reset", 13, "s1"]);
  assert.deepEqual(P.end(14, "s1"), [A + "/end", 14, "s1"]);
  assert.equal(P.requestName(P.undo(1, "s")), "undo");
});

test("request lists encode as the OSC types the server checks (ids and ports are ints)", () => {
  const [m] = wire.decode(wire.encode(P.newSession(123, "basic", [], 9871)));
  assert.deepEqual(m, [A + "/new", 123, "basic", 9871]);
  const raw = wire.encode(P.target(5, "s1", "/tmp/a b.wav"));
  assert.ok(raw.includes(Buffer.from(",iss\0")), "type tags i s s");
  assert.equal(raw.length % 4, 0);
});

test("request ids start at a random point, count up and stay int32", () => {
  const a = new P.IdCounter(P.randomIdStart(() => 0.25));
  const b = new P.IdCounter(P.randomIdStart(() => 0.75));
  const x = a.take(), y = a.take();
  assert.equal(y, x + 1);
  assert.ok(P.isInt(x) && x > 0 && x < 2147483647);
  assert.equal(x, 1 + 0.25 * P.ID_SPAN);
  assert.notEqual(b.take(), x, "two instances draw different ids");
  assert.equal(new P.IdCounter(P.randomIdStart(() => 0)).take(), 1);
  const c = new P.IdCounter(2147483000);
  c.take();
  assert.equal(c.take(), 1);
});

test("each instance's reply port comes from the block after the server's, never the one it leaves", () => {
  const seen = new Set();
  for (let i = 0; i < 200; i++) {
    const port = P.pickReplyPort(() => i / 200);
    assert.ok(port >= P.REPLY_PORT_FIRST && port < P.REPLY_PORT_FIRST + P.REPLY_PORT_COUNT, String(port));
    seen.add(port);
  }
  assert.equal(seen.size, 200);
  assert.ok(P.REPLY_PORT_FIRST > 9871, "not the server's port (9870) nor its default reply port");
  assert.notEqual(P.pickReplyPort(() => 0.5, P.REPLY_PORT_FIRST + 500), P.REPLY_PORT_FIRST + 500);
});

test("every reply of docs/protocol.md parses into named fields", () => {
  assert.deepEqual(P.parseMessage(A + "/pong", [1, "1", "basic_shapes,advanced_shapes", 2]),
                   { kind: "pong", requestId: 1, address: A + "/pong", protocol: "1",
                     groups: ["basic_shapes", "advanced_shapes"], sessions: 2 });
  const st = P.parseMessage(A + "/status/reply", [2, "1", "basic_shapes", 1, 40, 3, 12.5]);
  assert.equal(st.kind, "status");
  assert.equal(st.uptime, 12.5);
  const nw = P.parseMessage(A + "/new/reply", [3, "s3fa09c1e", "basic_shapes", "open", ""]);
  assert.equal(nw.session, "s3fa09c1e");
  assert.equal(nw.input, "");
  const tg = P.parseMessage(A + "/target/reply", [4, "s1", 53.0, -5.0, "transposed by -5.0 semitones"]);
  assert.equal(tg.shift, -5);
  assert.equal(tg.note, "transposed by -5.0 semitones");
  const un = P.parseMessage(A + "/undo/reply", [6, "s1", 1, "eq", "EQ Enable", 0.0]);
  assert.deepEqual([un.kind, un.steps, un.effect, un.enable, un.value], ["undo", 1, "eq", "EQ Enable", 0]);
  const rs = P.parseMessage(A + "/reset/reply", [7, "s1", "Dist Enable", "Rev Enable"]);
  assert.deepEqual(rs.enables, ["Dist Enable", "Rev Enable"]);
  assert.deepEqual(P.parseMessage(A + "/reset/reply", [7, "s1"]).enables, []);
  assert.equal(P.parseMessage(A + "/end/reply", [8, "s1"]).kind, "ended");
  const er = P.parseMessage(A + "/error", [9, "missing", "/x/want.wav does not exist", A + "/target", "s1"]);
  assert.deepEqual([er.kind, er.requestId, er.code, er.address], ["error", 9, "missing", A + "/target"]);
  const rd = P.parseMessage(A + "/ready", ["1", "basic_shapes", 9870]);
  assert.deepEqual([rd.kind, rd.requestId, rd.groups, rd.port], ["ready", -1, ["basic_shapes"], 9870]);
  assert.equal(P.parseMessage(A + "/stopped", []).kind, "stopped");
  assert.equal(P.parseMessage("/other/thing", [1]), null);
});

test("replies whose arguments do not fit are marked malformed, not thrown", () => {
  assert.equal(P.parseMessage(A + "/pong", []).kind, "malformed");
  assert.equal(P.parseMessage(A + "/pong", ["x", "1", "b", 0]).kind, "malformed");
  const m = P.parseMessage(A + "/step/end", [5, "s1", 1, "eq", 7, "", 0, "", 3]);
  assert.equal(m.kind, "malformed");
  assert.match(m.reason, /done is not 0 or 1/);
  assert.equal(P.parseMessage(A + "/target/reply", [4, "s1", 48.0]).reason, "missing shift");
  assert.equal(P.parseMessage(A + "/step/knob", [4, "s1", "Dist_Drv", "loud", "72 %", "Drive"]).kind,
               "malformed");
});

// Step replies recorded from the real server (fixtures/step_replies.json).
function assemble(msgs) {
  const asm = new P.StepAssembler();
  let reply = null;
  for (const l of msgs) reply = asm.add(P.parseMessage(l[0], l.slice(1))) || reply;
  return reply;
}

test("a step reply is reassembled from its messages; /step/end's count tells it is whole", () => {
  const msgs = fixtureReply("verified_steps", 0, 12, "s1");
  const reply = assemble(msgs);
  assert.ok(reply.complete);
  assert.equal(reply.received, msgs.length);
  assert.equal(reply.effect.effect, "distortion");
  assert.equal(reply.effect.confidence, msgs[0][8]);
  assert.deepEqual(reply.knobs.map((k) => k.name), ["Dist_Mode", "Dist_Drv"]);
  assert.equal(reply.fixed.length, 5);
  assert.deepEqual(reply.distances.map((d) => d.metric), ["mse", "mae", "lsd", "mfccd", "pcc", "mssmae"]);
  const values = P.stepValues(reply);
  assert.deepEqual(values.slice(0, 3).map((v) => [v.name, v.role]),
                   [["Dist Enable", "enable"], ["Dist_Mode", "knob"], ["Dist_Drv", "knob"]]);
  assert.equal(values.length, 1 + 2 + 5);
});

test("a lost datagram makes the reply incomplete; a replayed copy completes it without doubles", () => {
  const msgs = fixtureReply("verified_steps", 1, 13, "s1");
  const asm = new P.StepAssembler();
  const parse = (l) => P.parseMessage(l[0], l.slice(1));
  let reply = null;
  for (const l of msgs) if (l[0] !== A + "/step/fixed") reply = asm.add(parse(l)) || reply;
  assert.equal(reply.complete, false);
  assert.ok(reply.received < msgs.length);
  for (const l of msgs) reply = asm.add(parse(l)) || reply;   // the server's cached replay
  assert.equal(reply.complete, true);
  assert.equal(reply.received, msgs.length);
  assert.equal(reply.judged.step, 1);
  assert.equal(reply.judged.improved, true);
});

test("a take-back reply: judged, takeback, then the next candidate, complete", () => {
  const msgs = fixtureReply("verified_takeback", 1, 14, "s1");
  assert.deepEqual(msgs.slice(0, 3).map((m) => m[0]),
                   [A + "/step/judged", A + "/step/takeback", A + "/step/effect"]);
  const reply = assemble(msgs);
  assert.ok(reply.complete);
  assert.equal(reply.received, msgs.length);
  assert.equal(reply.judged.improved, false);
  assert.deepEqual([reply.takeback.step, reply.takeback.effect, reply.takeback.enable,
                    reply.takeback.value], [1, "distortion", "Dist Enable", 0]);
  assert.match(reply.takeback.text, /turn Distortion off/);
  assert.equal(reply.effect.effect, "reverb");
  assert.equal(reply.end.step, 1, "the next candidate is offered as the same step");
  assert.equal(P.isFinal(P.parseMessage(msgs[1][0], msgs[1].slice(1))), false);
});

test("the step's renderer message is part of the reply: counted, kept, not final", () => {
  const msgs = fixtureReply("verified_steps", 0, 15, "s1");
  const line = msgs.find((m) => m[0] === A + "/step/renderer");
  assert.ok(line, "the server says which renderer simulated the step");
  const parsed = P.parseMessage(line[0], line.slice(1));
  assert.equal(parsed.kind, "renderer");
  assert.equal(P.isFinal(parsed), false);
  const reply = assemble(msgs);
  assert.ok(reply.complete);
  assert.equal(reply.received, msgs.length);
  assert.equal(reply.renderer.renderer, line[3]);
  assert.equal(reply.renderer.judgedBy, "capture");
  const without = assemble(msgs.filter((m) => m !== line));
  assert.equal(without.complete, false, "a lost renderer message makes the reply incomplete");
});

test("replies to different request ids are kept apart", () => {
  const asm = new P.StepAssembler();
  const a = fixtureReply("eq_first", 0, 20, "s1"), b = fixtureReply("phaser_first", 0, 21, "s2");
  let ra = null, rb = null;
  for (let i = 0; i < Math.max(a.length, b.length); i++) {
    if (a[i]) ra = asm.add(P.parseMessage(a[i][0], a[i].slice(1))) || ra;
    if (b[i]) rb = asm.add(P.parseMessage(b[i][0], b[i].slice(1))) || rb;
  }
  assert.equal(ra.effect.effect, "eq");
  assert.equal(rb.effect.effect, "phaser");
  assert.ok(ra.complete && rb.complete);
});

test("a done reply has no effect and is complete with judged and end only", () => {
  for (const [name, i, reason] of [["paper_worse", 2, "worse"], ["verified_steps", 2, "reached"],
                                   ["verified_takeback", 2, "no_closer"]]) {
    const reply = assemble(fixtureReply(name, i, 30, "s1"));
    assert.ok(reply.complete, name);
    assert.equal(reply.effect, null);
    assert.deepEqual(P.stepValues(reply), []);
    assert.equal(reply.end.done, true);
    assert.equal(reply.end.reason, reason);
  }
  const none = assemble(fixtureReply("already_matches", 0, 31, "s1"));
  assert.equal(none.received, 1);
  assert.ok(none.complete && none.end.done && none.end.reason === "already_matches");
});

test("fine-tune messages parse into named fields, and neither completes the reply", () => {
  const tn = P.parseMessage(A + "/step/tune", [16, "s1", 3, 0.25, 2]);
  assert.deepEqual([tn.kind, tn.requestId, tn.session, tn.step, tn.improvement, tn.knobs],
                   ["tune", 16, "s1", 3, 0.25, 2]);
  const kn = P.parseMessage(A + "/step/tune/knob",
                            [16, "s1", "Verb Wet", 0.38, "38 %", "Mix", 0.5, "50 %", "Hall Reverb"]);
  assert.deepEqual([kn.kind, kn.name, kn.value, kn.text, kn.label, kn.before, kn.beforeText, kn.effectLabel],
                   ["tuneKnob", "Verb Wet", 0.38, "38 %", "Mix", 0.5, "50 %", "Hall Reverb"]);
  assert.equal(P.isFinal(tn), false);
  assert.equal(P.isFinal(kn), false);
  assert.match(P.parseMessage(A + "/step/tune/knob", [16, "s1", "Verb Wet", 0.38, "38 %", "Mix", "x", "50 %", "R"]).reason,
               /before is not a number/);
  assert.equal(P.parseMessage(A + "/step/tune", [16, "s1", 3, 0.25]).reason, "missing knobs");
  const back = P.parseMessage(A + "/step/takeback", [17, "s1", 3, "fine_tune", "", 0.0, "Set back."]);
  assert.equal(back.enable, "");
  assert.ok(P.isTune(back), "a fine-tune's take-back has no switch");
  assert.ok(P.isTune(P.parseMessage(A + "/undo/reply", [18, "s1", 2, "fine_tune", "", 0.0])));
  assert.ok(!P.isTune(P.parseMessage(A + "/undo/reply", [18, "s1", 1, "reverb", "Rev Enable", 0.0])));
});

test("a fine-tune reply: judged, tune, its knobs, distances, end; the values to set", () => {
  const msgs = fixtureReply("tune_kept", 2, 16, "s1");
  const reply = assemble(msgs);
  assert.ok(reply.complete);
  assert.equal(reply.received, msgs.length);
  assert.equal(reply.effect, null, "no effect is switched on");
  assert.deepEqual(P.stepValues(reply), []);
  assert.equal(reply.tune.step, 3);
  assert.equal(reply.end.effect, "fine_tune");
  assert.equal(reply.end.bestStep, reply.end.step);
  assert.deepEqual(P.tuneValues(reply), TUNE_KNOBS.map((k) => ({
    name: k[0], value: k[1], text: k[2], label: k[3], role: "knob", before: k[4],
    beforeText: k[5], effectLabel: k[6] })));
  assert.deepEqual(P.tuneValues(assemble(fixtureReply("verified_steps", 1, 16, "s1"))), []);
});

test("a lost fine-tune datagram (the tune or one of its knobs) makes the reply incomplete", () => {
  const msgs = fixtureReply("tune_kept", 2, 19, "s1");
  for (const lost of [A + "/step/tune", A + "/step/tune/knob"]) {
    const i = msgs.findIndex((m) => m[0] === lost);
    const reply = assemble(msgs.filter((m, j) => j !== i));
    assert.equal(reply.complete, false, lost);
    const asm = new P.StepAssembler();
    let again = null;
    for (const l of msgs.filter((m, j) => j !== i).concat(msgs)) {   // the server's replay
      again = asm.add(P.parseMessage(l[0], l.slice(1))) || again;
    }
    assert.equal(again.complete, true);
    assert.equal(again.tuneKnobs.length, TUNE_KNOBS.length, "replayed knobs are not doubled");
  }
  // /step/tune names its knob count: a reply whose count disagrees is not whole either
  const short = msgs.map((m) => (m[0] === A + "/step/tune" ? [...m.slice(0, 5), 3] : m));
  assert.equal(assemble(short).complete, false);
});

test("bundles decode into the same lists as single messages (what udpreceive hands over)", () => {
  const msgs = fixtureReply("eq_first", 0, 40, "s1");
  const got = wire.decode(wire.bundle(msgs));
  assert.equal(got.length, msgs.length);
  assert.equal(got[0][0], A + "/step/effect");
  assert.equal(got[got.length - 1][0], A + "/step/end");
  assert.ok(Math.abs(got[0][8] - msgs[0][8]) < 1e-6);   // float32 on the wire
  assert.equal(got[got.length - 1][9], msgs.length);
});

test("the device speaks the protocol version of the server the fixtures came from", () => {
  assert.equal(P.PROTOCOL_VERSION, FIXTURE.protocol);
  assert.equal(P.PROTOCOL_VERSION, "3");
});

// Path fixtures: what live.drop hands out (Max style, conformpath's reference) on each
// system, and the native path the server must get.
const MAC = [
  ["Macintosh HD:/Users/me/want.wav", "/Users/me/want.wav"],                 // boot volume
  ["Macintosh HD:/Users/me/Music/a b (1).aif", "/Users/me/Music/a b (1).aif"],
  ["Samples:/Kits/t.wav", "/Volumes/Samples/Kits/t.wav"],                   // another drive
  ["My Drive:/Sounds/lead.wav", "/Volumes/My Drive/Sounds/lead.wav"],
  ["X:/one.wav", "/Volumes/X/one.wav"],                                     // a one-letter volume
  ["/Users/me/already.wav", "/Users/me/already.wav"],                       // already native
];
const WIN = [
  ["C:/Users/me/want.wav", "C:/Users/me/want.wav"],
  ["D:/Kits/t.wav", "D:/Kits/t.wav"],                                       // the drive survives
  ["e:/Samples/x.wav", "E:/Samples/x.wav"],
  ["C:\\Users\\me\\want.wav", "C:/Users/me/want.wav"],
  ["//nas/share/t.wav", "//nas/share/t.wav"],
];

test("dropped paths on macOS: the boot volume maps to /, any other volume to /Volumes/<name>", () => {
  for (const [max, native] of MAC) assert.equal(P.nativePath(max, "Macintosh HD", "macintosh"), native, max);
  // the boot volume not known yet: /Volumes/<name> (macOS lists the boot volume there too)
  assert.equal(P.nativePath("Macintosh HD:/Users/me/a.wav", "", "macintosh"), "/Volumes/Macintosh HD/Users/me/a.wav");
  assert.equal(P.volumeOf("Macintosh HD:/Users/me/"), "Macintosh HD");
  assert.equal(P.volumeOf("/Users/me"), "");
});

test("dropped paths on Windows keep their drive letter", () => {
  for (const [max, native] of WIN) assert.equal(P.nativePath(max, "", "windows"), native, max);
  assert.equal(P.nativePath("D:/Kits/t.wav"), "D:/Kits/t.wav", "a drive letter means Windows");
  assert.ok(P.isAbsolute("/tmp/a.wav") && P.isAbsolute("D:/a.wav"));
  assert.ok(!P.isAbsolute("want.wav") && !P.isAbsolute("samples/want.wav"));
});

test("working answers a resend of a request still running: parsed, and not its final reply", () => {
  const w = P.parseMessage(A + "/working", [21, "step", "s1"]);
  assert.deepEqual([w.kind, w.requestId, w.request, w.session], ["working", 21, "step", "s1"]);
  assert.equal(P.isFinal(w), false);
  assert.ok(P.WORKING_POLL_MS < P.TIMEOUT_MS.step && P.MAX_WORKING_MS > P.TIMEOUT_MS.step * P.MAX_TRIES);
});
