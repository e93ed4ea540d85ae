// The committed patcher, run in the simulator (patcher_sim.js) with what each object
// really sends: buttons, the menu, the drop zone, udpreceive's port, the recorder and
// the display, with the real serumrnn_device.js inside (max_js.js), a fake Live set and a
// scripted server.
"use strict";

const test = require("node:test");
const assert = require("node:assert/strict");
const path = require("node:path");
const { PatcherSim, items } = require("./patcher_sim.js");
const { jsHost } = require("./max_js.js");
const { FakeLiveSet, SETS } = require("./fake_live.js");
const { ScriptedServer, seeded, P } = require("./helpers.js");
const protocol = require("../osc_protocol.js");
const capture = require("../capture.js");

const PATCHER = path.resolve(__dirname, "..", "SerumRNN.maxpat");

// The patcher with a js box that only records what reaches it.
function wiring(opts) {
  const got = [];
  const sim = new PatcherSim(PATCHER, Object.assign({
    js: () => ({ receive: (m) => got.push(items(m).join(" ")) }),
  }, opts));
  return { sim, got };
}

test("every button reaches the js once per click (live.text sends bang in button mode)", () => {
  const { sim, got } = wiring();
  for (const [name, word] of [["Next", "next"], ["Capture", "capture"], ["Undo", "undo"], ["Reset", "reset"]]) {
    got.length = 0;
    sim.click(name);
    assert.deepEqual(got, [word], name);
  }
});

test("a MIDI-mapped Next or Done fires once per press, by note (toggle) or by CC (1 then 0)", () => {
  const { sim, got } = wiring();
  for (const [name, word] of [["Next", "next"], ["Done", "done"]]) {
    got.length = 0;
    for (let i = 0; i < 4; i++) sim.notePress(name);
    assert.deepEqual(got, [word, word, word, word], name + ": every toggled press");
    assert.equal(sim.box(name).state.value, 0, "put back to 0 after each press");
    got.length = 0;
    for (let i = 0; i < 3; i++) sim.ccPress(name);
    assert.deepEqual(got, [word, word, word], name + ": press fires, release does not");
    got.length = 0;
    sim.click(name);
    assert.deepEqual(got, [word], name + ": a click");
  }
});

test("the old [route bang 1] wiring missed every second toggled press: the simulator tells them apart", () => {
  const { PatcherSim: Sim } = require("./patcher_sim.js");
  const json = JSON.parse(require("node:fs").readFileSync(PATCHER, "utf8"));
  const next = json.patcher.boxes.find((b) => b.box.varname === "Next").box;
  const route = json.patcher.lines.find((l) => l.patchline.source[0] === next.id).patchline.destination[0];
  const box = json.patcher.boxes.find((b) => b.box.id === route).box;
  box.text = "route bang 1";                   // as committed before: a 1 fires, a 0 is dropped
  const msgBox = json.patcher.lines.find((l) => l.patchline.source[0] === route &&
                                         l.patchline.source[1] === 0).patchline.destination[0];
  json.patcher.lines = json.patcher.lines.filter((l) => l.patchline.source[0] !== route);
  json.patcher.lines.push({ patchline: { source: [route, 0], destination: [msgBox, 0] } });
  json.patcher.lines.push({ patchline: { source: [route, 1], destination: [msgBox, 0] } });
  const got = [];
  const sim = new Sim(json, { js: () => ({ receive: (m) => got.push(items(m).join(" ")) }) });
  for (let i = 0; i < 4; i++) sim.notePress("Next");
  assert.deepEqual(got, ["next", "next"], "two of four presses");
});

test("Capture, Undo and Reset are Hidden (not mappable)", () => {
  const { sim } = wiring();
  for (const name of ["Capture", "Undo", "Reset"]) {
    assert.equal(sim.box(name).saved_attribute_attributes.valueof.parameter_invisible, 2, name);
  }
});

test("the Port box: a new server port goes to udpsend, node.script and the js", () => {
  const { sim, got } = wiring();
  sim.setParameter("Port", 9990);
  assert.deepEqual(got, ["serverport 9990"]);
  const p = sim.box("Port").saved_attribute_attributes.valueof;
  assert.deepEqual([p.parameter_mmin, p.parameter_mmax, p.parameter_initial[0]], [1024, 65535, protocol.SERVER_PORT]);
  assert.equal(p.parameter_invisible, 1, "Stored Only: saved with the set, no undo entries");
});

