// Small DOM helpers of the regulators' page. Text from the registry only ever goes into textContent (the
// ``text`` attribute of ``el``), never into HTML.

export function $(id) {
  return document.getElementById(id);
}

export function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k === "class") node.className = v;
    else if (k === "text") node.textContent = v;
    else node.setAttribute(k, v === true ? "" : String(v));
  }
  for (const c of children) if (c !== null && c !== undefined) node.append(c);
  return node;
}
