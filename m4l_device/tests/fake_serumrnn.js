#!/usr/bin/env node
// A stand-in for the installed `serumrnn` executable in launcher tests: `serve --port N`
// prints start-up lines the way the server does (to stderr), then stays up until SIGTERM.
// FAKE_SERVER_EVENTS: a file it appends "start <pid> <args>" / "term <pid>" to.
// FAKE_SERVER_CRASHES: crash (exit 3) after start-up this many times (counted in the
// events file), then stay up.
"use strict";
const fs = require("fs");
const events = process.env.FAKE_SERVER_EVENTS;
const note = (line) => { if (events) fs.appendFileSync(events, line + "\n"); };
const args = process.argv.slice(2);
const before = events && fs.existsSync(events)
  ? fs.readFileSync(events, "utf8").split("\n").filter((l) => l.startsWith("start ")).length : 0;
note("start " + process.pid + " " + args.join(" "));
process.on("SIGTERM", () => { note("term " + process.pid); process.exit(0); });
if (args[0] !== "serve") { process.stderr.write("usage: serumrnn serve\n"); process.exit(2); }
process.stderr.write("serumrnn serve: listening on port " + args[2] + "\n");
setTimeout(() => {
  process.stderr.write("loading models for basic_shapes ...\n");
  if (before < Number(process.env.FAKE_SERVER_CRASHES || 0)) {
    process.stderr.write("Traceback: something broke\n");
    process.exit(3);
  }
}, 150);
setInterval(() => {}, 1000);
