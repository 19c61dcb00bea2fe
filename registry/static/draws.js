// 双随机抽查: the random inspection draws regulators published (GET /v1/draws), one draw whole (GET
// /v1/draws/{commitment}: the sample with each item's inspectors, the seed, the commit block, how to draw it again
// with ``tracecert draw verify``), and the form that publishes its results (PUT /v1/draws/{commitment}/result).
//
// The page cannot tell which regulator a token belongs to: the form is offered to the signed-in regulator while a
// draw has no results, and the registry decides (DRAW_NOT_YOURS, RESULT_EXISTS, RESULT_INCOMPLETE shown by code).
// Times are the registry's China time; outcomes are named in the page's language, never in the registry's words.

import { $, el } from "./dom.js";
import { t } from "./i18n.js";
import { latest, read, request, say, shown, showError } from "./session.js";
import { hexCode, shownTime } from "./values.js";

const OUTCOMES = ["PASS", "FAIL", "NOT_INSPECTED"];

// ------------------------------------------------------------------ the list

export async function loadDraws() {
  const mine = ++latest.draws;
  showError(null);
  say("loadingDraws");
  const answer = await read("/v1/draws");
  if (mine !== latest.draws) return;
  say(null);
  if (!answer) {
    $("draws-result").hidden = true;
    return;
  }
  shown.draws = answer.body.items;
  renderDraws();
}

function resultsText(d) {
  return d.results ? t("resultsAt", { when: shownTime(d.result_at) }) : t("resultsNone");
}

export function renderDraws() {
  const items = shown.draws;
  if (!items) return;
  $("draws-result").hidden = false;
  const summary = $("draws-summary");
  summary.dataset.count = String(items.length);
  summary.textContent = items.length ? t("drawsSummary", { n: items.length }) : t("noDraws");
  const table = $("draws-table");
  table.replaceChildren();
  if (!items.length) return;
  const head = el("tr", {});
  for (const key of ["colPurpose", "colJurisdiction", "colPublished", "colDrawn", "colResults", null]) {
    head.append(el("th", { text: key ? t(key) : "" }));
  }
  table.append(el("thead", {}, head));
  const rows = el("tbody");
  for (const d of items) {
    rows.append(
      el(
        "tr",
        { "data-commitment": d.commitment, "data-results": d.results ? "true" : "false" },
        el("td", { class: "draw-purpose", text: d.purpose }),
        el("td", { text: String(d.jurisdiction) }),
        el("td", { text: shownTime(d.published_at) }),
        el("td", { class: "num", title: t("drawnOfLong", { n: d.sample.length, total: d.population_size }),
          text: t("drawnOf", { n: d.sample.length, total: d.population_size }) }),
        el("td", { class: d.results ? "in-force-yes" : "none", text: resultsText(d) }),
        el("td", {}, el("button", { type: "button", class: "secondary draw-open", "data-commitment": d.commitment,
          text: t("openDraw") }))
      )
    );
  }
  table.append(rows);
}

// ------------------------------------------------------------------ one draw

export async function loadDraw(commitment) {
  const mine = ++latest.draw;
  showError(null);
  say("loadingDraw");
  const answer = await read("/v1/draws/" + encodeURIComponent(commitment.trim().toLowerCase()));
  if (mine !== latest.draw) return;
  say(null);
  if (!answer) {
    $("draw-detail").hidden = true;
    return;
  }
  showDraw(answer.body);
}

// Show ``draw`` (the registry's answer) and mark it in the list: a result published here shows there too.
function showDraw(draw) {
  shown.draw = draw;
  if (shown.draws) {
    shown.draws = shown.draws.map((d) => (d.commitment === draw.commitment ? { ...d, results: draw.results, result_at: draw.result_at } : d));
    renderDraws();
  }
  history.replaceState(null, "", "#draws/" + draw.commitment);
  renderDraw();
  $("draw-detail").scrollIntoView({ block: "start" });
}

function fact(list, key, value) {
  const dd = el("dd", { "data-key": key });
  dd.append(value);
  list.append(el("dt", { text: t(key) }), dd);
}

function fileName(draw) {
  return "draw-" + draw.commitment.slice(2, 14) + ".json";
}

export function renderDraw() {
  const draw = shown.draw;
  if (!draw) return;
  const published = draw.published || {};
  const spec = published.spec || {};
  $("draw-detail").hidden = false;
  $("draw-detail").dataset.commitment = draw.commitment;
  $("draw-purpose").textContent = draw.purpose;
  const facts = $("draw-facts");
  facts.replaceChildren();
  fact(facts, "colJurisdiction", String(draw.jurisdiction));
  fact(facts, "drawRegulator", hexCode(draw.regulator));
  fact(facts, "colPublished", shownTime(draw.published_at));
  fact(facts, "colDrawn", t("drawnOfLong", { n: draw.sample.length, total: draw.population_size }));
  fact(facts, "drawCommitment", el("code", { class: "mono", text: draw.commitment }));
  fact(facts, "drawCommitBlock", String(draw.commit_block));
  if (published.seed_block !== undefined) fact(facts, "drawSeedBlock", String(published.seed_block));
  fact(facts, "drawSeed", el("code", { class: "mono", text: draw.seed }));
  if (spec.inspectors && spec.inspectors.length) {
    fact(facts, "drawInspectors", spec.inspectors.join(t("sep")));
    fact(facts, "drawPerItem", t("drawPerItemN", { n: spec.inspectors_per_item }));
  }
  const selection = Object.entries(spec.selection || {});
  if (selection.length) {
    fact(facts, "drawSelection", selection.map(([k, v]) => k + "：" + (typeof v === "string" ? v : JSON.stringify(v))).join(t("sep")));
  }

  const status = $("draw-results-status");
  status.dataset.results = draw.results ? "true" : "false";
  status.textContent = draw.results ? t("resultsPublishedAt", { when: shownTime(draw.result_at) }) : t("resultsPending");
  renderSample(draw, published.inspectors || {});

  const population = spec.population || [];
  $("draw-population-title").textContent = t("drawPopulation", { n: population.length });
  const drawn = new Set(draw.sample);
  $("draw-population").replaceChildren(...population.map((p) => el("li", { class: drawn.has(p) ? "drawn" : null }, hexCode(p))));

  $("draw-download").dataset.commitment = draw.commitment;
  $("draw-command").textContent = "tracecert draw verify " + fileName(draw);
  renderResultForm(draw, published.inspectors || {});
}