test("the menu sends the group's name; a dropped file reaches the js as the Max path itself", () => {
  const { sim, got } = wiring();
  sim.menu("Group", 1);
  assert.deepEqual(got, ["group advanced"]);
  got.length = 0;
  sim.drop("Target", "Samples:/Kits/t.wav");
  assert.deepEqual(got, ["target Samples:/Kits/t.wav"], "no conformpath dropping the volume");
});

test("the buttons: Next can be MIDI-mapped; Capture, Undo and Reset add no Live undo entries", () => {
  const { sim } = wiring();
  const vis = (n) => sim.box(n).saved_attribute_attributes.valueof.parameter_invisible;
  assert.equal(vis("Next"), 0, "Automated and Stored: MIDI-mappable");
  for (const n of ["Capture", "Undo", "Reset"]) assert.equal(vis(n), 2, n + " is Hidden");
  assert.equal(vis("Group"), 1, "Stored Only: saved with the set, no automation lane");
  assert.equal(vis("Target"), 1);
});

// -- the whole device: patcher + serumrnn_device.js + fake Live + scripted server ---------

// One device in a Live set. `net` carries datagrams between devices and the server.
function device(net, opts) {
  const o = opts || {};
  const live = new FakeLiveSet(SETS[o.set || "required"]());
  let host = null;
  const sim = new PatcherSim(PATCHER, {
    js: (box, s) => (host = jsHost(box, s, { LiveAPI: live.LiveAPI, os: o.os || "macintosh",
                                              random: o.random || seeded(o.seed || 3),
                                              modules: o.modules, delay: o.delay })),
    conformpath: (args, p) => (p === "~:/" ? "Macintosh HD:/Users/me/" : p),
  });
  const d = { sim, live, host: () => host, sentUpTo: 0 };
  if (net) net.devices.push(d);
  return d;
}

// The server side: requests from every device's udpsend go to one scripted server, its
// replies to the port the request (ping, new) or the session named.
function network(plan) {
  const net = { server: new ScriptedServer(plan), devices: [], ports: {}, lost: [] };
  net.pump = () => {
    for (const d of net.devices) {
      while (d.sentUpTo < d.sim.sent.length) {
        const list = d.sim.sent[d.sentUpTo++];
        const name = String(list[0]).slice(P.length + 1);
        const replies = net.server.handle(list);
        let port = name === "ping" || name === "new" ? list[list.length - 1] : net.ports[list[2]];
        for (const r of replies) {
          if (r[0] === P + "/new/reply") net.ports[r[2]] = port;
          const target = net.devices.find((x) => x.sim.listening().includes(port));
          if (target) target.sim.after(2, () => target.sim.udp(port, r));
          else net.lost.push([port, r[0]]);
        }
      }
    }
  };
  net.run = (ms) => {
    for (let t = 0; t < ms; t += 10) {
      net.pump();
      for (const d of net.devices) d.sim.silence(10);
    }
    net.pump();
  };
  return net;
}

test("loading the device: buffers named, ring recording, home folder asked, its own reply port", () => {
  const net = network();
  const d = device(net);
  d.sim.load();
  const ring = d.sim.find("buffer~", "---ring")[0];
  const cap = d.sim.find("buffer~", "---capture")[0];
  assert.match(ring.state.name, /^serumrnn-[0-9a-f]+-ring$/);
  assert.match(cap.state.name, /^serumrnn-[0-9a-f]+-cap$/);
  const rec = d.sim.find("record~")[0];
  assert.equal(rec.state.buffer, ring.state.name);
  assert.equal(rec.state.on, true);
  assert.equal(rec.attrs.loop, 1);
  const port = d.sim.listening()[0];
  assert.ok(port >= protocol.REPLY_PORT_FIRST &&
            port < protocol.REPLY_PORT_FIRST + protocol.REPLY_PORT_COUNT, String(port));
  net.run(50);
  assert.equal(d.sim.sent[0][0], P + "/ping");
  assert.equal(d.sim.sent[0][2], port);
  assert.equal(d.sim.text("status"), "Server ready (basic_shapes)");
  assert.match(d.sim.text("serum"), /^Serum found: every knob SerumRNN sets is configured; leave the other 24/);
  assert.deepEqual(d.host().console, []);
  assert.deepEqual(d.live.console, []);
});

