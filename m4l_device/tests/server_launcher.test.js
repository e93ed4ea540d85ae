// server_launcher.js run the way node.script runs it: its own Node process with
// process.env.MAX_ENV set and `max-api` to talk to the patcher (here the fake in
// tests/fake_max_api, over the IPC channel), launching a stand-in `serumrnn` executable.
"use strict";

const test = require("node:test");
const assert = require("node:assert/strict");
const childProcess = require("node:child_process");
const fs = require("node:fs");
const os = require("node:os");
const path = require("node:path");

const { findServer, installInstruction, lastLine, serumrnnHome, exitProblem } = require("../server_launcher.js");

const DEVICE = path.resolve(__dirname, "..");
const FAKE_API = path.join(__dirname, "fake_max_api");
const FAKE_SERVER = path.join(__dirname, "fake_serumrnn.js");

function tmpdir() {
  return fs.mkdtempSync(path.join(os.tmpdir(), "serumrnn-launcher-test-"));
}

// A machine: a home, a temp folder, SERUMRNN_HOME, and optionally the server installed:
// "launcher.json" (the install's file with its argv, install-contract.md), "serumrnn-key"
// (launcher.json with only the `serumrnn` executable) or "PATH" (a `serumrnn` on PATH only).
function machine(opts) {
  const root = tmpdir();
  const m = { root, home: path.join(root, "home"), tmp: path.join(root, "tmp"),
              srhome: path.join(root, "SerumRNN"), bin: path.join(root, "bin"),
              events: path.join(root, "events.txt") };
  for (const d of [m.home, m.tmp, m.bin, m.srhome]) fs.mkdirSync(d);
  const exe = path.join(m.bin, "serumrnn");
  if (opts.install) {
    fs.copyFileSync(FAKE_SERVER, exe);
    fs.chmodSync(exe, 0o755);
  }
  const doc = opts.install === "launcher.json"
    ? { format: 1, argv: [process.execPath, FAKE_SERVER, "serve", "--models", path.join(m.srhome, "models")] }
    : opts.install === "serumrnn-key" ? { format: 1, serumrnn: exe } : opts.launcher;
  if (doc) fs.writeFileSync(path.join(m.srhome, "launcher.json"), JSON.stringify(doc));
  m.pathEnv = (opts.install === "PATH" ? m.bin + ":" : "") + path.dirname(process.execPath) + ":/usr/bin:/bin";
  return m;
}

// One device instance: the launcher in its own process, as node.script starts it.
function instance(m, extraEnv) {
  const said = [];
  const posts = [];
  const child = childProcess.fork(path.join(DEVICE, "server_launcher.js"), [], {
    env: Object.assign({ MAX_ENV: "maxforlive", NODE_PATH: FAKE_API, HOME: m.home, TMPDIR: m.tmp,
                         PATH: m.pathEnv, SERUMRNN_HOME: m.srhome, FAKE_SERVER_EVENTS: m.events },
                       extraEnv || {}),
    stdio: ["ignore", "inherit", "inherit", "ipc"],
  });
  child.on("message", (msg) => {
    if (msg.outlet) said.push(msg.outlet);
    if (msg.post) posts.push(msg.post.join(" "));
  });
  const inst = {
    child, said, posts,
    send(sel, ...args) { child.send({ sel, args }); },
    states() { return said.filter((o) => o[0] === "server").map((o) => o[1]); },
    last() { return said[said.length - 1]; },
    async until(pred, what, ms) {
      const end = Date.now() + (ms || 8000);
      while (Date.now() < end) {
        if (pred()) return;
        await sleep(25);
      }
      throw new Error("timed out waiting for " + what + "; said: " + JSON.stringify(said));
    },
    async kill(signal) {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const gone = new Promise((r) => child.once("exit", r));
      child.kill(signal || "SIGTERM");
      await gone;
    },
  };
  return inst;
}

function sleep(ms) {
  return new Promise((r) => setTimeout(r, ms));
}

