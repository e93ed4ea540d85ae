// OSC 1.0 bytes <-> the plain lists the device works with, for node only. In Max,
// udpsend and udpreceive do this job (and hand the js object lists); node's dgram needs
// bytes, so the tests that talk to the real server over UDP use this small codec.
// Requests carry ints and strings only: an integral number is sent as "i".
"use strict";

function pad4(n) {
  return (n + 3) & ~3;
}

function oscString(s) {
  const raw = Buffer.from(String(s), "utf8");
  const out = Buffer.alloc(pad4(raw.length + 1));
  raw.copy(out);
  return out;
}

// [address, ...args] -> one OSC message.
function encode(list) {
  const [address, ...args] = list;
  let tags = ",";
  const parts = [];
  for (const a of args) {
    if (typeof a === "number" && Number.isInteger(a) && a >= -2147483648 && a <= 2147483647) {
      tags += "i";
      const b = Buffer.alloc(4);
      b.writeInt32BE(a);
      parts.push(b);
    } else if (typeof a === "number") {
      tags += "f";
      const b = Buffer.alloc(4);
      b.writeFloatBE(a);
      parts.push(b);
    } else {
      tags += "s";
      parts.push(oscString(a));
    }
  }
  return Buffer.concat([oscString(address), oscString(tags), ...parts]);
}

function readString(buf, pos) {
  const end = buf.indexOf(0, pos);
  if (end < 0) throw new Error("unterminated OSC string at " + pos);
  return [buf.toString("utf8", pos, end), pad4(end + 1)];
}

function decodeMessage(buf) {
  let [address, pos] = readString(buf, 0);
  if (pos >= buf.length) return [address];
  let tags;
  [tags, pos] = readString(buf, pos);
  const out = [address];
  for (const t of tags.slice(1)) {
    if (t === "i") { out.push(buf.readInt32BE(pos)); pos += 4; }
    else if (t === "h") { out.push(Number(buf.readBigInt64BE(pos))); pos += 8; }
    else if (t === "f") { out.push(buf.readFloatBE(pos)); pos += 4; }
    else if (t === "d") { out.push(buf.readDoubleBE(pos)); pos += 8; }
    else if (t === "s" || t === "S") { let s; [s, pos] = readString(buf, pos); out.push(s); }
    else if (t === "T") out.push(1);
    else if (t === "F") out.push(0);
    else if (t === "N") out.push(null);
    else if (t === "b") {
      const n = buf.readInt32BE(pos);
      out.push(buf.subarray(pos + 4, pos + 4 + n));
      pos = pad4(pos + 4 + n);
    } else throw new Error("unsupported OSC type tag " + t);
  }
  return out;
}

// A datagram -> its messages as lists, a bundle's in order (what udpreceive outputs).
function decode(buf) {
  if (buf.subarray(0, 8).toString("latin1") !== "#bundle\0") return [decodeMessage(buf)];
  const out = [];
  let pos = 16;
  while (pos < buf.length) {
    const n = buf.readInt32BE(pos);
    out.push(...decode(buf.subarray(pos + 4, pos + 4 + n)));
    pos += 4 + n;
  }
  return out;
}

// Messages packed into one bundle (to test the device's side of bundles).
function bundle(lists) {
  const head = Buffer.concat([Buffer.from("#bundle\0", "latin1"), Buffer.from([0, 0, 0, 0, 0, 0, 0, 1])]);
  const parts = lists.map((l) => {
    const m = encode(l);
    const size = Buffer.alloc(4);
    size.writeInt32BE(m.length);
    return Buffer.concat([size, m]);
  });
  return Buffer.concat([head, ...parts]);
}

module.exports = { encode, decode, bundle };
