// 检定率: a region's coverage of instruments under mandatory verification (GET /v1/coverage) — the totals, the
// rate by category (a bar chart) and month by month (a line chart), both drawn by Chart.js from the registry's own
// figures, and a table by sub-region — the instruments not in force (in the same answer, overdue_limit: the first
// 200 and the total), the figures as CSV or Excel (?format=csv|xlsx, fetched with the token and saved), and the regulator's
// queue of self-registered enterprises (GET /v1/enterprises?state=PENDING) with a button confirming each (POST
// /v1/enterprises/{usci}/confirm).
//
// The region is the last one shown (kept in localStorage for the next visit), else the signed-in regulator's own
// jurisdiction (GET /v1/me, read from the chain); it can be typed. States are named in the page's language from
// the registry's names (state_name), never shown as codes. Text only ever goes into textContent.

import { $, el } from "./dom.js";
import { lang, t } from "./i18n.js";
import { latest, read, request, say, shown, showError } from "./session.js";
import { chinaToday, shownTime } from "./values.js";

const CHART_URL = "/vendor/chart.umd.min.js";
const REGION_KEY = "tracecert.regulator.region";
const REGION = /^(0|[1-9]\d{5})$/;
export const OVERDUE_LIMIT = 200;
const BLUE = "#1f4e9c";
// The counts of a figures object ({registered, in_force, ...}), as the registry names them, and their words.
const COUNTS = [
  ["registered", "colRegistered"],
  ["in_force", "colInForce"],
  ["overdue", "colOverdue"],
  ["failed", "colFailed"],
  ["never_verified", "colNever"],
];
const FIGURES = [
  ["rate", "figRate"],
  ["registered", "figRegistered"],
  ["in_force", "figInForce"],
  ["overdue", "figOverdue"],
  ["failed", "figFailed"],
  ["never_verified", "figNever"],
];

// This tab's answers and requests live beside the others' (signing out clears them all).
shown.coverage = null;
shown.pending = null;
latest.coverage = 0;
latest.pending = 0;
const charts = { category: null, trend: null };
let chartLoading = null;

// ------------------------------------------------------------------ the form

// The form filled in: today (China) as the day, the region last shown.
export function prepareCoverageForm() {
  $("c-on").value = chinaToday();
  try {
    const kept = localStorage.getItem(REGION_KEY);
    if (kept && REGION.test(kept)) $("c-region").value = kept;
  } catch (e) {
    /* nothing kept */
  }
}

// Once signed in: the regulator's own jurisdiction in an empty region field (GET /v1/me).
export async function fillOwnRegion() {
  if ($("c-region").value) return;
  const answer = await request("/v1/me");
  const own = answer.ok && answer.body.regulator ? String(answer.body.regulator.jurisdiction) : "";
  if (own && !$("c-region").value) $("c-region").value = own;
}

// The query the form asks for, or null (and a word why) when the region is not a code.
function formQuery() {
  const region = $("c-region").value.trim();
  const note = $("c-form-note");
  if (!REGION.test(region)) {
    note.textContent = t("coverageRegionNeeded");
    note.dataset.code = "REGION_INVALID";
    note.hidden = false;
    $("c-region").focus();
    return null;
  }
  note.hidden = true;
  const query = { region };
  const on = $("c-on").value;
  if (on) query.on = on;
  const category = $("c-category").value.trim();
  if (category) query.category = category;
  query.months = $("c-months").value;
  return query;
}

function queryString(query, extra) {
  const params = new URLSearchParams();
  for (const [k, v] of Object.entries({ ...query, ...extra })) if (v !== undefined && v !== null && v !== "") params.set(k, v);
  return params.toString();
}

// Whether the form holds a region to show on opening the tab.
export function coverageReady() {
  return REGION.test($("c-region").value.trim());
}

