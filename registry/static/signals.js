// 欺诈信号: every fraud signal (GET /v1/fraud-signals, page after page).

import { $, el } from "./dom.js";
import { has, t } from "./i18n.js";
import { latest, read, say, shown, showError } from "./session.js";
import { chinaTime, digestLink, hexCode } from "./values.js";

const SIGNALS_PAGE = 100;

export async function loadSignals() {
  const mine = ++latest.signals;
  showError(null);
  const items = [];
  let cursor = null;
  let pages = 0;
  for (;;) {
    say("loadingSignals", { n: items.length });
    const query = new URLSearchParams({ limit: String(SIGNALS_PAGE) });
    if (cursor !== null) query.set("cursor", String(cursor));
    const answer = await read("/v1/fraud-signals?" + query);
    if (mine !== latest.signals) return;
    if (!answer) {
      say(null);
      return;
    }
    items.push(...answer.body.items);
    pages += 1;
    const next = answer.body.next_cursor;
    if (next === null || next === undefined || (cursor !== null && next <= cursor)) break;
    cursor = next;
  }
  say(null);
  shown.signals = { items, pages };
  renderSignals();
}

export function renderSignals() {
  const data = shown.signals;
  if (!data) return;
  $("signals-result").hidden = false;
  const summary = $("signals-summary");
  summary.dataset.count = String(data.items.length);
  summary.textContent = data.items.length ? t("signalsSummary", { n: data.items.length, pages: data.pages }) : t("noSignals");
  const table = $("signals-table");
  table.replaceChildren();
  if (!data.items.length) return;
  table.append(
    el(
      "thead",
      {},
      el(
        "tr",
        {},
        el("th", { text: t("colId") }),
        el("th", { text: t("colKind") }),
        el("th", { text: t("colLab") }),
        el("th", { text: t("colNumber") }),
        el("th", { text: t("colRelated") }),
        el("th", { text: t("colToken") }),
        el("th", { text: t("colRecorded") })
      )
    )
  );
  const rows = el("tbody");
  for (const s of data.items) {
    const related = el("dl", { class: "evidence" });
    const existing = "rel_" + s.kind + "_existing";
    const attempted = "rel_" + s.kind + "_attempted";
    related.append(
      el("dt", { text: has(existing) ? t(existing) : t("colCertificate") }),
      el("dd", {}, digestLink(s.existing_digest)),
      el("dt", { text: has(attempted) ? t(attempted) : t("colCertificate") }),
      // A refused certificate was never stored: nothing depends on it.
      el("dd", {}, s.kind === "NUMBER_REUSE" ? hexCode(s.attempted_digest) : digestLink(s.attempted_digest))
    );
    rows.append(
      el(
        "tr",
        { "data-signal-id": s.id, "data-kind": s.kind, "data-lab-id": s.lab_id },
        el("td", { class: "num", text: "#" + s.id }),
        el("td", { text: has("sig_" + s.kind) ? t("sig_" + s.kind) : s.kind, title: s.kind }),
        el("td", {}, hexCode(s.lab_id)),
        el("td", { text: s.certificate_number }),
        el("td", {}, related),
        el("td", { text: s.token_id === null || s.token_id === undefined ? t("none") : "#" + s.token_id }),
        el("td", { text: chinaTime(s.created_at) })
      )
    );
  }
  table.append(rows);
}
