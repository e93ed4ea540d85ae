#!/usr/bin/env node
// A stand-in for the installed server in launcher tests, as install-contract.md describes
// `serve`: "serumrnn-progress {json}" lines on stdout (with a "text" for the panel), human
// lines on stderr, `--exit-on-stdin-eof` honoured, SIGTERM stops it (code 0).
// Run as `serumrnn serve ...` (PATH) or `python -m serumrnn.server.cli serve ...`
// (launcher.json's argv): everything after "serve" is the server's options.
// FAKE_SERVER_EVENTS: a file it appends "start <pid> <args>" / "term <pid>" / "eof <pid>" to.
// FAKE_SERVER_CRASHES: crash (exit 1) after start-up this many times (counted in the events
//   file), then stay up.  FAKE_SERVER_EXIT: exit with this code after start-up instead.
"use strict";
const fs = require("fs");
const events = process.env.FAKE_SERVER_EVENTS;
const note = (line) => { if (events) fs.appendFileSync(events, line + "\n"); };
const argv = process.argv.slice(2);
const args = argv.slice(argv.indexOf("serve"));
const before = events && fs.existsSync(events)
  ? fs.readFileSync(events, "utf8").split("\n").filter((l) => l.startsWith("start ")).length : 0;
note("start " + process.pid + " " + args.join(" "));
const progress = (doc) => process.stdout.write("serumrnn-progress " + JSON.stringify(doc) + "\n");
process.on("SIGTERM", () => { note("term " + process.pid); process.exit(0); });
if (args[0] !== "serve") { process.stderr.write("usage: serumrnn serve\n"); process.exit(2); }
const port = args[args.indexOf("--port") + 1];
if (args.includes("--exit-on-stdin-eof")) {
  process.stdin.on("end", () => { note("eof " + process.pid); process.exit(0); });
  process.stdin.resume();
}
progress({ stage: "starting", t: 0.0, text: "starting the server" });
progress({ stage: "ready", t: 0.1, port: Number(port), text: "listening on port " + port });
setTimeout(() => {
  progress({ stage: "group_loading", t: 0.2, group: "basic_shapes", text: "loading the basic_shapes models" });
  process.stderr.write("INFO some log line for people\n");
  if (process.env.FAKE_SERVER_EXIT) process.exit(Number(process.env.FAKE_SERVER_EXIT));
  if (before < Number(process.env.FAKE_SERVER_CRASHES || 0)) {
    process.stderr.write("Traceback: something broke\n");
    process.exit(1);
  }
}, 150);
setInterval(() => {}, 1000);
