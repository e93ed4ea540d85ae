// A fake of Node for Max's `max-api` module for plain-node tests of server_launcher.js.
// Its surface follows Cycling '74's Node for Max API reference
// (https://docs.cycling74.com/nodeformax/api/): addHandler(selector, handler),
// addHandlers({selector: handler}), removeHandler, removeHandlers, outlet(...args) and
// outletBang() (both return Promises), post(...args[, POST_LEVELS.x]), getDict / setDict /
// updateDict, and the MESSAGE_TYPES, POST_LEVELS and MAX_ENV enums. Like node.script it
// runs in its own process: a test forks the script with this folder on NODE_PATH and
// talks over the IPC channel, {sel, args} in, {outlet: [...]} / {post: [...]} out.
// It refuses what Max would not take: a non-function handler, a non-string selector.
// MESSAGE_TYPES.ALL handlers get (handled, selector, ...args) for every message, handled
// saying whether a selector's own handler took it (the API reference's addHandlers example
// and Cycling '74's n4m-core-examples 05-dynamic-message-handlers). A message no handler
// takes at all is posted as an error: the fake's choice, so a test sees a stray message;
// whether node.script reports one in the Max console is not documented (device-facts.md).
"use strict";

const MESSAGE_TYPES = Object.freeze({ ALL: "all", BANG: "bang", DICT: "dict", LIST: "list", NUMBER: "number" });
const POST_LEVELS = Object.freeze({ ERROR: "error", INFO: "info", WARN: "warn" });
const MAX_ENV = Object.freeze({ MAX: "max", MAX_FOR_LIVE: "maxforlive", STANDALONE: "max:standalone" });

const handlers = new Map();   // selector -> [fn]

function send(m) {
  if (process.send && process.connected) process.send(m);
}

function addHandler(selector, handler) {
  if (typeof selector !== "string" || !selector) throw new TypeError("addHandler: selector must be a string");
  if (typeof handler !== "function") throw new TypeError("addHandler: handler must be a function");
  if (!handlers.has(selector)) handlers.set(selector, []);
  handlers.get(selector).push(handler);
}

function addHandlers(map) {
  for (const k of Object.keys(map)) addHandler(k, map[k]);
}

function removeHandler(selector, handler) {
  const list = handlers.get(selector) || [];
  handlers.set(selector, list.filter((h) => h !== handler));
}

function removeHandlers(selector) {
  handlers.delete(selector);
}

function atoms(args) {
  return args.map((a) => {
    if (typeof a === "function" || a === undefined) throw new TypeError("outlet: cannot send " + typeof a);
    return a;
  });
}

function outlet(...args) {
  send({ outlet: atoms(args) });
  return Promise.resolve();
}

function outletBang() {
  send({ outlet: ["bang"] });
  return Promise.resolve();
}

function post(...args) {
  let level = POST_LEVELS.INFO;
  if (args.length && Object.values(POST_LEVELS).includes(args[args.length - 1])) level = args.pop();
  send({ post: args.map(String), level });
  return Promise.resolve();
}

function notHere() {
  return Promise.reject(new Error("dicts are not part of this fake"));
}

// A message into node.script's inlet: the selector's own handlers, then every "all" one
// with (handled, selector, ...args); taken by none of them: an error post.
function dispatch(sel, args) {
  const own = handlers.get(sel) || [];
  own.forEach((h) => h(...args));
  const all = handlers.get(MESSAGE_TYPES.ALL) || [];
  all.forEach((h) => h(own.length > 0, sel, ...args));
  if (!own.length && !all.length) post("no handler for " + sel, POST_LEVELS.ERROR);
}

process.on("message", (m) => {
  if (m && typeof m.sel === "string") dispatch(m.sel, m.args || []);
});

module.exports = {
  MESSAGE_TYPES, POST_LEVELS, MAX_ENV, addHandler, addHandlers, removeHandler, removeHandlers,
  outlet, outletBang, post, getDict: notHere, setDict: notHere, updateDict: notHere,
};