test("two instances (a duplicated Serum track) listen on different ports and get only their replies", () => {
  const net = network();
  const a = device(net, { seed: 11 });
  const b = device(net, { seed: 12 });
  a.sim.load();
  b.sim.load();
  assert.notEqual(a.sim.listening()[0], b.sim.listening()[0]);
  net.run(50);
  a.sim.drop("Target", "Macintosh HD:/Users/me/want.wav");
  b.sim.drop("Target", "Samples:/Kits/other.wav");
  net.run(50);
  const targets = net.server.requests.filter((r) => r[0] === P + "/target").map((r) => r[3]);
  assert.deepEqual(targets.sort(), ["/Users/me/want.wav", "/Volumes/Samples/Kits/other.wav"]);
  assert.match(a.sim.text("detail"), /^Target set/);
  assert.match(b.sim.text("detail"), /^Target set/);
  const sessions = Object.keys(net.server.sessions);
  assert.equal(sessions.length, 2);
  assert.deepEqual(net.lost, [], "every reply reached a device");
  const ids = a.sim.sent.map((l) => l[1]).concat(b.sim.sent.map((l) => l[1]));
  assert.equal(new Set(ids).size, ids.length, "no request id used twice across both devices");
});

// A note whose first sample is already above the onset threshold (-50 dB), as a synth's
// note is within a sample or two of its start; the capture begins at that sample.
function tone(ms, sr, f) {
  const n = Math.round(ms * sr / 1000);
  const out = new Array(n);
  for (let i = 0; i < n; i++) out[i] = 0.5 * Math.cos(2 * Math.PI * f * i / sr) + 0.2 * ((i * f / sr) % 1);
  return out;
}

// Play a note `gapMs` after arming; the js gets its messages `jsDelayMs` late.
function captureWith(gapMs, jsDelayMs) {
  const d = device(null, { delay: (m) => (m.sel === "onset" || m.sel === "onsetat" ? jsDelayMs : 0) });
  d.sim.load();
  d.sim.silence(100);
  d.sim.click("Capture");
  d.sim.silence(gapMs);
  const note = tone(1600, d.sim.sr, 130.81);
  d.sim.play(note);
  d.sim.silence(600);
  return { d, note };
}

test("a capture starts at the note's first sample, however late the js hears of it", () => {
  for (const [gap, delay] of [[0, 0], [137, 0], [137, 45], [411, 180]]) {
    const { d, note } = captureWith(gap, delay);
    assert.equal(d.sim.written.length, 1, `gap ${gap} delay ${delay}`);
    const [name, file, samples] = d.sim.written[0];
    assert.match(name, /-cap$/);
    assert.match(file, /^\/tmp\/serumrnn-capture-[0-9a-f]+\.wav$/);
    assert.equal(samples.length, d.sim.sr * capture.CAPTURE_MS / 1000);
    const mono = note.map((x) => x);     // plugin~ L+R, times 0.5: the same signal
    for (const i of [0, 1, 2, 100, 44099]) {
      assert.ok(Math.abs(samples[i] - Math.fround(mono[i])) < 1e-6, `sample ${i}, gap ${gap}, delay ${delay}`);
    }
    assert.match(d.sim.text("detail"), /^Captured: press Next$/);
  }
});

test("notes played while not armed are not captured; arming mid-note waits for the next note", () => {
  const d = device(null);
  d.sim.load();
  d.sim.play(tone(500, d.sim.sr, 220));
  d.sim.silence(1500);
  assert.equal(d.sim.written.length, 0, "not armed");
  d.sim.play(tone(300, d.sim.sr, 220));       // a note is sounding...
  d.sim.click("Capture");                     // ...when Capture is pressed
  d.sim.play(tone(300, d.sim.sr, 220));
  d.sim.silence(1500);
  assert.equal(d.sim.written.length, 0, "the note already sounding is not taken mid-way");
  const note = tone(1200, d.sim.sr, 261.63);
  d.sim.play(note);
  d.sim.silence(600);
  assert.equal(d.sim.written.length, 1);
  assert.ok(Math.abs(d.sim.written[0][2][0] - Math.fround(note[0])) < 1e-6);
});

