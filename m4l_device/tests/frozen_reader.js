// A reader for frozen .amxd files, written apart from the Python writer
// (m4l_device/tooling/frozen.py) so each checks the other. It follows the layout Ableton's
// maxdevtools reads (maxdiff/amxd_textconv.py, freezing_utils.py, frozen_device_printer.py):
// chunks of tag + little-endian size; a frozen "ptch" of "mx@c", header size and footer
// offset (big-endian), the files, and a "dlst" footer of "dire" entries whose fields each
// carry their own big-endian size.
//
// As a command: `node frozen_reader.js layout <file.amxd>` prints the file's layout (what
// tests/fixtures/frozen_reference_layout.json records for Ableton's FrozenTest.amxd).
"use strict";

const fs = require("node:fs");

function chunks(buf) {
  const out = [];
  let pos = 0;
  while (pos < buf.length) {
    if (pos + 8 > buf.length) throw new Error("chunk head cut at " + pos);
    const tag = buf.toString("latin1", pos, pos + 4);
    const size = buf.readUInt32LE(pos + 4);
    if (pos + 8 + size > buf.length) throw new Error("chunk " + tag + " runs past the end");
    out.push({ tag, data: buf.subarray(pos + 8, pos + 8 + size) });
    pos += 8 + size;
  }
  return out;
}

function fieldValue(tag, data) {
  if (tag === "type") return data.toString("latin1").replace(/[\0 ]+$/, "");
  if (tag === "fnam") return data.toString("latin1").replace(/\0+$/, "");
  return data.length === 4 ? data.readUInt32BE(0) : data.toString("hex");
}

// The frozen ptch's files: [{name, type, flag, offset, size, vers, mdat, fields: [[tag, size]], data}].
function frozenFiles(ptch) {
  if (ptch.toString("latin1", 0, 4) !== "mx@c") throw new Error("not frozen: no mx@c");
  const headerSize = ptch.readUInt32BE(4);
  const footerAt = Number(ptch.readBigUInt64BE(8));
  if (footerAt > ptch.length) throw new Error("footer offset past the end");
  const footer = ptch.subarray(footerAt);
  if (footer.toString("latin1", 0, 4) !== "dlst") throw new Error("footer is not dlst");
  if (footer.readUInt32BE(4) !== footer.length) throw new Error("dlst size is not the footer's");
  const files = [];
  let pos = 8;
  while (pos < footer.length) {
    if (footer.toString("latin1", pos, pos + 4) !== "dire") throw new Error("not a dire at " + pos);
    const end = pos + footer.readUInt32BE(pos + 4);
    const f = { fields: [] };
    for (let p = pos + 8; p < end;) {
      const tag = footer.toString("latin1", p, p + 4);
      const size = footer.readUInt32BE(p + 4);
      if (size < 8 || p + size > end) throw new Error("field " + tag + " of size " + size);
      f.fields.push([tag, size]);
      f[tag] = fieldValue(tag, footer.subarray(p + 8, p + size));
      p += size;
    }
    if (f.of32 < headerSize || f.of32 + f.sz32 > footerAt) throw new Error(f.fnam + " outside the body");
    files.push({ name: f.fnam, type: f.type, flag: f.flag, offset: f.of32, size: f.sz32,
                 vers: f.vers, mdat: f.mdat, fields: f.fields,
                 data: ptch.subarray(f.of32, f.of32 + f.sz32) });
    pos = end;
  }
  return { headerSize, footerAt, files };
}

function read(buf) {
  const cs = chunks(buf);
  const ptch = cs.find((c) => c.tag === "ptch");
  if (!ptch) throw new Error("no ptch chunk");
  return { chunks: cs, frozen: frozenFiles(ptch.data) };
}

// What the comparison with Ableton's example looks at: chunk tags and sizes of the small
// chunks, the ptch header, and per file its type, flag, field order and field sizes, and
// whether the files lie back to back after the header.
function layout(buf) {
  const r = read(buf);
  const files = r.frozen.files;
  let next = r.frozen.headerSize, contiguous = true;
  for (const f of files) {
    if (f.offset !== next) contiguous = false;
    next = f.offset + f.size;
  }
  return {
    chunks: r.chunks.map((c) => [c.tag, c.tag === "ptch" ? null : c.data.toString("hex")]),
    ptchHead: r.chunks.find((c) => c.tag === "ptch").data.toString("latin1", 0, 4),
    headerSize: r.frozen.headerSize,
    footerFollowsFiles: next === r.frozen.footerAt,
    contiguous,
    deviceLast2: files[0].data.subarray(files[0].data.length - 2).toString("hex"),
    files: files.map((f) => ({ name: f.name, type: f.type, flag: f.flag, vers: f.vers,
                               fields: f.fields.map((x) => x[0]),
                               fieldSizes: f.fields.map((x) => x[1]) })),
  };
}

if (require.main === module) {
  const [cmd, file] = process.argv.slice(2);
  if (cmd !== "layout" || !file) {
    process.stderr.write("usage: node frozen_reader.js layout <file.amxd>\n");
    process.exit(2);
  }
  process.stdout.write(JSON.stringify(layout(fs.readFileSync(file)), null, 1) + "\n");
}

module.exports = { chunks, frozenFiles, read, layout };
