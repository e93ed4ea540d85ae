// Starts, watches and stops `serumrnn serve` for the device. Runs in node.script (Node for
// Max), which ships with Max: a separate Node process that talks to the patcher through
// the `max-api` module (docs/device-facts.md lists each fact this relies on). The device's
// js object cannot start programs; this script can (child_process).
//
// Messages in (from the js object, through node.script's inlet):
//   start <port>   (the port comes from the device: osc_protocol.js or the panel's Port box)
//                  make sure a server listens on <port>, starting it when none does
//   stop           this device instance is going: stop the server when no other instance
//                  still uses it
// Messages out (node.script's left outlet, to the js object):
//   server <state> <text>   state: hello | starting | progress | running | restarting |
//                           missing | failed | stopped; text is what the panel shows
//
// Several device instances share one server per port. Each instance's Node process keeps
// a file in <tmp>/serumrnn-<port>/users/ named by its pid; the server's pid is in
// server.pid there. Whoever goes last stops the server. The server writes its output to
// server.log in that folder (not to a pipe, so it outlives the instance that started it);
// every instance shows the log's last line while the server starts.
//
// Plain Node (no Max) loads this file for tests: main() runs only where Node for Max has
// set process.env.MAX_ENV.
"use strict";

const childProcess = require("child_process");
const fs = require("fs");
const os = require("os");
const path = require("path");

const WATCH_MS = 1000;          // how often the server's pid and log are looked at
const MISSING_RECHECK_MS = 5000; // while not installed: look again (the install may finish)
const RESTARTS = 1;             // restarts after a crash before the panel says so
const INSTALL_DOC = "docs/install.md";

// What the install writes: {"serumrnn": "<absolute path of the serumrnn executable>"}.
// Live started from the Dock or the Start menu does not get the shell's PATH, so this file
// comes first (see /work/signals/device-contract.md and docs/device.md).
function launcherFile(home) {
  return path.join(home, ".serumrnn", "launcher.json");
}

function exeName(platform) {
  return platform === "win32" ? "serumrnn.exe" : "serumrnn";
}

function isFile(fsApi, p) {
  try {
    return fsApi.statSync(p).isFile();
  } catch (e) {
    return false;
  }
}

// The serumrnn executable: {path, from: "launcher.json" | "PATH"} or {path: null, why}.
function findServer(opts) {
  const fsApi = opts.fs || fs;
  const file = launcherFile(opts.home);
  let why = "";
  if (isFile(fsApi, file)) {
    try {
      const p = JSON.parse(fsApi.readFileSync(file, "utf8")).serumrnn;
      if (typeof p === "string" && path.isAbsolute(p) && isFile(fsApi, p)) {
        return { path: p, from: file };
      }
      why = file + " names " + JSON.stringify(p) + ", which is not there";
    } catch (e) {
      why = file + " is not valid JSON";
    }
  }
  const dirs = String(opts.pathEnv || "").split(opts.platform === "win32" ? ";" : ":");
  for (const dir of dirs) {
    if (!dir) continue;
    const p = path.join(dir, exeName(opts.platform));
    if (isFile(fsApi, p)) return { path: p, from: "PATH" };
  }
  return { path: null, why: why };
}

// The one instruction the panel gives when no server is installed.
function installInstruction(why) {
  return "SerumRNN's server is not installed: follow " + INSTALL_DOC +
    " (one command), then reload this device" + (why ? " (" + why + ")" : "");
}

function alive(pid) {
  if (!pid) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return e.code === "EPERM";
  }
}

function readPid(file) {
  try {
    const n = parseInt(fs.readFileSync(file, "utf8"), 10);
    return n > 0 ? n : 0;
  } catch (e) {
    return 0;
  }
}

// The last non-empty line of a log's new bytes (progress to show), or "".
function lastLine(text) {
  const lines = String(text).split(/\r?\n|\r/).map((l) => l.trim()).filter((l) => l.length);
  return lines.length ? lines[lines.length - 1] : "";
}

class Launcher {
  // opts: say(state, text), home, tmp, platform, pathEnv, pid (this process), spawn, timers
  constructor(opts) {
    this.o = opts;
    this.say = opts.say;
    this.port = 0;
    this.dir = null;
    this.child = null;           // the server this instance started, while it runs
    this.stopping = false;
    this.timer = null;
    this.logPos = 0;
    this.lastShown = "";
    this.state = "";
  }