// A signal that never falls silent: a reverb tail, a held pad, a looping clip's bed.
function bed(n, sr, level) {
  const out = new Array(n);
  for (let i = 0; i < n; i++) out[i] = level * Math.sin(2 * Math.PI * 97 * i / sr);
  return out;
}

function mix(a, b) {
  return a.map((x, i) => x + (b[i] || 0));
}

test("a note over a tail that never drops below -50 dB starts a capture at its first sample", () => {
  const d = device(null);
  d.sim.load();
  const sr = d.sim.sr;
  d.sim.play(bed(Math.round(0.6 * sr), sr, 0.1));        // -20 dB, never silent
  d.sim.click("Capture");
  d.sim.play(bed(Math.round(0.3 * sr), sr, 0.1));
  assert.equal(d.sim.written.length, 0, "the tail alone is no onset");
  const note = mix(tone(1300, sr, 130.81), bed(Math.round(1.3 * sr), sr, 0.1));
  d.sim.play(note);
  d.sim.silence(600);
  assert.equal(d.sim.written.length, 1, "the note on the tail started a capture");
  const samples = d.sim.written[0][2];
  for (const i of [0, 1, 500]) assert.ok(Math.abs(samples[i] - Math.fround(note[i])) < 1e-6, "sample " + i);
});

test("in a looping clip, Capture takes the next note's onset, not the middle of the current one", () => {
  const d = device(null);
  d.sim.load();
  const sr = d.sim.sr;
  const loop = () => mix(tone(400, sr, 220).map((x, i) => x * Math.exp(-i / (0.15 * sr))),
                         bed(Math.round(0.4 * sr), sr, 0.05));
  d.sim.play(loop());
  d.sim.play(loop().slice(0, Math.round(0.2 * sr)));   // mid-note
  d.sim.click("Capture");
  d.sim.play(loop().slice(Math.round(0.2 * sr)));
  const next = loop().concat(loop(), loop(), loop());
  d.sim.play(next);
  d.sim.silence(300);
  assert.equal(d.sim.written.length, 1);
  assert.ok(Math.abs(d.sim.written[0][2][0] - Math.fround(next[0])) < 1e-6, "starts at the next note");
});

test("every Buffer the js makes for a capture is freed (freepeer)", () => {
  const { d } = captureWith(137, 45);
  assert.equal(d.sim.written.length, 1);
  assert.equal(d.host().buffers.made, 2);
  assert.equal(d.host().buffers.freed, 2);
});

test("node.script: the device asks it to start the server, shows its progress, stops it when removed", () => {
  const d = device(null);
  d.sim.load();
  const node = d.sim.find("node.script")[0];
  assert.equal(node.args[0], "server_launcher.js");
  assert.equal(node.attrs.autostart, 1, "started with the patcher");
  assert.deepEqual(node.state.received, [["start", protocol.SERVER_PORT]]);
  d.sim.emit(node.id, 0, { sel: "server", args: ["hello", ""] });     // node.script (re)started
  assert.deepEqual(node.state.received[1], ["start", protocol.SERVER_PORT]);
  d.sim.emit(node.id, 0, { sel: "server", args: ["progress", "loading models for basic_shapes ..."] });
  assert.equal(d.sim.text("status"), "loading models for basic_shapes ...");
  d.sim.setParameter("Port", 9990);
  assert.deepEqual(node.state.received[2], ["start", 9990]);
  const send = d.sim.find("udpsend")[0];
  d.sim.silence(20);
  assert.equal(d.sim.sent[d.sim.sent.length - 1][0], P + "/ping");
  assert.equal(send.state.port, 9990, "udpsend now sends to the new port");
  d.host().ctx.notifydeleted();
  assert.deepEqual(node.state.received[node.state.received.length - 1], ["stop"]);
});

// Words of `text` wrapped greedily into lines of at most `perLine` characters.
function wrapLines(text, perLine) {
  const lines = [];
  let line = "";
  for (const w of text.split(/\s+/)) {
    if (line && (line + " " + w).length > perLine) {
      lines.push(line);
      line = w;
    } else line = line ? line + " " + w : w;
  }
  if (line) lines.push(line);
  return lines;
}