export async function loadCoverage() {
  const query = formQuery();
  if (!query) return;
  const mine = ++latest.coverage;
  showError(null);
  say("loadingCoverage");
  // The figures and the overdue list's first rows in one answer: the registry counts both in one pass.
  const stats = await read("/v1/coverage?" + queryString(query, { overdue_limit: OVERDUE_LIMIT }));
  if (mine !== latest.coverage) return;
  say(null);
  if (!stats) {
    $("coverage-result").hidden = true;
    return;
  }
  try {
    localStorage.setItem(REGION_KEY, query.region);
  } catch (e) {
    /* not kept */
  }
  const { overdue, ...figures } = stats.body;
  shown.coverage = { query: { ...query, on: figures.on }, stats: figures, overdue };
  renderCoverage();
}

// ------------------------------------------------------------------ showing the figures

export function percent(rate) {
  if (rate === null || rate === undefined) return t("none");
  return (rate * 100).toFixed(1) + "%";
}

export function renderCoverage() {
  const shownNow = shown.coverage;
  if (!shownNow) return;
  const { stats, overdue } = shownNow;
  $("coverage-result").hidden = false;
  const summary = $("coverage-summary");
  summary.dataset.region = String(stats.region);
  summary.dataset.on = stats.on;
  summary.textContent = t("coverageSummary", { region: stats.region, on: stats.on, category: stats.category || t("coverageCategoryAll") });
  renderTotals(stats.totals);
  const empty = !stats.totals.registered;
  $("coverage-empty").hidden = !empty;
  $("coverage-charts").hidden = empty;
  $("coverage-regions").hidden = empty;
  renderCategoryTable(stats.by_category);
  renderTrendTable(stats.trend);
  renderRegionTable(stats.by_region);
  renderOverdue(overdue);
  const known = $("c-categories");
  known.replaceChildren(...stats.by_category.map((c) => el("option", { value: c.category })));
  if (empty) {
    destroyCoverageCharts();
    return;
  }
  drawCharts(shownNow);
}

function renderTotals(totals) {
  const box = $("coverage-totals");
  box.replaceChildren();
  for (const [key, words] of FIGURES) {
    const value = totals[key];
    const text = key === "rate" ? percent(value) : String(value);
    box.append(
      el(
        "div",
        { class: "figure" + (key === "rate" ? " figure-rate" : "") + (key !== "rate" && key !== "registered" && key !== "in_force" && value ? " figure-late" : ""),
          "data-key": key, "data-value": value === null ? "" : String(value) },
        el("span", { class: "figure-value", text }),
        el("span", { class: "figure-label", text: t(words) })
      )
    );
  }
}

function headRow(keys) {
  const row = el("tr", {});
  for (const key of keys) row.append(el("th", { text: key ? t(key) : "" }));
  return el("thead", {}, row);
}

function countCells(figures) {
  return [
    ...COUNTS.map(([key]) => el("td", { class: "num", "data-key": key, text: String(figures[key]) })),
    el("td", { class: "num rate", "data-key": "rate", text: percent(figures.rate) }),
  ];
}

function renderCategoryTable(rows) {
  const table = $("coverage-category-table");
  table.replaceChildren(headRow(["colCategory", ...COUNTS.map(([, w]) => w), "colRate"]));
  const body = el("tbody");
  for (const c of rows) body.append(el("tr", { "data-category": c.category }, el("td", { text: c.category }), ...countCells(c)));
  table.append(body);
}

function renderTrendTable(rows) {
  const table = $("coverage-trend-table");
  table.replaceChildren(headRow(["colMonth", "colMonthEnd", "colRegistered", "colInForce", "colRate"]));
  const body = el("tbody");
  for (const m of rows) {
    body.append(
      el(
        "tr",
        { "data-month": m.month },
        el("td", { text: m.month }),
        el("td", { text: m.on }),
        el("td", { class: "num", text: String(m.registered) }),
        el("td", { class: "num", text: String(m.in_force) }),
        el("td", { class: "num rate", text: percent(m.rate) })
      )
    );
  }
  table.append(body);
}

function renderRegionTable(rows) {
  const table = $("coverage-region-table");
  table.replaceChildren(headRow(["colRegion", ...COUNTS.map(([, w]) => w), "colRate"]));
  const body = el("tbody");
  for (const r of rows) body.append(el("tr", { "data-region": String(r.region) }, el("td", { text: String(r.region) }), ...countCells(r)));
  table.append(body);
}