function events(m) {
  if (!fs.existsSync(m.events)) return [];
  return fs.readFileSync(m.events, "utf8").split("\n").filter((l) => l);
}

function alive(pid) {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return false;
  }
}

async function untilTrue(pred, what) {
  const end = Date.now() + 8000;
  while (Date.now() < end) {
    if (pred()) return;
    await sleep(25);
  }
  throw new Error("timed out waiting for " + what);
}

// The server with this pid ran its own stop (SIGTERM from the launcher, or its stdin
// closing with the launcher's process: whichever reaches it first).
function stopped(m, pid) {
  return events(m).some((e) => e === "term " + pid || e === "eof " + pid);
}

function startedPids(m) {
  return events(m).filter((e) => e.startsWith("start ")).map((e) => Number(e.split(" ")[1]));
}

test("where the install is: SERUMRNN_HOME, else the OS's per-user folder (install-contract.md)", () => {
  assert.equal(serumrnnHome({ SERUMRNN_HOME: "/x/y" }, "darwin", "/Users/me"), "/x/y");
  assert.equal(serumrnnHome({}, "darwin", "/Users/me"), "/Users/me/Library/Application Support/SerumRNN");
  assert.equal(serumrnnHome({}, "linux", "/home/me"), "/home/me/.local/share/SerumRNN");
  assert.equal(serumrnnHome({ XDG_DATA_HOME: "/d" }, "linux", "/home/me"), "/d/SerumRNN");
  assert.equal(serumrnnHome({ LOCALAPPDATA: "C:\\Users\\me\\AppData\\Local" }, "win32", "C:\\Users\\me"),
               path.join("C:\\Users\\me\\AppData\\Local", "SerumRNN"));
});

test("lookup order: launcher.json (its argv, else its serumrnn), then PATH; neither: one instruction", () => {
  const both = machine({ install: "launcher.json" });
  const env = { SERUMRNN_HOME: both.srhome };
  const found = findServer({ env, home: both.home, platform: "linux", pathEnv: both.bin });
  assert.deepEqual(found.argv.slice(0, 3), [process.execPath, FAKE_SERVER, "serve"]);
  const key = machine({ install: "serumrnn-key" });
  assert.deepEqual(findServer({ env: { SERUMRNN_HOME: key.srhome }, home: key.home, platform: "linux" }).argv,
                   [path.join(key.bin, "serumrnn"), "serve"]);
  const onPath = machine({ install: "PATH" });
  const viaPath = findServer({ env: { SERUMRNN_HOME: onPath.srhome }, home: onPath.home, platform: "linux",
                               pathEnv: "/nonexistent:" + onPath.bin });
  assert.deepEqual(viaPath, { argv: [path.join(onPath.bin, "serumrnn"), "serve"], from: "PATH" });
  const win = findServer({ env: { SERUMRNN_HOME: onPath.srhome }, home: onPath.home, platform: "win32",
                           pathEnv: onPath.bin });
  assert.equal(win.argv, null, "Windows looks for serumrnn.exe, not serumrnn");
  const none = machine({});
  const r = findServer({ env: { SERUMRNN_HOME: none.srhome }, home: none.home, platform: "linux", pathEnv: "/nonexistent" });
  assert.deepEqual([r.argv, r.problem], [null, "missing"]);
  assert.equal(installInstruction(), "SerumRNN's server is not installed: follow docs/install.md (one command), then reload this device");
});

test("a launcher.json from a newer install, or a broken one, says what to do", () => {
  const newer = machine({ launcher: { format: 2, argv: ["/x/python"] } });
  const r = findServer({ env: { SERUMRNN_HOME: newer.srhome }, home: newer.home, platform: "linux" });
  assert.match(r.why, /this device is older than the installed server: update the SerumRNN device/);
  const empty = machine({ launcher: { format: 1 } });
  const e = findServer({ env: { SERUMRNN_HOME: empty.srhome }, home: empty.home, platform: "linux" });
  assert.match(e.why, /names no server: run the installer again/);
});

