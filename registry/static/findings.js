// 异常发现: the anomaly scan's findings (GET /v1/anomalies) by severity, and the chart of findings by code drawn
// by Chart.js from npm, served by the registry itself at /vendor/chart.umd.min.js (never a CDN).

import { $, el } from "./dom.js";
import { lang, t } from "./i18n.js";
import { latest, read, say, shown, showError } from "./session.js";
import { chinaToday, daysBefore, digestList, evidenceList, hexCode, periodText, shownTime } from "./values.js";

const CHART_URL = "/vendor/chart.umd.min.js";
const SEVERITIES = ["ERROR", "WARNING"];

let chart = null;
let chartLoading = null;

export async function scan() {
  const since = $("f-since").value;
  const until = $("f-until").value;
  const query = new URLSearchParams();
  if (since) query.set("since", since);
  if (until) query.set("until", until);
  const mine = ++latest.findings;
  showError(null);
  say("scanning");
  const answer = await read("/v1/anomalies" + (query.toString() ? "?" + query : ""));
  if (mine !== latest.findings) return;
  say(null);
  if (!answer) return;
  shown.findings = answer.body;
  renderFindings();
}

export function preset(days) {
  if (days === "all") {
    $("f-since").value = "";
    $("f-until").value = "";
  } else {
    const today = chinaToday();
    $("f-since").value = daysBefore(today, Number(days) - 1);
    $("f-until").value = today;
  }
  scan();
}

// The codes found, errors first, then by count; each with its names and severity (from the findings).
function codesOf(body) {
  const named = {};
  for (const f of body.findings) named[f.code] = { severity: f.severity, zh: f.zh, en: f.en };
  return Object.keys(body.by_code)
    .filter((code) => named[code])
    .sort((a, b) => SEVERITIES.indexOf(named[a].severity) - SEVERITIES.indexOf(named[b].severity)
      || body.by_code[b] - body.by_code[a] || a.localeCompare(b))
    .map((code) => ({ code, count: body.by_code[code], ...named[code] }));
}

export function renderFindings() {
  const body = shown.findings;
  if (!body) return;
  $("findings-result").hidden = false;
  const period = periodText(body.since, body.until);
  const errors = body.findings.filter((f) => f.severity === "ERROR").length;
  const summary = $("findings-summary");
  summary.dataset.count = String(body.count);
  summary.textContent = body.count
    ? t("findingsSummary", { period, n: body.count, errors, warnings: body.count - errors, labs: body.labs.length })
    : t("noFindings", { period, labs: body.labs.length });
  const codes = codesOf(body);
  renderByCode(codes);
  renderFindingsTable(body.findings);
  drawChart(codes);
}

function renderByCode(codes) {
  const table = $("by-code-table");
  table.replaceChildren(
    el("thead", {}, el("tr", {}, el("th", { text: t("colFinding") }), el("th", { text: t("colSeverity") }), el("th", { text: t("colCount") })))
  );
  const rows = el("tbody");
  for (const c of codes) {
    rows.append(
      el(
        "tr",
        { "data-code": c.code },
        el("td", { text: c[lang], title: c.code }),
        el("td", {}, el("span", { class: "badge " + c.severity, text: t("sev_" + c.severity) })),
        el("td", { class: "num", text: String(c.count) })
      )
    );
  }
  table.append(rows);
}

function renderFindingsTable(findings) {
  const seen = findings.some((f) => f.first_seen); // when the registry records its scans' findings
  const columns = seen ? 6 : 5;
  const table = $("findings-table");
  table.replaceChildren(
    el(
      "thead",
      {},
      el(
        "tr",
        {},
        el("th", { text: t("colSeverity") }),
        el("th", { text: t("colFinding") }),
        el("th", { text: t("colLab") }),
        el("th", { text: t("colCertificates") }),
        el("th", { text: t("colEvidence") }),
        seen ? el("th", { text: t("colFirstSeen") }) : null
      )
    )
  );
  for (const severity of SEVERITIES) {
    const these = findings.filter((f) => f.severity === severity);
    if (!these.length) continue;
    const group = el("tbody", { "data-severity": severity });
    group.append(
      el("tr", { class: "group" }, el("th", { colspan: columns, text: t("group", { name: t("sev_" + severity), n: these.length }) }))
    );
    for (const f of these) {
      group.append(
        el(
          "tr",
          { class: "finding", "data-code": f.code, "data-severity": f.severity, "data-lab-id": f.lab_id, "data-digests": f.digests.length },
          el("td", {}, el("span", { class: "badge " + f.severity, text: t("sev_" + f.severity) })),
          el("td", { class: "finding-name", title: f.code, text: lang === "zh" ? f.zh : f.en }),
          el("td", {}, hexCode(f.lab_id)),
          el("td", {}, digestList(f.digests)),
          el("td", {}, evidenceList(f.evidence)),
          seen ? el("td", { class: "first-seen", text: shownTime(f.first_seen) }) : null
        )
      );
    }
    table.append(group);
  }
}

function loadChartLibrary() {
  if (window.Chart) return Promise.resolve(window.Chart);
  if (!chartLoading) {
    chartLoading = new Promise((resolve, reject) => {
      const script = el("script", { src: CHART_URL });
      script.addEventListener("load", () => (window.Chart ? resolve(window.Chart) : reject(new Error("no Chart"))));
      script.addEventListener("error", () => {
        chartLoading = null;
        script.remove();
        reject(new Error("Chart.js not served"));
      });
      document.head.append(script);
    });
  }
  return chartLoading;
}

async function drawChart(codes) {
  const canvas = $("findings-chart");
  const note = $("chart-note");
  if (chart) {
    chart.destroy();
    chart = null;
  }
  canvas.removeAttribute("data-drawn");
  note.hidden = true;
  if (!codes.length) {
    canvas.parentElement.hidden = true;
    note.textContent = t("noChart");
    note.hidden = false;
    return;
  }
  canvas.parentElement.hidden = false;
  canvas.setAttribute("aria-label", t("chartTitle") + "：" + codes.map((c) => c[lang] + " " + c.count).join(t("sep")));
  const drawing = shown.findings;
  let Chart;
  try {
    Chart = await loadChartLibrary();
  } catch (e) {
    canvas.parentElement.hidden = true;
    note.textContent = t("chartMissing");
    note.hidden = false;
    return;
  }
  if (drawing !== shown.findings) return; // a newer scan draws its own
  if (chart) chart.destroy();
  Chart.defaults.font.family = getComputedStyle(document.documentElement).fontFamily;
  chart = new Chart(canvas, {
    type: "bar",
    data: {
      labels: codes.map((c) => c[lang]),
      datasets: [
        {
          label: t("chartLabel"),
          data: codes.map((c) => c.count),
          backgroundColor: codes.map((c) => (c.severity === "ERROR" ? "#b3261e" : "#c77d00")),
          borderWidth: 0,
        },
      ],
    },
    options: {
      indexAxis: "y",
      responsive: true,
      maintainAspectRatio: false,
      animation: false,
      plugins: { legend: { display: false } },
      scales: { x: { beginAtZero: true, ticks: { precision: 0 } } },
    },
  });
  canvas.dataset.codes = codes.map((c) => c.code).join(",");
  canvas.dataset.drawn = "true";
}

// Drops the chart drawn (on signing out).
export function destroyChart() {
  if (chart) {
    chart.destroy();
    chart = null;
  }
}
