// TraceCert regulators' page (监管端), served by the registry at /regulator: the anomaly scan's findings
// (GET /v1/anomalies), every fraud signal (GET /v1/fraud-signals, page after page) and a certificate's downstream
// impact (GET /v1/certificates/{digest}/dependents, and its CSV export), and the random inspection draws regulators
// published (GET /v1/draws; a draw's results published with PUT /v1/draws/{commitment}/result), and a region's
// coverage of instruments under mandatory verification (检定率: GET /v1/coverage, its overdue list and files, and the
// queue of self-registered enterprises to confirm).
//
// The regulator's token is typed once; it is kept in this tab's sessionStorage (gone when the tab closes) and sent
// only in the Authorization header: never in an address, never written to the console. The chart of findings by
// code is drawn by Chart.js from npm, served by the registry itself at /vendor/chart.umd.min.js (never a CDN).
// Text from the registry only ever goes into textContent, never into HTML. Chinese first; dates and times as
// people read them (China time), never unix times.
//
// This module wires the page; the rest are modules beside it: texts.js and i18n.js (the two languages), dom.js,
// session.js (the token, signing in and out, every read), values.js (dates and values), findings.js (and its
// chart), signals.js, impact.js (and its CSV export), draws.js (双随机抽查; its words in draws-text.js) and
// coverage.js (检定率; its words in coverage-text.js).

import {
  clearCoverage,
  confirmEnterprise,
  coverageReady,
  fillOwnRegion,
  downloadCoverage,
  loadCoverage,
  loadPending,
  prepareCoverageForm,
  renderCoverage,
  renderPending,
} from "./coverage.js";
import { $ } from "./dom.js";
import { downloadDraw, loadDraw, loadDraws, publishResults, renderDraw, renderDraws } from "./draws.js";
import { destroyChart, preset, renderFindings, scan } from "./findings.js";
import { applyLanguage, toggleLanguage } from "./i18n.js";
import { exportCsv, loadImpact, renderImpact } from "./impact.js";
import { keptToken, onSession, shown, signIn, signOut, showLogin } from "./session.js";
import { loadSignals, renderSignals } from "./signals.js";
import { chinaToday, daysBefore, DIGEST } from "./values.js";

let tab = "findings";

// ------------------------------------------------------------------ tabs

function selectTab(name, load) {
  tab = name;
  for (const button of document.querySelectorAll('[role="tab"]')) {
    const on = button.dataset.tab === name;
    button.setAttribute("aria-selected", on ? "true" : "false");
    button.tabIndex = on ? 0 : -1;
    $("panel-" + button.dataset.tab).hidden = !on;
  }
  let digest = name === "impact" && shown.impact ? "/" + shown.impact.digest : "";
  if (name === "draws" && shown.draw) digest = "/" + shown.draw.commitment;
  history.replaceState(null, "", "#" + name + digest);
  if (!load) return;
  if (name === "findings" && !shown.findings) loadOnce("findings", scan);
  if (name === "signals" && !shown.signals) loadOnce("signals", loadSignals);
  if (name === "draws" && !shown.draws) loadOnce("draws", loadDraws);
  if (name === "coverage") {
    if (!shown.coverage && coverageReady()) loadOnce("coverage", loadCoverage);
    if (!shown.pending) loadOnce("pending", loadPending);
  }
}

// A tab's first load, once: a click on a tab before the session has opened the page's own tab (or the other way
// round) would otherwise read the same first page twice. The buttons that reload ask again on purpose.
const loading = new Set();

function loadOnce(name, load) {
  if (loading.has(name)) return;
  loading.add(name);
  Promise.resolve(load()).finally(() => loading.delete(name));
}

function openFromHash() {
  const [name, digest] = location.hash.replace(/^#/, "").split("/");
  if (name === "impact" && digest && DIGEST.test(digest)) {
    $("impact-digest").value = digest;
    selectTab("impact", false);
    loadImpact(digest);
    return;
  }
  if (name === "draws" && digest && DIGEST.test(digest)) {
    selectTab("draws", true);
    loadDraw(digest);
    return;
  }
  selectTab(["findings", "signals", "impact", "draws", "coverage"].includes(name) ? name : "findings", true);
}

// ------------------------------------------------------------------ wiring

onSession(async () => {
  await fillOwnRegion();
  openFromHash();
}, () => {
  loading.clear();
  destroyChart();
  clearCoverage();
});

function rerender() {
  renderFindings();
  renderSignals();
  renderImpact();
  renderDraws();
  renderDraw();
  renderCoverage();
  renderPending();
}

document.addEventListener("DOMContentLoaded", () => {
  applyLanguage();
  $("lang-toggle").addEventListener("click", () => {
    toggleLanguage();
    applyLanguage();
    rerender();
  });
  $("login-form").addEventListener("submit", (event) => {
    event.preventDefault();
    signIn($("token-input").value.trim(), false);
  });
  $("logout").addEventListener("click", () => signOut(true));
  for (const button of document.querySelectorAll('[role="tab"]')) {
    button.addEventListener("click", () => selectTab(button.dataset.tab, true));
  }
  $("findings-form").addEventListener("submit", (event) => {
    event.preventDefault();
    scan();
  });
  for (const button of document.querySelectorAll(".preset")) button.addEventListener("click", () => preset(button.dataset.days));
  $("signals-reload").addEventListener("click", () => loadSignals());
  $("impact-form").addEventListener("submit", (event) => {
    event.preventDefault();
    loadImpact($("impact-digest").value);
  });
  $("impact-csv").addEventListener("click", exportCsv);
  $("draws-reload").addEventListener("click", () => loadDraws());
  $("result-form").addEventListener("submit", publishResults);
  $("draw-download").addEventListener("click", downloadDraw);
  $("coverage-form").addEventListener("submit", (event) => {
    event.preventDefault();
    loadCoverage();
  });
  $("coverage-csv").addEventListener("click", downloadCoverage);
  $("coverage-xlsx").addEventListener("click", downloadCoverage);
  // A certificate anywhere on the page opens its downstream impact.
  document.addEventListener("click", (event) => {
    const open = event.target.closest(".draw-open");
    if (open) loadDraw(open.dataset.commitment);
    const confirm = event.target.closest(".confirm-enterprise");
    if (confirm && !confirm.disabled) confirmEnterprise(confirm);
    const link = event.target.closest(".digest-link");
    if (!link) return;
    $("impact-digest").value = link.dataset.digest;
    selectTab("impact", false);
    loadImpact(link.dataset.digest);
  });

  const today = chinaToday();
  $("f-since").value = daysBefore(today, 89);
  $("f-until").value = today;
  prepareCoverageForm();
  const kept = keptToken();
  if (kept) signIn(kept, true);
  else showLogin();
});
