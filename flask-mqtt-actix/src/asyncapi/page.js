// Renders the AsyncAPI 3.0 document inlined in #asyncapi-document. Plain DOM, no
// dependencies; every text from the document goes through textContent.
"use strict";

(function () {
  const doc = JSON.parse(document.getElementById("asyncapi-document").textContent);

  function el(tag, attrs, ...children) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === undefined || v === null) continue;
      if (k === "class") e.className = v;
      else if (k.startsWith("data-")) e.setAttribute(k, v);
      else e[k] = v;
    }
    for (const c of children) {
      if (c === undefined || c === null || c === false) continue;
      e.append(c instanceof Node ? c : String(c));
    }
    return e;
  }

  // A local JSON pointer reference (`#/components/schemas/Reading`), or undefined.
  function resolve(ref) {
    if (typeof ref !== "string" || !ref.startsWith("#/")) return undefined;
    let node = doc;
    for (const raw of ref.slice(2).split("/")) {
      const key = decodeURIComponent(raw).replace(/~1/g, "/").replace(/~0/g, "~");
      if (node === null || typeof node !== "object" || !(key in node)) return undefined;
      node = node[key];
    }
    return node;
  }

  function refName(ref) {
    return decodeURIComponent(ref.split("/").pop());
  }

  function typeText(schema) {
    if (!schema || typeof schema !== "object") return schema === false ? "never" : "any";
    if (schema.$ref) return refName(schema.$ref);
    if (Array.isArray(schema.enum)) return schema.enum.map((v) => JSON.stringify(v)).join(" | ");
    if ("const" in schema) return JSON.stringify(schema.const);
    let t = schema.type;
    if (Array.isArray(t)) t = t.join(" | ");
    if (t === "array") return "array of " + typeText(schema.items);
    if (t) return schema.format ? `${t} (${schema.format})` : t;
    if (schema.oneOf || schema.anyOf) return (schema.oneOf ? "one of" : "any of");
    if (schema.properties) return "object";
    return "any";
  }

  // The schema as a tree of properties; `seen` stops recursive types.
  function schemaTree(schema, depth, seen) {
    const list = el("ul", { class: depth === 0 ? "schema" : "" });
    if (!schema || typeof schema !== "object") return list;
    if (schema.$ref) {
      const name = refName(schema.$ref);
      if (seen.has(name) || depth > 8) {
        list.append(el("li", {}, el("span", { class: "desc" }, `${name} (see above)`)));
        return list;
      }
      const target = resolve(schema.$ref);
      return schemaTree(target, depth, new Set([...seen, name]));
    }
    const required = new Set(schema.required || []);
    if (schema.properties) {
      for (const [name, prop] of Object.entries(schema.properties)) {
        const item = el(
          "li",
          { "data-prop": name },
          el("span", { class: "prop" }, name),
          ": ",
          el("span", { class: "type" }, typeText(prop)),
          required.has(name) ? el("span", { class: "req" }, "required") : null,
          prop && prop.description ? prose(prop.description, "desc") : null,
        );
        const inner = nested(prop);
        if (inner) item.append(schemaTree(inner, depth + 1, seen));
        list.append(item);
      }
    } else if (schema.oneOf || schema.anyOf) {
      for (const alt of schema.oneOf || schema.anyOf) {
        const item = el("li", {}, el("span", { class: "type" }, typeText(alt)),
          alt && alt.description ? el("span", { class: "desc" }, alt.description) : null);
        const inner = nested(alt) || (alt && alt.properties ? alt : null);
        if (inner) item.append(schemaTree(inner, depth + 1, seen));
        list.append(item);
      }
    } else if (depth === 0) {
      list.append(el("li", {}, el("span", { class: "type" }, typeText(schema))));
      if (schema.type === "array" && nested(schema)) {
        list.append(schemaTree(nested(schema), depth + 1, seen));
      }
    }
    return list;
  }

  // What to expand under a property: an object, a reference, the items of an array.
  function nested(schema) {
    if (!schema || typeof schema !== "object") return null;
    if (schema.$ref || schema.properties) return schema;
    if (schema.type === "array" && schema.items && typeof schema.items === "object") {
      return nested(schema.items);
    }
    return null;
  }

  // Text with `code` spans (what the generated descriptions use of CommonMark).
  function prose(text, cls) {
    const out = el("span", { class: cls });
    String(text || "").split("`").forEach((part, i) => {
      if (part) out.append(i % 2 ? el("code", {}, part) : part);
    });
    return out;
  }

  function address(text) {
    const out = el("span", { class: "address" });
    for (const part of String(text).split(/(\{[^}]*\})/)) {
      if (!part) continue;
      out.append(part.startsWith("{") ? el("span", { class: "param" }, part) : part);
    }
    return out;
  }

  function renderHeader() {
    const info = doc.info || {};
    document.title = `${info.title || "AsyncAPI"} — AsyncAPI`;
    document.getElementById("title").textContent = info.title || "AsyncAPI";
    document.getElementById("subtitle").textContent =
      `version ${info.version || "?"} · AsyncAPI ${doc.asyncapi || "?"}` +
      (doc.defaultContentType ? ` · default content type ${doc.defaultContentType}` : "");
    document.getElementById("description").textContent = info.description || "";
    document.getElementById("asyncapi-version").textContent = doc.asyncapi || "";
    document.getElementById("raw-json").textContent = JSON.stringify(doc, null, 2);
  }

  function renderServers() {
    const servers = Object.entries(doc.servers || {});
    const body = document.querySelector("#servers tbody");
    document.getElementById("no-servers").hidden = servers.length > 0;
    document.getElementById("servers").hidden = servers.length === 0;
    for (const [id, s] of servers) {
      const mqtt = (s.bindings && s.bindings.mqtt) || {};
      const session = [];
      if (mqtt.clientId) session.push(`client id ${mqtt.clientId}`);
      if ("cleanSession" in mqtt) session.push(mqtt.cleanSession ? "clean session" : "persistent session");
      if (mqtt.keepAlive !== undefined) session.push(`keep-alive ${mqtt.keepAlive} s`);
      if (mqtt.sessionExpiryInterval !== undefined) session.push(`session expiry ${mqtt.sessionExpiryInterval} s`);
      if (mqtt.lastWill) session.push(`last will on ${mqtt.lastWill.topic} (QoS ${mqtt.lastWill.qos})`);
      const security = (s.security || []).map((r) => (r.$ref ? refName(r.$ref) : r.type)).join(", ");
      body.append(el("tr", { "data-server": id },
        el("td", {}, el("code", {}, id), el("div", { class: "meta" }, prose(s.description))),
        el("td", {}, el("code", {}, s.host + (s.pathname || ""))),
        el("td", {}, `${s.protocol} ${s.protocolVersion || ""}`),
        el("td", {}, session.join(" · ")),
        el("td", {}, security || "none"),
      ));
    }
  }

  function renderOperation(id, op) {
    const action = op.action === "send" ? "send" : "receive";
    const mqtt = (op.bindings && op.bindings.mqtt) || {};
    const chips = [el("span", { class: "chip" }, `QoS ${mqtt.qos ?? 0}`)];
    if (mqtt.retain) chips.push(el("span", { class: "chip" }, "retained"));
    if (op["x-mqtt-shared-group"]) {
      chips.push(el("span", { class: "chip", "data-shared": op["x-mqtt-shared-group"] },
        `shared: ${op["x-mqtt-shared-group"]}`));
    }
    const who = action === "send" ? "the app publishes" : "the app subscribes";
    const box = el("div", { class: "operation", "data-operation": id, "data-action": action },
      el("div", {},
        el("span", { class: `badge ${action}` }, action),
        el("span", { class: "op-title" }, op.title || id),
        " ", el("span", { class: "meta" }, `— ${who}`)),
      el("div", {}, ...chips),
      op.description ? el("div", { class: "prose" }, prose(op.description)) : null,
    );
    for (const ref of op.messages || []) {
      const msg = resolve(ref.$ref);
      if (msg) box.append(renderMessage(refName(ref.$ref), msg));
    }
    return box;
  }

  function renderMessage(id, msg) {
    const box = el("div", { class: "message", "data-message": id },
      el("span", { class: "name" }, msg.title || msg.name || id),
      " ", el("code", {}, msg.contentType || doc.defaultContentType || ""),
      msg.summary ? el("div", { class: "meta" }, prose(msg.summary)) : null);
    if (msg.payload) box.append(schemaTree(msg.payload, 0, new Set()));
    return box;
  }

  function renderChannels() {
    const channels = Object.entries(doc.channels || {});
    const root = document.getElementById("channels");
    const toc = document.getElementById("toc");
    document.getElementById("no-channels").hidden = channels.length > 0;
    const operations = Object.entries(doc.operations || {});
    for (const [id, ch] of channels) {
      const card = el("article", {
        class: "channel", id: `channel-${id}`, "data-channel": id, "data-address": ch.address,
      });
      const servers = (ch.servers || []).map((r) => refName(r.$ref));
      card.append(
        el("h3", {}, address(ch.address)),
        el("div", { class: "meta" },
          `filter `, el("code", {}, ch["x-mqtt-filter"] || ch.address),
          ` · client ${ch["x-flask-mqtt-broker"] || "MQTT"}`,
          servers.length ? ` · on ${servers.join(", ")}` : ""),
      );
      const params = Object.entries(ch.parameters || {});
      if (params.length) {
        const list = el("ul", { class: "params" });
        for (const [name, p] of params) {
          list.append(el("li", { "data-parameter": name }, el("code", {}, `{${name}}`), " ", prose(p.description)));
        }
        card.append(list);
      }
      for (const [opId, op] of operations) {
        if (op.channel && op.channel.$ref === `#/channels/${id}`) card.append(renderOperation(opId, op));
      }
      root.append(card);
      toc.append(el("a", { href: `#channel-${id}` }, ch.address));
    }
  }

  renderHeader();
  renderServers();
  renderChannels();
  document.body.dataset.rendered = "true";
})();
