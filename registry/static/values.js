// Dates and values as people read them: China time (never unix times), short digests, the evidence of a finding.

import { el } from "./dom.js";
import { has, t } from "./i18n.js";

const CHINA_MS = 8 * 3600 * 1000;
export const DIGEST = /^0x[0-9a-f]{64}$/i;

export function chinaToday() {
  return new Date(Date.now() + CHINA_MS).toISOString().slice(0, 10);
}

export function daysBefore(day, n) {
  const d = new Date(day + "T00:00:00Z");
  d.setUTCDate(d.getUTCDate() - n);
  return d.toISOString().slice(0, 10);
}

// An instant (ISO 8601) as China's clock reads it: 2026-09-11 12:00.
export function chinaTime(iso) {
  if (!iso) return t("none");
  const ms = Date.parse(iso);
  if (Number.isNaN(ms)) return iso;
  const d = new Date(ms + CHINA_MS).toISOString();
  return d.slice(0, 10) + " " + d.slice(11, 16);
}

// A time the registry wrote for people ("2026-12-04 20:12 (UTC+8)") or an ISO instant, as China's clock reads it.
export function shownTime(text) {
  const plain = /^(\d{4}-\d{2}-\d{2} \d{2}:\d{2})(?::\d{2})? \(UTC\+8\)$/.exec(text || "");
  return plain ? plain[1] : chinaTime(text);
}

function short(hex) {
  return hex && hex.length > 20 ? hex.slice(0, 10) + "…" + hex.slice(-6) : hex || "";
}

export function hexCode(hex) {
  return el("code", { title: hex, text: short(hex) });
}

// A certificate digest the regulator may follow to its own downstream impact.
export function digestLink(digest) {
  return el("button", { type: "button", class: "digest-link mono", "data-digest": digest, title: digest, text: short(digest) });
}

export function periodText(since, until) {
  if (since && until) return t("periodBoth", { since, until });
  if (since) return t("periodSince", { since });
  if (until) return t("periodUntil", { until });
  return t("periodAll");
}

function evidenceValue(key, value) {
  if (value === null || value === undefined || value === "") return t("none");
  if (typeof value === "boolean") return t(value ? "yes" : "no");
  if (Array.isArray(value)) return value.map((v) => evidenceText(key, v)).join(t("sep"));
  if (typeof value === "string" && DIGEST.test(value)) return hexCode(value);
  return evidenceText(key, value);
}

function evidenceText(key, value) {
  const s = String(value);
  if (key === "standard") {
    const used = /^standards_used\.(\d+)$/.exec(s);
    if (used) return t("standardN", { n: Number(used[1]) + 1 });
    const serial = /^serial:(.*)$/.exec(s);
    if (serial) return t("standardSerial", { serial: serial[1] });
    if (DIGEST.test(s)) return short(s);
  }
  if (key === "conclusion" && has("conclusion_" + s)) return t("conclusion_" + s);
  if (key === "signal") return "#" + s;
  return s;
}

export function evidenceList(evidence) {
  const list = el("dl", { class: "evidence" });
  for (const [key, value] of Object.entries(evidence || {})) {
    const dd = el("dd", { "data-key": key });
    dd.append(evidenceValue(key, value));
    list.append(el("dt", { text: has("ev_" + key) ? t("ev_" + key) : key }), dd);
  }
  return list;
}

export function digestList(digests) {
  const FIRST = 4;
  const list = el("ul", { class: "digests" });
  for (const d of digests.slice(0, FIRST)) list.append(el("li", {}, digestLink(d)));
  if (digests.length <= FIRST) return list;
  const rest = el("ul", { class: "digests" });
  for (const d of digests.slice(FIRST)) rest.append(el("li", {}, digestLink(d)));
  return el("div", {}, list, el("details", {}, el("summary", { text: t("moreDigests", { n: digests.length - FIRST }) }), rest));
}