  tell(state, text) {
    if (state === this.state && text === this.lastShown) return;
    this.state = state;
    this.lastShown = text;
    this.say(state, text);
  }

  paths() {
    return {
      users: path.join(this.dir, "users"),
      me: path.join(this.dir, "users", String(this.o.pid)),
      pid: path.join(this.dir, "server.pid"),
      log: path.join(this.dir, "server.log"),
      starts: path.join(this.dir, "starts"),
    };
  }

  start(port) {
    const p = Number(port);
    if (!(p >= 1024 && p <= 65535)) {
      this.tell("failed", "Server port " + port + " is not between 1024 and 65535");
      return;
    }
    if (p === this.port && !this.stopping) {
      this.check();
      return;
    }
    if (this.port) this.leave();
    this.port = p;
    this.stopping = false;
    this.state = "";
    this.dir = path.join(this.o.tmp, "serumrnn-" + p);
    fs.mkdirSync(path.join(this.dir, "users"), { recursive: true });
    fs.writeFileSync(this.paths().me, "");
    const ps = this.paths();
    // A crash count left by a session that ended without leaving (Max killed) is forgotten
    // when no instance and no server is running.
    if (!this.otherUsers().length && !alive(readPid(ps.pid))) this.removeQuietly(ps.starts);
    this.logPos = 0;
    this.check();
    this.schedule();
  }

  schedule() {
    if (this.timer) this.o.timers.clear(this.timer);
    this.timer = this.o.timers.every(WATCH_MS, () => this.check());
  }

  // Is a server running on our port? If not, start one (or say why not).
  check() {
    if (!this.port || this.stopping) return;
    const ps = this.paths();
    const pid = readPid(ps.pid);
    if (pid && alive(pid)) {
      this.showProgress(pid);
      return;
    }
    if (this.child) return;      // ours is starting; its exit handler decides
    if (pid) this.removeQuietly(ps.pid);
    if (this.state === "failed") return;
    this.launch();
  }

  launch() {
    const ps = this.paths();
    const found = findServer({ home: this.o.home, platform: this.o.platform, pathEnv: this.o.pathEnv });
    if (!found.path) {
      this.tell("missing", installInstruction(found.why));
      if (this.timer) this.o.timers.clear(this.timer);
      this.timer = this.o.timers.every(MISSING_RECHECK_MS, () => this.check());
      return;
    }
    let claim;
    try {
      claim = fs.openSync(ps.pid, "wx");   // only one instance starts the server
    } catch (e) {
      return;                              // another instance is starting it
    }
    fs.writeSync(claim, String(this.o.pid));
    fs.closeSync(claim);
    // Starts are counted across instances, so a server that keeps crashing is started
    // 1 + RESTARTS times in all, however many instances watch it.
    const starts = readPid(ps.starts);
    if (starts > RESTARTS) {
      this.removeQuietly(ps.pid);
      this.tell("failed", "The server stopped again: see " + ps.log + ", then reload this device");
      return;
    }
    fs.writeFileSync(ps.starts, String(starts + 1));
    if (starts > 0 && this.state !== "restarting") {
      this.tell("restarting", "The server stopped: restarting it");
    }
    let log;
    try {
      log = fs.openSync(ps.log, "a");
      this.logPos = fs.fstatSync(log).size;
    } catch (e) {
      this.removeQuietly(ps.pid);
      this.tell("failed", "Cannot write the server log " + ps.log + ": " + e.message);
      return;
    }
    this.tell("starting", "Starting the server (" + found.path + ")");
    let child;
    try {
      child = this.o.spawn(found.path, ["serve", "--port", String(this.port)], {
        cwd: this.o.home,
        stdio: ["ignore", log, log],
        detached: this.o.platform !== "win32",   // outlives this instance when others use it
        windowsHide: true,
      });
    } catch (e) {
      fs.closeSync(log);
      this.removeQuietly(ps.pid);
      this.tell("failed", "Cannot start " + found.path + ": " + e.message);
      return;
    }
    fs.closeSync(log);
    this.child = child;
    if (child.pid) fs.writeFileSync(ps.pid, String(child.pid));
    child.on("error", (e) => {
      if (this.child !== child) return;
      this.child = null;
      this.removeQuietly(ps.pid);
      this.tell("failed", "Cannot start " + found.path + ": " + e.message);
    });
    child.on("exit", (code, signal) => this.exited(child, code, signal));
    if (child.unref) child.unref();
  }

