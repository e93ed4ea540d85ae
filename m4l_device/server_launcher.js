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
// server.pid there. Whoever goes last stops the server. The server is started with
// --exit-on-stdin-eof on a stdin pipe, so it goes with the instance that started it even
// when Max is killed; another instance still using the port then starts a new one. The
// server writes its output to server.log in that folder; every instance shows the log's
// newest progress line while the server starts (install-contract.md: "serumrnn-progress
// {json}" lines with a "text" for the panel).
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

// Where the install keeps SerumRNN (install-contract.md, written by the install helper):
// $SERUMRNN_HOME if set, else the per-user application folder of the OS. Its launcher.json
// is written last by the installer, so its presence means the install finished. Live
// started from the Dock or the Start menu does not get the shell's PATH, so this comes
// first; PATH (a developer's `pip install -e .`) second.
function serumrnnHome(env, platform, home) {
  if (env.SERUMRNN_HOME) return env.SERUMRNN_HOME;
  if (platform === "darwin") return path.join(home, "Library", "Application Support", "SerumRNN");
  if (platform === "win32") {
    return path.join(env.LOCALAPPDATA || path.join(home, "AppData", "Local"), "SerumRNN");
  }
  return path.join(env.XDG_DATA_HOME || path.join(home, ".local", "share"), "SerumRNN");
}

function launcherFile(env, platform, home) {
  return path.join(serumrnnHome(env, platform, home), "launcher.json");
}

// The launcher.json format this device reads; a newer install may need a newer device.
const LAUNCHER_FORMAT = 1;

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

// How to start the server: {argv: [program, ...args before --port], from} or
// {argv: null, why, problem: "missing" | "failed"}.
function findServer(opts) {
  const fsApi = opts.fs || fs;
  const env = opts.env || {};
  const file = launcherFile(env, opts.platform, opts.home);
  if (isFile(fsApi, file)) {
    let doc;
    try {
      doc = JSON.parse(fsApi.readFileSync(file, "utf8"));
    } catch (e) {
      return { argv: null, problem: "failed", why: file + " is not valid JSON: run the installer again" };
    }
    if (Number(doc.format) > LAUNCHER_FORMAT) {
      return { argv: null, problem: "failed",
               why: "this device is older than the installed server: update the SerumRNN device" };
    }
    if (Array.isArray(doc.argv) && doc.argv.length && path.isAbsolute(String(doc.argv[0]))) {
      return { argv: doc.argv.map(String), from: file };
    }
    if (typeof doc.serumrnn === "string" && path.isAbsolute(doc.serumrnn)) {
      return { argv: [doc.serumrnn, "serve"], from: file };
    }
    return { argv: null, problem: "failed", why: file + " names no server: run the installer again" };
  }
  const dirs = String(opts.pathEnv || "").split(opts.platform === "win32" ? ";" : ":");
  for (const dir of dirs) {
    if (!dir) continue;
    const p = path.join(dir, exeName(opts.platform));
    if (isFile(fsApi, p)) return { argv: [p, "serve"], from: "PATH" };
  }
  return { argv: null, problem: "missing", why: "" };
}

// What the server's exit code means (install-contract.md, "Exit codes of serumrnn serve"):
// 2 = a bad option or the port is taken, 3 = no usable models. Those are not crashes: a
// restart would fail the same way.
function exitProblem(code, port) {
  if (code === 2) return "The server could not use port " + port + ": choose another port on the panel";
  if (code === 3) return "SerumRNN's install is damaged (no usable models): run the installer again";
  return "";
}

// A line the server printed: its progress lines are "serumrnn-progress {json}" with a
// "text" for the panel; other lines are for people (a traceback's last line still says
// what went wrong).
const PROGRESS_PREFIX = "serumrnn-progress ";