test("exit codes 2 and 3 are not crashes (install-contract.md): the panel says what to do", () => {
  assert.match(exitProblem(2, 9870), /could not use port 9870: choose another port on the panel/);
  assert.match(exitProblem(3, 9870), /damaged .*run the installer again/);
  assert.equal(exitProblem(1, 9870), "");
});

test("lastLine shows the newest progress line's text, else the newest other line", () => {
  const p = (doc) => "serumrnn-progress " + JSON.stringify(doc);
  assert.equal(lastLine(p({ stage: "ready", text: "listening" }) + "\nINFO for people\n\n"), "listening");
  assert.equal(lastLine("a\nTraceback: it broke\n"), "Traceback: it broke");
  assert.equal(lastLine("scoring 10 %\rscoring 20 %\r"), "scoring 20 %");
  assert.equal(lastLine(""), "");
});

test("the device starts the installed server, shows its start-up lines, and stops it when it goes", async () => {
  const m = machine({ install: "launcher.json" });
  const a = instance(m);
  try {
    await a.until(() => a.states().includes("hello"), "hello");
    a.send("start", 9871);
    await a.until(() => a.said.some((o) => o[1] === "progress" && o[2] === "loading the basic_shapes models"),
                  "progress");
    assert.equal(a.states()[1], "starting");
    const started = startedPids(m);
    assert.equal(started.length, 1);
    assert.match(events(m)[0], /serve --models \S+ --port 9871 --exit-on-stdin-eof$/);
    assert.ok(alive(started[0]));
    await a.kill("SIGTERM");   // node.script goes with the device
    await untilTrue(() => stopped(m, started[0]), "the server's stop");
  } finally {
    await a.kill("SIGKILL");
  }
});

test("a crash restarts the server once; a second crash leaves it down with one clear line", async () => {
  const m = machine({ install: "launcher.json" });
  const a = instance(m, { FAKE_SERVER_CRASHES: "5" });
  try {
    a.send("start", 9872);
    await a.until(() => a.states().includes("failed"), "failed");
    assert.equal(startedPids(m).length, 2, "started once, restarted once");
    assert.ok(a.states().includes("restarting"));
    assert.match(a.last()[2], /^The server stopped again: see .*server\.log, then reload this device$/);
    await sleep(1300);   // the watch runs again and must not start a third one
    assert.equal(startedPids(m).length, 2);
  } finally {
    await a.kill("SIGKILL");
  }
});

test("one crash: the restarted server keeps running", async () => {
  const m = machine({ install: "launcher.json" });
  const a = instance(m, { FAKE_SERVER_CRASHES: "1" });
  try {
    a.send("start", 9873);
    await a.until(() => startedPids(m).length === 2, "the restart");
    await sleep(600);
    assert.ok(alive(startedPids(m)[1]));
    assert.ok(!a.states().includes("failed"));
  } finally {
    await a.kill("SIGTERM");
    await untilTrue(() => stopped(m, startedPids(m)[1]), "stop");
  }
});

test("two instances share one server; the last one's going stops it", async () => {
  const m = machine({ install: "PATH" });
  const a = instance(m);
  const b = instance(m);
  try {
    a.send("start", 9874);
    await a.until(() => a.states().includes("progress"), "a's progress");
    b.send("start", 9874);
    await b.until(() => b.states().includes("progress") || b.states().includes("running"), "b attached");
    assert.equal(startedPids(m).length, 1, "b uses a's server");
    const first = startedPids(m)[0];
    await a.kill("SIGTERM");   // the instance that started it goes first: its server goes too...
    await untilTrue(() => stopped(m, first), "first stops");
    await untilTrue(() => startedPids(m).length === 2, "...and b starts its own");
    const second = startedPids(m)[1];
    await sleep(300);
    assert.ok(alive(second));
    assert.ok(!b.states().includes("failed"), "taking over is no crash");
    await b.kill("SIGTERM");
    await untilTrue(() => stopped(m, second), "the last instance stops it");
  } finally {
    await a.kill("SIGKILL");
    await b.kill("SIGKILL");
  }
});

