// The traceability chain of a report: an SVG graph (the checked certificate at the bottom, each standard's
// certificate one row higher, the NMI at the top; a node links to that certificate's verification) and the same
// chain as a nested list. Text from the report only ever goes into SVG text nodes or textContent.
import { $, el } from "./common.js";
import { lang, t, table } from "./app-text.js";

const SVG_NS = "http://www.w3.org/2000/svg";

function svg(tag, attrs, text) {
  const node = document.createElementNS(SVG_NS, tag);
  for (const [k, v] of Object.entries(attrs || {})) if (v !== null && v !== undefined) node.setAttribute(k, String(v));
  if (text !== undefined) node.textContent = text;
  return node;
}

const NODE_W = 232;
const NODE_H = 92;
const GAP_X = 36;
const GAP_Y = 64;

function layout(root) {
  // Leaves take consecutive slots and a node is centred over its children's span. The checked certificate is
  // drawn at the bottom and each standard's certificate one row higher, so the NMI ends a chain at the top.
  const nodes = [];
  const edges = [];
  let slot = 0;
  let maxDepth = 0;
  function walk(node, depth) {
    const entry = { node: node, depth: depth, x: 0 };
    nodes.push(entry);
    maxDepth = Math.max(maxDepth, depth);
    const kids = node.children || [];
    if (!kids.length) {
      entry.x = slot++;
    } else {
      const xs = kids.map((k) => {
        const child = walk(k, depth + 1);
        edges.push({ from: child, to: entry, label: k.standard });
        return child.x;
      });
      entry.x = (Math.min(...xs) + Math.max(...xs)) / 2;
    }
    return entry;
  }
  walk(root, 0);
  for (const n of nodes) {
    n.cx = GAP_X + n.x * (NODE_W + GAP_X) + NODE_W / 2;
    n.cy = GAP_Y / 2 + (maxDepth - n.depth) * (NODE_H + GAP_Y) + NODE_H / 2;
  }
  const width = GAP_X + Math.max(slot, 1) * (NODE_W + GAP_X);
  const height = GAP_Y + (maxDepth + 1) * (NODE_H + GAP_Y) - GAP_Y;
  return { nodes: nodes, edges: edges, width: width, height: height };
}

function shorten(text, max) {
  if (!text) return "";
  const chars = Array.from(text);
  return chars.length > max ? chars.slice(0, max - 1).join("") + "…" : text;
}

function nodeClass(node) {
  if (node.verdict === "VALID") return "valid";
  if (node.verdict === "VALID_WITH_WARNINGS") return "warn";
  if (node.verdict === "INVALID") return "invalid";
  return "unknown";
}

export function renderTrace(tree, rootVerdict) {
  const holder = $("trace");
  const textHolder = $("trace-list");
  holder.replaceChildren();
  textHolder.replaceChildren();
  if (!tree) {
    holder.append(el("p", { class: "hint", text: t("traceNone") }));
    return;
  }
  // The engine gives verdicts to the standards' certificates; the checked one's is the report's.
  if (!tree.verdict && rootVerdict) tree = Object.assign({}, tree, { verdict: rootVerdict });
  const g = layout(tree);
  const root = svg("svg", {
    id: "trace-graph",
    class: "trace-graph",
    viewBox: "0 0 " + g.width + " " + g.height,
    width: g.width,
    height: g.height,
    role: "img",
    "aria-labelledby": "trace-graph-title",
  });
  root.append(svg("title", { id: "trace-graph-title" }, t("traceGraph")));
  const defs = svg("defs");
  const marker = svg("marker", {
    id: "arrow",
    viewBox: "0 0 10 10",
    refX: 10,
    refY: 5,
    markerWidth: 7,
    markerHeight: 7,
    orient: "auto-start-reverse",
  });
  marker.append(svg("path", { d: "M 0 0 L 10 5 L 0 10 z", class: "arrow-head" }));
  defs.append(marker);
  root.append(defs);

  for (const e of g.edges) {
    // Value flows down: from the standard's certificate (above) to the certificate that used it (below).
    const x1 = e.from.cx;
    const y1 = e.from.cy + NODE_H / 2;
    const x2 = e.to.cx;
    const y2 = e.to.cy - NODE_H / 2;
    const edge = svg("g", { class: "edge" });
    edge.append(svg("line", { x1: x1, y1: y1, x2: x2, y2: y2 - 2, "marker-end": "url(#arrow)" }));
    if (e.label) {
      edge.append(
        svg("text", { x: (x1 + x2) / 2 + 6, y: (y1 + y2) / 2 + 4, class: "edge-label" }, shorten(e.label, 16))
      );
    }
    root.append(edge);
  }

  for (const n of g.nodes) {
    const d = n.node;
    const cls = nodeClass(d);
    const group = svg("g", {
      class: "node " + cls,
      "data-digest": d.digest || "",
      "data-verdict": d.verdict || "UNKNOWN",
      "data-lab-kind": d.lab_kind || "",
    });
    const x = n.cx - NODE_W / 2;
    const y = n.cy - NODE_H / 2;
    group.append(svg("rect", { x: x, y: y, width: NODE_W, height: NODE_H, rx: 8, ry: 8 }));
    const kind = d.lab_kind ? table("labKinds", d.lab_kind) : "";
    group.append(svg("text", { x: x + 10, y: y + 21, class: "node-title" }, shorten(d.lab_name || d.lab_id || "?", 15)));
    group.append(svg("text", { x: x + 10, y: y + 40, class: "node-sub" }, shorten(kind, 30)));
    group.append(svg("text", { x: x + 10, y: y + 58, class: "node-sub" }, shorten(d.certificate_number || "", 30)));
    const verdictText = d.verdict ? t(d.verdict) : lang === "zh" ? "未知" : "unknown";
    group.append(svg("text", { x: x + 10, y: y + 79, class: "node-verdict" }, verdictText));
    const tip = [d.lab_name, kind, d.certificate_number, d.digest, d.note].filter(Boolean).join("\n");
    group.append(svg("title", {}, tip));
    if (d.digest) {
      const link = svg("a", { href: "/c/" + d.digest, class: "node-link" });
      link.setAttribute("aria-label", [d.lab_name, d.certificate_number, verdictText].filter(Boolean).join(", "));
      link.append(group);
      root.append(link);
    } else {
      root.append(group);
    }
  }
  holder.append(root);
  textHolder.append(traceList(tree));
}

function traceList(node) {
  const kind = node.lab_kind ? " (" + table("labKinds", node.lab_kind) + ")" : "";
  const verdict = node.verdict ? t(node.verdict) : lang === "zh" ? "未知" : "unknown";
  const via = node.standard ? node.standard + " ← " : "";
  const li = el(
    "li",
    {},
    el("span", { text: via + (node.certificate_number || "?") + " · " + (node.lab_name || "") + kind + " · " + verdict }),
    node.note ? el("span", { class: "detail", text: " " + node.note }) : null
  );
  const kids = node.children || [];
  if (kids.length) {
    const ul = el("ul");
    for (const k of kids) ul.append(traceList(k).firstChild);
    li.append(ul);
  }
  const wrap = el("ul");
  wrap.append(li);
  return wrap;
}