function renderOverdue(overdue) {
  const summary = $("overdue-summary");
  summary.dataset.total = String(overdue.total);
  summary.dataset.shown = String(overdue.instruments.length);
  if (!overdue.total) summary.textContent = t("overdueNone");
  else if (overdue.instruments.length < overdue.total) summary.textContent = t("overdueFirst", { total: overdue.total, shown: overdue.instruments.length });
  else summary.textContent = t("overdueSummary", { total: overdue.total });
  const table = $("overdue-table");
  table.replaceChildren();
  if (!overdue.instruments.length) return;
  table.append(headRow(["colEnterprise", "colSite", "colRegion", "colCategory", "colSerialNo", "colAssetNo", "colState", "colDueDate"]));
  const body = el("tbody");
  for (const i of overdue.instruments) {
    body.append(
      el(
        "tr",
        { "data-id": String(i.id), "data-state": i.state, "data-usci": i.usci },
        el("td", {}, el("div", { text: i.enterprise || t("none") }), el("div", { class: "usci mono", text: i.usci })),
        el("td", { text: i.site || t("none") }),
        el("td", { text: String(i.region) }),
        el("td", { text: i.category }),
        el("td", { text: i.serial_number || t("none") }),
        el("td", { text: i.asset_number || t("none") }),
        el("td", { class: "state state-" + i.state, text: i.state_name[lang] }),
        el("td", { class: "due", text: i.due_date || t("none") })
      )
    );
  }
  table.append(body);
}

// ------------------------------------------------------------------ the charts (Chart.js, from the registry's figures)

function loadChartLibrary() {
  if (window.Chart) return Promise.resolve(window.Chart);
  if (!chartLoading) {
    chartLoading = new Promise((resolve, reject) => {
      // Another tab's chart may be loading it already: wait for that script rather than load it twice.
      const script = document.querySelector(`script[src="${CHART_URL}"]`) || el("script", { src: CHART_URL });
      script.addEventListener("load", () => (window.Chart ? resolve(window.Chart) : reject(new Error("no Chart"))));
      script.addEventListener("error", () => {
        chartLoading = null;
        reject(new Error("Chart.js not served"));
      });
      if (!script.isConnected) document.head.append(script);
    });
  }
  return chartLoading;
}

export function destroyCoverageCharts() {
  for (const key of Object.keys(charts)) {
    if (charts[key]) charts[key].destroy();
    charts[key] = null;
  }
  for (const id of ["coverage-category-chart", "coverage-trend-chart"]) $(id).removeAttribute("data-drawn");
}

function rateAxis() {
  return { beginAtZero: true, min: 0, max: 1, ticks: { callback: (v) => Math.round(v * 100) + "%" } };
}

function rateTooltip() {
  return { callbacks: { label: (item) => t("rateLabel") + "：" + percent(item.raw) } };
}

async function drawCharts(drawing) {
  const note = $("coverage-chart-note");
  note.hidden = true;
  destroyCoverageCharts();
  const { by_category: categories, trend } = drawing.stats;
  const categoryCanvas = $("coverage-category-chart");
  const trendCanvas = $("coverage-trend-chart");
  categoryCanvas.setAttribute("aria-label", t("byCategoryTitle") + "：" + categories.map((c) => c.category + " " + percent(c.rate)).join(t("sep")));
  trendCanvas.setAttribute("aria-label", t("trendTitle") + "：" + trend.map((m) => m.month + " " + percent(m.rate)).join(t("sep")));
  let Chart;
  try {
    Chart = await loadChartLibrary();
  } catch (e) {
    for (const canvas of [categoryCanvas, trendCanvas]) canvas.parentElement.hidden = true;
    note.textContent = t("chartMissing");
    note.hidden = false;
    return;
  }
  if (drawing !== shown.coverage) return; // a newer answer draws its own
  destroyCoverageCharts();
  for (const canvas of [categoryCanvas, trendCanvas]) canvas.parentElement.hidden = false;
  Chart.defaults.font.family = getComputedStyle(document.documentElement).fontFamily;
  charts.category = new Chart(categoryCanvas, {
    type: "bar",
    data: {
      labels: categories.map((c) => c.category),
      datasets: [{ label: t("rateLabel"), data: categories.map((c) => c.rate), backgroundColor: BLUE, borderWidth: 0 }],
    },
    options: {
      responsive: true,
      maintainAspectRatio: false,
      animation: false,
      plugins: { legend: { display: false }, tooltip: rateTooltip() },
      scales: { y: rateAxis() },
    },
  });
  charts.trend = new Chart(trendCanvas, {
    type: "line",
    data: {
      labels: trend.map((m) => m.month),
      datasets: [{ label: t("rateLabel"), data: trend.map((m) => m.rate), borderColor: BLUE, backgroundColor: BLUE, pointRadius: 4, tension: 0, spanGaps: false }],
    },
    options: {
      responsive: true,
      maintainAspectRatio: false,
      animation: false,
      plugins: { legend: { display: false }, tooltip: rateTooltip() },
      scales: { y: rateAxis() },
    },
  });
  categoryCanvas.dataset.drawn = "true";
  trendCanvas.dataset.drawn = "true";
}