  exited(child, code, signal) {
    if (this.child !== child) return;
    this.child = null;
    const ps = this.paths();
    if (readPid(ps.pid) === child.pid) this.removeQuietly(ps.pid);
    if (this.stopping) return;
    const how = signal ? "signal " + signal : "code " + code;
    if (readPid(ps.starts) <= RESTARTS) {
      this.tell("restarting", "The server stopped (" + how + "): restarting it");
    }
    this.launch();
  }

  // While the server starts, show the last line it wrote.
  showProgress(pid) {
    const ps = this.paths();
    let text = "";
    try {
      const size = fs.statSync(ps.log).size;
      if (size < this.logPos) this.logPos = 0;
      if (size > this.logPos) {
        const fd = fs.openSync(ps.log, "r");
        const buf = Buffer.alloc(Math.min(size - this.logPos, 65536));
        fs.readSync(fd, buf, 0, buf.length, size - buf.length);
        fs.closeSync(fd);
        this.logPos = size;
        text = lastLine(buf.toString("utf8"));
      }
    } catch (e) {
      text = "";
    }
    if (text) this.tell("progress", text);
    else if (!this.state || this.state === "missing") this.tell("running", "Server running (pid " + pid + ")");
  }

  removeQuietly(file) {
    try {
      fs.unlinkSync(file);
    } catch (e) {
      // already gone
    }
  }

  // Other instances still using this port's server (stale files of dead ones removed).
  otherUsers() {
    const ps = this.paths();
    let names = [];
    try {
      names = fs.readdirSync(ps.users);
    } catch (e) {
      return [];
    }
    const out = [];
    for (const n of names) {
      const pid = parseInt(n, 10);
      if (pid === this.o.pid) continue;
      if (alive(pid)) out.push(pid);
      else this.removeQuietly(path.join(ps.users, n));
    }
    return out;
  }

  // This instance stops using the port's server; the last one stops the server.
  leave() {
    if (!this.port) return;
    this.stopping = true;
    if (this.timer) this.o.timers.clear(this.timer);
    this.timer = null;
    const ps = this.paths();
    this.removeQuietly(ps.me);
    if (this.otherUsers().length === 0) {
      const pid = readPid(ps.pid);
      if (pid && pid !== this.o.pid && alive(pid)) {
        try {
          process.kill(pid, "SIGTERM");
        } catch (e) {
          // gone meanwhile
        }
      }
      this.removeQuietly(ps.pid);
      this.removeQuietly(ps.starts);
    }
    this.port = 0;
  }

  stop() {
    this.leave();
    this.tell("stopped", "Server stopped");
  }
}

const realTimers = {
  every: (ms, fn) => setInterval(fn, ms),
  clear: (h) => clearInterval(h),
};

function main() {
  const maxApi = require("max-api");
  const launcher = new Launcher({
    say: (state, text) => maxApi.outlet("server", state, text),
    home: os.homedir(),
    tmp: os.tmpdir(),
    platform: process.platform,
    pathEnv: process.env.PATH || process.env.Path || "",
    pid: process.pid,
    spawn: childProcess.spawn,
    timers: realTimers,
  });
  maxApi.addHandler("start", (port) => launcher.start(port));
  maxApi.addHandler("stop", () => launcher.stop());
  // Node for Max ends this process when the node.script object goes (the device is
  // deleted or the set closes): leave then, so the last instance stops the server.
  const bye = () => {
    launcher.leave();
    process.exit(0);
  };
  process.on("SIGTERM", bye);
  process.on("SIGINT", bye);
  process.on("disconnect", bye);
  process.on("exit", () => launcher.leave());
  maxApi.outlet("server", "hello", "");
}

if (process.env.MAX_ENV) main();

module.exports = { Launcher, findServer, installInstruction, launcherFile, lastLine };