test("the whole Configure list fits its display (Arial Bold at 0.6 em a character, 1.25 em a line)", () => {
  const d = device(null, { set: "unconfigured" });
  d.sim.load();
  const box = d.sim.box("configure");
  const text = d.sim.text("configure");
  assert.match(text, /touch these 20 knobs/);
  const [, , w, h] = box.presentation_rect;
  const size = box.fontsize;
  const lines = wrapLines(text, Math.floor(w / (0.6 * size)));
  assert.ok(lines.length <= Math.floor(h / (1.25 * size)),
            lines.length + " lines in a box of " + Math.floor(h / (1.25 * size)));
  assert.match(d.sim.text("serum"), /^Serum found: 20 knobs are not configured/);
});

test("the whole loop in the patcher: drop, Next records the note, the step lands on Serum", () => {
  const net = network("verified_steps");
  const d = device(net, { set: "configured" });
  d.sim.load();
  net.run(50);
  d.sim.drop("Target", "Macintosh HD:/Users/me/want.wav");
  net.run(50);
  d.sim.click("Next");
  assert.match(d.sim.text("detail"), /^Play a note \(C2 in Live, MIDI 48\)/);
  net.run(20);
  d.sim.play(tone(1300, d.sim.sr, 130.81));
  for (let i = 0; i < 40 && !d.live.value("live_set tracks 0 devices 0", "Dist Enable"); i++) net.run(50);
  const step = net.server.requests.find((r) => r[0] === P + "/step");
  assert.match(step[3], /^\/tmp\/serumrnn-capture-/);
  assert.equal(d.live.value("live_set tracks 0 devices 0", "Dist Enable"), 1);
  assert.match(d.sim.text("instruction"), /^Step 1\. Turn on Distortion/);
  assert.deepEqual(d.live.console, []);
  assert.deepEqual(d.host().console, []);
});

test("removing the device ends the session and cancels every Task it scheduled", () => {
  const net = network();
  const d = device(net);
  d.sim.load();
  net.run(50);
  d.sim.drop("Target", "Macintosh HD:/Users/me/want.wav");
  net.run(50);
  d.sim.click("Capture");
  d.sim.play(tone(300, d.sim.sr, 200));       // a capture is under way
  d.host().ctx.notifydeleted();
  assert.equal(d.sim.sent[d.sim.sent.length - 1][0], P + "/end");
  assert.ok(d.host().tasks.every((t) => t.handle === null), "no Task left scheduled");
  const n = d.sim.sent.length;
  net.run(15000);
  assert.equal(d.sim.sent.length, n, "no pings, no capture, nothing after removal");
  assert.equal(d.sim.written.length, 0);
});

test("an empty spec is an error on the panel, not 'every knob is configured'", () => {
  const d = device(null, { modules: { serumrnn_spec: { spec: { effects: [] }, model_note: 48 } } });
  d.sim.load();
  assert.equal(d.sim.text("status"), "SerumRNN is damaged: the spec lists no effects. Reinstall the device");
  assert.equal(d.sim.text("serum"), "");
  assert.deepEqual(d.sim.sent, [], "no session without a spec");
});

test("a part missing beside the patcher: the panel says damaged, not its start-up text", () => {
  const fs = require("node:fs");
  const dir = path.resolve(__dirname, "..");
  const files = new Map(fs.readdirSync(dir).filter((f) => f.endsWith(".js") && f !== "device_flow.js")
    .map((f) => [f, fs.readFileSync(path.join(dir, f), "utf8")]));
  const live = new FakeLiveSet(SETS.required());
  const sim = new PatcherSim(PATCHER, {
    js: (box, s) => jsHost(box, s, { LiveAPI: live.LiveAPI, random: seeded(2), files }),
  });
  sim.load();
  assert.match(sim.text("status"), /^SerumRNN is damaged: device_flow\.js is missing or broken \(.*can't find device_flow.*\)\. Reinstall the device$/);
  assert.deepEqual(sim.sent, [], "nothing is sent by a damaged device");
});

test("Windows: a dropped file keeps its drive letter", () => {
  const net = network();
  const d = device(net, { os: "windows" });
  d.sim.load();
  net.run(50);
  d.sim.drop("Target", "D:/Kits/t.wav");
  net.run(50);
  assert.equal(net.server.requests.find((r) => r[0] === P + "/target")[3], "D:/Kits/t.wav");
});