// ------------------------------------------------------------------ the files

// CSV or Excel of what is shown: fetched with the token in its header (a plain link would carry none), then saved.
export async function downloadCoverage(event) {
  event.preventDefault();
  const current = shown.coverage;
  if (!current) return;
  const format = event.currentTarget.dataset.format;
  showError(null);
  say("exporting");
  const answer = await read("/v1/coverage?" + queryString(current.query, { format }), "blob");
  say(null);
  if (!answer) return;
  const named = /filename="([^"]+)"/.exec(answer.response.headers.get("Content-Disposition") || "");
  const url = URL.createObjectURL(answer.blob);
  const save = el("a", { href: url, download: named ? named[1] : "coverage." + format, hidden: true });
  document.body.append(save);
  save.click();
  save.remove();
  setTimeout(() => URL.revokeObjectURL(url), 60_000);
}

// ------------------------------------------------------------------ 待确认企业

export async function loadPending() {
  const mine = ++latest.pending;
  const answer = await read("/v1/enterprises?state=PENDING");
  if (mine !== latest.pending) return;
  if (!answer) {
    $("pending-result").hidden = true;
    return;
  }
  shown.pending = answer.body.items;
  renderPending();
}

export function renderPending() {
  const items = shown.pending;
  if (!items) return;
  $("pending-result").hidden = false;
  const summary = $("pending-summary");
  summary.dataset.count = String(items.length);
  summary.textContent = items.length ? t("pendingSummary", { n: items.length }) : t("pendingNone");
  const table = $("pending-table");
  table.replaceChildren();
  if (!items.length) return;
  table.append(headRow(["colEnterpriseName", "colUsci", "colRegion", "colRegistered2", null]));
  const body = el("tbody");
  for (const e of items) {
    body.append(
      el(
        "tr",
        { "data-usci": e.usci },
        el("td", { text: e.name }),
        el("td", { class: "mono", text: e.usci }),
        el("td", { text: String(e.region) }),
        el("td", { text: shownTime(e.registered_at) }),
        el("td", {}, el("button", { type: "button", class: "secondary confirm-enterprise", "data-usci": e.usci, text: t("confirmEnterprise") }))
      )
    );
  }
  table.append(body);
}

export async function confirmEnterprise(button) {
  const usci = button.dataset.usci;
  const row = (shown.pending || []).find((e) => e.usci === usci);
  button.disabled = true;
  showError(null);
  say("confirming");
  const answer = await read("/v1/enterprises/" + encodeURIComponent(usci) + "/confirm", null, { method: "POST", body: {} });
  say(null);
  button.disabled = false;
  const note = $("pending-note");
  if (answer) {
    note.textContent = t("confirmedNote", { name: answer.body.name || (row ? row.name : usci) });
    note.dataset.usci = usci;
    note.hidden = false;
  }
  await loadPending();
}

// Everything this tab showed, gone (on signing out).
export function clearCoverage() {
  destroyCoverageCharts();
  for (const id of ["coverage-result", "pending-result", "pending-note"]) $(id).hidden = true;
  for (const id of ["coverage-totals", "coverage-category-table", "coverage-trend-table", "coverage-region-table",
    "overdue-table", "pending-table"]) {
    $(id).replaceChildren();
  }
}
