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

const { findServer, installInstruction, lastLine } = require("../server_launcher.js");

const DEVICE = path.resolve(__dirname, "..");
const FAKE_API = path.join(__dirname, "fake_max_api");
const FAKE_SERVER = path.join(__dirname, "fake_serumrnn.js");

function tmpdir() {
  return fs.mkdtempSync(path.join(os.tmpdir(), "serumrnn-launcher-test-"));
}

// A machine: a home, a temp folder, and optionally serumrnn installed in a bin folder
// (named in launcher.json or only on PATH).
function machine(opts) {
  const root = tmpdir();
  const m = { root, home: path.join(root, "home"), tmp: path.join(root, "tmp"),
              bin: path.join(root, "bin"), events: path.join(root, "events.txt") };
  fs.mkdirSync(m.home);
  fs.mkdirSync(m.tmp);
  fs.mkdirSync(m.bin);
  if (opts.install) {
    const exe = path.join(m.bin, "serumrnn");
    fs.copyFileSync(FAKE_SERVER, exe);
    fs.chmodSync(exe, 0o755);
    if (opts.install === "launcher.json") {
      fs.mkdirSync(path.join(m.home, ".serumrnn"));
      fs.writeFileSync(path.join(m.home, ".serumrnn", "launcher.json"), JSON.stringify({ serumrnn: exe }));
    }
  }
  m.pathEnv = (opts.install === "PATH" ? m.bin + ":" : "") + path.dirname(process.execPath) + ":/usr/bin:/bin";
  return m;
}

// One device instance: the launcher in its own process, as node.script starts it.
function instance(m, extraEnv) {
  const said = [];
  const posts = [];
  const child = childProcess.fork(path.join(DEVICE, "server_launcher.js"), [], {
    env: Object.assign({ MAX_ENV: "maxforlive", NODE_PATH: FAKE_API, HOME: m.home, TMPDIR: m.tmp,
                         PATH: m.pathEnv, FAKE_SERVER_EVENTS: m.events }, extraEnv || {}),
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
      if (child.exitCode !== null) return;
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

function startedPids(m) {
  return events(m).filter((e) => e.startsWith("start ")).map((e) => Number(e.split(" ")[1]));
}

test("lookup order: launcher.json first, then PATH; neither gives one install instruction", () => {
  const both = machine({ install: "launcher.json" });
  const onPath = path.join(both.root, "other");
  fs.mkdirSync(onPath);
  fs.copyFileSync(FAKE_SERVER, path.join(onPath, "serumrnn"));
  const found = findServer({ home: both.home, platform: "linux", pathEnv: onPath });
  assert.equal(found.path, path.join(both.bin, "serumrnn"));
  const viaPath = findServer({ home: tmpdir(), platform: "linux", pathEnv: "/nonexistent:" + onPath });
  assert.deepEqual(viaPath, { path: path.join(onPath, "serumrnn"), from: "PATH" });
  const win = findServer({ home: tmpdir(), platform: "win32", pathEnv: onPath });
  assert.equal(win.path, null, "Windows looks for serumrnn.exe, not serumrnn");
  const none = findServer({ home: tmpdir(), platform: "linux", pathEnv: "/nonexistent" });
  assert.equal(none.path, null);
  assert.match(installInstruction(none.why), /^SerumRNN's server is not installed: follow docs\/install\.md/);
});

test("a launcher.json naming a missing file says so and falls back to PATH", () => {
  const m = machine({ install: "PATH" });
  fs.mkdirSync(path.join(m.home, ".serumrnn"));
  fs.writeFileSync(path.join(m.home, ".serumrnn", "launcher.json"), JSON.stringify({ serumrnn: "/gone/serumrnn" }));
  assert.equal(findServer({ home: m.home, platform: "linux", pathEnv: m.bin }).from, "PATH");
  const none = findServer({ home: m.home, platform: "linux", pathEnv: "" });
  assert.match(none.why, /names "\/gone\/serumrnn", which is not there/);
});

test("lastLine keeps the newest non-empty line (progress output ends lines with \\r or \\n)", () => {
  assert.equal(lastLine("a\nloading models ...\n\n"), "loading models ...");
  assert.equal(lastLine("scoring 10 %\rscoring 20 %\r"), "scoring 20 %");
  assert.equal(lastLine(""), "");
});

test("the device starts the installed server, shows its start-up lines, and stops it when it goes", async () => {
  const m = machine({ install: "launcher.json" });
  const a = instance(m);
  try {
    await a.until(() => a.states().includes("hello"), "hello");
    a.send("start", 9871);
    await a.until(() => a.said.some((o) => o[1] === "progress" && /loading models/.test(o[2])), "progress");
    assert.equal(a.states()[1], "starting");
    const started = startedPids(m);
    assert.equal(started.length, 1);
    assert.match(events(m)[0], /serve --port 9871$/);
    assert.ok(alive(started[0]));
    await a.kill("SIGTERM");   // node.script goes with the device
    await untilTrue(() => events(m).includes("term " + started[0]), "the server's SIGTERM");
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
    await untilTrue(() => events(m).some((e) => e.startsWith("term ")), "stop");
  }
});

test("two instances share one server; it stops only when the last one goes", async () => {
  const m = machine({ install: "PATH" });
  const a = instance(m);
  const b = instance(m);
  try {
    a.send("start", 9874);
    await a.until(() => a.states().includes("progress"), "a's progress");
    b.send("start", 9874);
    await b.until(() => b.states().includes("progress") || b.states().includes("running"), "b attached");
    assert.equal(startedPids(m).length, 1, "b uses a's server");
    const pid = startedPids(m)[0];
    await a.kill("SIGTERM");   // the instance that started it goes first
    await sleep(300);
    assert.ok(alive(pid), "b still uses it");
    assert.ok(!events(m).includes("term " + pid));
    await b.kill("SIGTERM");
    await untilTrue(() => events(m).includes("term " + pid), "the last instance stops it");
  } finally {
    await a.kill("SIGKILL");
    await b.kill("SIGKILL");
  }
});

test("not installed: the panel gets the one install instruction and nothing is started", async () => {
  const m = machine({ install: null });
  const a = instance(m);
  try {
    a.send("start", 9875);
    await a.until(() => a.states().includes("missing"), "missing");
    assert.equal(a.last()[2], installInstruction(""));
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