function panelText(line) {
  if (line.indexOf(PROGRESS_PREFIX) !== 0) return { text: line, progress: false };
  try {
    const doc = JSON.parse(line.slice(PROGRESS_PREFIX.length));
    return { text: String(doc.text || doc.stage || ""), progress: true };
  } catch (e) {
    return { text: "", progress: false };
  }
}

// The one instruction the panel gives when no server is installed.
function installInstruction() {
  return "SerumRNN's server is not installed: follow " + INSTALL_DOC +
    " (one command), then reload this device";
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

// What to show from a log's new bytes: the newest progress line's text, else the newest
// other non-empty line, else "".
function lastLine(text) {
  const lines = String(text).split(/\r?\n|\r/).map((l) => l.trim()).filter((l) => l.length);
  let other = "";
  for (let i = lines.length - 1; i >= 0; i--) {
    const t = panelText(lines[i]);
    if (t.progress && t.text) return t.text;
    if (!t.progress && !other) other = t.text;
  }
  return other;
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
      problem: path.join(this.dir, "problem"),
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
    if (!this.otherUsers().length && !alive(readPid(ps.pid))) {
      this.removeQuietly(ps.starts);
      this.removeQuietly(ps.problem);
    }
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
    const problem = this.problem();
    if (problem) {
      this.tell("failed", problem);
      return;
    }
    this.launch();
  }

  // A reason every instance gives up on this port's server until the last one leaves (a
  // second crash, a taken port, a damaged install): starting again would fail the same way.
  problem() {
    try {
      return fs.readFileSync(this.paths().problem, "utf8");
    } catch (e) {
      return "";
    }
  }

  giveUp(text) {
    fs.writeFileSync(this.paths().problem, text);
    this.tell("failed", text);
  }

  launch() {
    const ps = this.paths();
    const found = findServer({ home: this.o.home, platform: this.o.platform, pathEnv: this.o.pathEnv,
                               env: this.o.env });
    if (!found.argv) {
      this.tell(found.problem, found.problem === "missing" ? installInstruction() : found.why);
      if (this.timer) this.o.timers.clear(this.timer);
      this.timer = this.o.timers.every(MISSING_RECHECK_MS, () => this.check());
      return;
    }
    const program = found.argv[0];
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
      this.giveUp("The server stopped again: see " + ps.log + ", then reload this device");
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
    this.tell("starting", "Starting the server (" + program + ")");
    let child;
    try {
      // No shell (paths have spaces; Node refuses .cmd without one). stdin stays a pipe we
      // never write to: with --exit-on-stdin-eof the server goes when this process goes,
      // however Max ends it, so no server is left behind.
      child = this.o.spawn(program, found.argv.slice(1).concat(["--port", String(this.port),
                                                                 "--exit-on-stdin-eof"]), {
        cwd: this.o.home,
        stdio: ["pipe", log, log],
        windowsHide: true,
      });
    } catch (e) {
      fs.closeSync(log);
      this.removeQuietly(ps.pid);
      this.tell("failed", "Cannot start " + program + ": " + e.message + ": run the installer again");
      return;
    }
    fs.closeSync(log);
    this.child = child;
    if (child.pid) fs.writeFileSync(ps.pid, String(child.pid));
    child.on("error", (e) => {
      if (this.child !== child) return;
      this.child = null;
      this.removeQuietly(ps.pid);
      this.tell("failed", "Cannot start " + program + " (" + e.code + "): run the installer again");
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
    const problem = exitProblem(code, this.port);
    if (problem) {
      this.giveUp(problem);
      return;
    }
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
    let names;
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
    const others = this.otherUsers();
    // The server we started goes with us (its stdin closes); an instance still using it
    // starts a new one, which is no crash.
    if (others.length && this.child) this.removeQuietly(ps.starts);
    if (others.length === 0) {
      this.removeQuietly(ps.problem);
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
    env: process.env,
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

module.exports = { Launcher, findServer, installInstruction, launcherFile, serumrnnHome, lastLine,
                   exitProblem, LAUNCHER_FORMAT };
