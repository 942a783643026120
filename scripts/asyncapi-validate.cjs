// Validates an AsyncAPI document with the official parser (@asyncapi/parser), as
// installed by scripts/setup-asyncapi. Used by tests/asyncapi_document.rs.
//
//   node scripts/asyncapi-validate.cjs PARSER_DIR DOCUMENT.json
//
// Prints one JSON object: the parser's diagnostics (severity 0 = error, 1 = warning,
// 2 = information, 3 = hint), whether it produced a document, and what it read from it
// (channel addresses and parameters, operations with their action, channel and message
// payload types), so the test can check the parser understood the document, not only
// that it did not complain. Exits 0 when it could run the parser at all.
"use strict";

const fs = require("fs");
const path = require("path");

async function main() {
  const [dir, file] = process.argv.slice(2);
  if (!dir || !file) {
    console.error("usage: node asyncapi-validate.cjs PARSER_DIR DOCUMENT.json");
    process.exit(2);
  }
  const { Parser } = require(path.join(dir, "node_modules", "@asyncapi", "parser"));
  const parser = new Parser();
  const { document, diagnostics } = await parser.parse(fs.readFileSync(file, "utf8"));
  const out = {
    diagnostics: diagnostics.map((d) => ({
      severity: d.severity,
      code: String(d.code),
      message: d.message,
      path: (d.path || []).join("/"),
    })),
    parsed: Boolean(document),
  };
  if (document) {
    out.version = document.version();
    out.title = document.info().title();
    out.servers = document.servers().all().map((s) => ({
      id: s.id(),
      host: s.host(),
      protocol: s.protocol(),
      protocolVersion: s.protocolVersion(),
    }));
    out.channels = document.channels().all().map((c) => ({
      id: c.id(),
      address: c.address(),
      parameters: c.parameters().all().map((p) => p.id()),
      servers: c.servers().all().map((s) => s.id()),
      messages: c.messages().all().map((m) => ({
        id: m.id(),
        contentType: m.contentType(),
        payloadType: m.hasPayload() ? m.payload().type() || null : null,
      })),
    }));
    out.operations = document.operations().all().map((o) => ({
      id: o.id(),
      action: o.action(),
      channels: o.channels().all().map((c) => c.address()),
    }));
  }
  process.stdout.write(JSON.stringify(out));
}

main().catch((e) => {
  console.error(e && e.stack ? e.stack : String(e));
  process.exit(1);
});
