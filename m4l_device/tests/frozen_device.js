// The built frozen device after Live's "Collect All and Save": copied alone into a new
// folder, opened from there, run in the patcher simulator with only the files frozen into
// it (no m4l_device/ beside it), a fake Live set and a scripted server: drop a target,
// press Next, play a note, and report what the panel and Serum show. The Python test
// (tests/test_device.py) builds the device and checks the report.
//
//   node frozen_device.js <SerumRNN.amxd> [--without <embedded file name>] [--server-down]
"use strict";

const fs = require("node:fs");
const os = require("node:os");
const path = require("node:path");
const { read } = require("./frozen_reader.js");
const { PatcherSim } = require("./patcher_sim.js");
const { jsHost } = require("./max_js.js");
const { FakeLiveSet, SETS } = require("./fake_live.js");
const { ScriptedServer, seeded, P } = require("./helpers.js");

const args = process.argv.slice(2);
const built = args[0];
const without = args.includes("--without") ? args[args.indexOf("--without") + 1] : null;

// Collect All and Save: the device file alone in a new folder.
const folder = fs.mkdtempSync(path.join(os.tmpdir(), "serumrnn-collected-"));
const copy = path.join(folder, path.basename(built));
fs.copyFileSync(built, copy);
const { frozen } = read(fs.readFileSync(copy));
const [own, ...embedded] = frozen.files;
const files = new Map(embedded.filter((f) => f.name !== without).map((f) => [f.name, f.data.toString("utf8")]));
const patcher = JSON.parse(own.data.toString("utf8").replace(/\0+$/, ""));
// Max's js object runs ES5: the embedded js must parse as such.
const es5 = {};
for (const f of embedded) {
  if (f.name === patcher.patcher.boxes.map((b) => b.box.text || "").find((t) => t.startsWith("js "))?.split(" ")[1]) {
    try {
      require("acorn").parse(f.data.toString("utf8"), { ecmaVersion: 5, sourceType: "script" });
      es5[f.name] = true;
    } catch (e) {
      es5[f.name] = String(e);
    }
  }
}

const live = new FakeLiveSet(SETS.configured());
const server = new ScriptedServer("verified_steps");
server.down = args.includes("--server-down");
let host = null;
const sim = new PatcherSim(patcher, {
  js: (box, s) => (host = jsHost(box, s, { LiveAPI: live.LiveAPI, os: "macintosh", random: seeded(5), files })),
  // node.script starts its file when the device loads; it can only if the file is there.
  node: (box, s, m) => {
    if (files.has(box.args[0]) && m.sel === "start") s.emit(box.id, 0, { sel: "server", args: ["running", "Server running"] });
  },
  conformpath: (a, p) => (p === "~:/" ? "Macintosh HD:/Users/me/" : p),
});

function pump() {
  while (sim.sentUpTo === undefined || sim.sentUpTo < sim.sent.length) {
    sim.sentUpTo = sim.sentUpTo || 0;
    if (sim.sentUpTo >= sim.sent.length) break;
    const list = sim.sent[sim.sentUpTo++];
    const port = sim.listening()[0];
    for (const r of server.handle(list)) sim.after(2, () => sim.udp(port, r));
  }
}
function run(ms) {
  for (let t = 0; t < ms; t += 10) {
    pump();
    sim.silence(10);
  }
  pump();
}
function tone(ms, f) {
  const n = Math.round(ms * sim.sr / 1000);
  return Array.from({ length: n }, (_, i) => 0.5 * Math.cos(2 * Math.PI * f * i / sim.sr));
}

sim.load();
run(50);
const afterLoad = { status: sim.text("status"), serum: sim.text("serum") };
sim.drop("Target", "Macintosh HD:/Users/me/want.wav");
run(50);
sim.click("Next");
run(20);
sim.play(tone(1300, 130.81));
for (let i = 0; i < 40 && !live.value("live_set tracks 0 devices 0", "Dist Enable"); i++) run(50);
run(16000);   // long enough for the launcher's silence to count
process.stdout.write(JSON.stringify({
  folder: fs.readdirSync(folder),
  embedded: embedded.map((f) => f.name),
  es5,
  afterLoad,
  status: sim.text("status"),
  instruction: sim.text("instruction"),
  distEnable: live.value("live_set tracks 0 devices 0", "Dist Enable"),
  steps: server.requests.filter((r) => r[0] === P + "/step").length,
  liveConsole: live.console,
  maxConsole: host ? host.console : null,
}) + "\n");