test("Max killed outright (SIGKILL): the server sees its stdin close and goes too", async () => {
  const m = machine({ install: "launcher.json" });
  const a = instance(m);
  try {
    a.send("start", 9876);
    await a.until(() => a.states().includes("progress"), "progress");
    const pid = startedPids(m)[0];
    await a.kill("SIGKILL");
    await untilTrue(() => events(m).includes("eof " + pid), "the server's stdin EOF");
    await untilTrue(() => !alive(pid), "the server gone");
  } finally {
    await a.kill("SIGKILL");
  }
});

test("port taken (exit 2): no restart, by this or any other instance; the panel says so", async () => {
  const m = machine({ install: "launcher.json" });
  const a = instance(m, { FAKE_SERVER_EXIT: "2" });
  const b = instance(m, { FAKE_SERVER_EXIT: "2" });
  try {
    a.send("start", 9877);
    await a.until(() => a.states().includes("failed"), "failed");
    assert.match(a.last()[2], /could not use port 9877: choose another port on the panel/);
    b.send("start", 9877);
    await b.until(() => b.states().includes("failed"), "b failed too");
    await sleep(1300);
    assert.equal(startedPids(m).length, 1, "started once in all");
  } finally {
    await a.kill("SIGKILL");
    await b.kill("SIGKILL");
  }
});

test("not installed: the panel gets the one install instruction and nothing is started", async () => {
  const m = machine({});
  const a = instance(m);
  try {
    a.send("start", 9875);
    await a.until(() => a.states().includes("missing"), "missing");
    assert.equal(a.last()[2], installInstruction());
    assert.equal(events(m).length, 0);
  } finally {
    await a.kill("SIGKILL");
  }
});

test("a port out of range is refused with a line, and a message nobody handles is an error post", async () => {
  const m = machine({ install: "launcher.json" });
  const a = instance(m);
  try {
    a.send("start", 80);
    await a.until(() => a.states().includes("failed"), "failed");
    assert.match(a.last()[2], /port 80 is not between 1024 and 65535/);
    a.send("bogus");
    await a.until(() => a.posts.length > 0, "a post");
    assert.match(a.posts[0], /no handler for bogus/);
    assert.equal(events(m).length, 0);
  } finally {
    await a.kill("SIGKILL");
  }
});

test("the fake max-api gives MESSAGE_TYPES.ALL handlers (handled, selector, ...args), as the API reference does", async () => {
  const dir = tmpdir();
  const script = path.join(dir, "all_handler.js");
  fs.writeFileSync(script, [
    "const maxApi = require('max-api');",
    "maxApi.addHandler('start', () => {});",
    "maxApi.addHandler(maxApi.MESSAGE_TYPES.ALL, (...a) => maxApi.outlet('all', ...a));",
  ].join("\n"));
  const said = [];
  const posts = [];
  const child = childProcess.fork(script, [], { env: { NODE_PATH: FAKE_API, PATH: process.env.PATH },
                                                stdio: ["ignore", "inherit", "inherit", "ipc"] });
  child.on("message", (msg) => {
    if (msg.outlet) said.push(msg.outlet);
    if (msg.post) posts.push(msg.post.join(" "));
  });
  try {
    child.send({ sel: "start", args: [9876] });
    child.send({ sel: "bogus", args: [] });
    await untilTrue(() => said.length === 2, "two all-handler calls");
    assert.deepEqual(said, [["all", true, "start", 9876], ["all", false, "bogus"]]);
    assert.deepEqual(posts, [], "a message an ALL handler takes is no error");
  } finally {
    const gone = new Promise((r) => child.once("exit", r));
    child.kill("SIGKILL");
    await gone;
  }
});