function renderSample(draw, inspectors) {
  const table = $("draw-sample");
  table.replaceChildren();
  const head = el("tr", {});
  for (const key of ["colNo", "colItem", "colInspectors", "colOutcome", "colNote"]) head.append(el("th", { text: t(key) }));
  table.append(el("thead", {}, head));
  const rows = el("tbody");
  draw.sample.forEach((item, i) => {
    const result = draw.results ? draw.results[item] : null;
    const code = result ? result.outcome.code : null;
    rows.append(
      el(
        "tr",
        { "data-item": item, "data-outcome": code },
        el("td", { class: "num", text: String(i + 1) }),
        el("td", {}, hexCode(item)),
        el("td", { class: "inspectors", text: (inspectors[item] || []).join(t("sep")) || t("none") }),
        el("td", { class: code ? "outcome outcome-" + code : "none", text: code ? t("outcome_" + code) : t("none") }),
        el("td", { class: "note", text: result && result.note ? result.note : t("none") })
      )
    );
  });
  table.append(rows);
}

// ------------------------------------------------------------------ publishing the results

function renderResultForm(draw, inspectors) {
  const form = $("result-form");
  const table = $("result-table");
  if (draw.results) {
    form.hidden = true;
    table.replaceChildren();
    return;
  }
  // What was already chosen or typed survives a redraw (a change of language).
  const kept = form.dataset.commitment === draw.commitment ? typed() : {};
  form.dataset.commitment = draw.commitment;
  table.replaceChildren();
  const head = el("tr", {});
  for (const key of ["colItem", "colInspectors", "colOutcome", "colNote"]) head.append(el("th", { text: t(key) }));
  table.append(el("thead", {}, head));
  const rows = el("tbody");
  draw.sample.forEach((item, i) => {
    const select = el("select", { class: "outcome-choice", "data-item": item, "aria-label": t("colOutcome") + " " + (i + 1) });
    select.append(el("option", { value: "", text: t("chooseOutcome") }));
    for (const code of OUTCOMES) select.append(el("option", { value: code, text: t("outcome_" + code) }));
    const note = el("input", { class: "note-input", "data-item": item, maxlength: 2000, "aria-label": t("colNote") + " " + (i + 1) });
    if (kept[item]) {
      select.value = kept[item].outcome || "";
      note.value = kept[item].note || "";
    }
    rows.append(
      el(
        "tr",
        { "data-item": item },
        el("td", {}, hexCode(item)),
        el("td", { text: (inspectors[item] || []).join(t("sep")) || t("none") }),
        el("td", {}, select),
        el("td", {}, note)
      )
    );
  });
  table.append(rows);
  form.hidden = false;
}

// The form's choices by item: {outcome, note}, outcome "" when none is chosen.
function typed() {
  const out = {};
  for (const select of document.querySelectorAll("#result-table select.outcome-choice")) {
    out[select.dataset.item] = { outcome: select.value, note: "" };
  }
  for (const input of document.querySelectorAll("#result-table input.note-input")) {
    if (out[input.dataset.item]) out[input.dataset.item].note = input.value;
  }
  return out;
}

// Sends the items with an outcome chosen: one left out is the registry's to refuse (RESULT_INCOMPLETE).
export async function publishResults(event) {
  event.preventDefault();
  const draw = shown.draw;
  if (!draw || draw.results) return;
  const results = {};
  for (const [item, r] of Object.entries(typed())) {
    if (!r.outcome) continue;
    results[item] = r.note.trim() ? { outcome: r.outcome, note: r.note.trim() } : { outcome: r.outcome };
  }
  showError(null);
  say("publishingResults");
  const path = "/v1/draws/" + encodeURIComponent(draw.commitment) + "/result";
  const answer = await read(path, null, { method: "PUT", body: { results } });
  say(null);
  if (answer) {
    showDraw(answer.body);
    return;
  }
  // Refused (and shown): when the results were published meanwhile, show them beside the refusal.
  const again = await request("/v1/draws/" + encodeURIComponent(draw.commitment));
  if (again.ok && again.body.results && shown.draw && shown.draw.commitment === draw.commitment) showDraw(again.body);
}

// ------------------------------------------------------------------ the file to draw it again from

export function downloadDraw(event) {
  event.preventDefault();
  const draw = shown.draw;
  if (!draw || !draw.published) return;
  const blob = new Blob([JSON.stringify(draw.published, null, 2) + "\n"], { type: "application/json" });
  const url = URL.createObjectURL(blob);
  const save = el("a", { href: url, download: fileName(draw), hidden: true });
  document.body.append(save);
  save.click();
  save.remove();
  setTimeout(() => URL.revokeObjectURL(url), 60_000);
}
