// TraceCert verifier page: the lab directory (机构名录) at /labs and a lab's history at /labs/{lab_id}, from
// GET /v1/labs and GET /v1/labs/{lab_id}. Everything is public chain data. The chart of certificates anchored per
// month is drawn by Chart.js (from npm, served by the verifier itself at /vendor/chart.umd.min.js: never a CDN),
// loaded only when a lab is shown. Text from the chain only ever goes into textContent, never into HTML.
// The page's language is app.js's: this view follows the <html lang> attribute it sets.
// This module switches between the views and wires them; the others are directory-text.js (texts, summary line,
// reading the API), directory-list.js (the list and its filters), directory-lab.js (a lab's page),
// directory-chart.js (its chart) and common.js (what app.js shares).
import { $ } from "./common.js";
import { useChartLibrary } from "./directory-chart.js";
import { lastLab, openLab, renderLab } from "./directory-lab.js";
import { filtersFrom, lastList, loadList, queryOfForm, renderList } from "./directory-list.js";
import { refreshLanguage, sayAgain, t } from "./directory-text.js";

const CHART_URL = "/vendor/chart.umd.min.js";

// ------------------------------------------------------------------ views and language

function inDirectory() {
  return /^\/labs(\/|$)/.test(location.pathname);
}

function showView() {
  const on = inDirectory();
  document.body.classList.toggle("directory-view", on);
  $("directory").hidden = !on;
  const current = on ? "nav-directory" : "nav-verify";
  for (const id of ["nav-verify", "nav-directory"]) {
    if (id === current) $(id).setAttribute("aria-current", "page");
    else $(id).removeAttribute("aria-current");
  }
  if (on) document.title = t("pageTitle");
}

function applyLanguage() {
  refreshLanguage();
  for (const node of document.querySelectorAll("[data-i18n-dir]")) node.textContent = t(node.dataset.i18nDir);
  showView();
  sayAgain();
  if (lastList && !$("labs-list").hidden) renderList(lastList);
  if (lastLab && !$("lab").hidden) renderLab(lastLab);
}

// ------------------------------------------------------------------ wiring

function route() {
  showView();
  if (!inDirectory()) return;
  const m = location.pathname.match(/^\/labs\/([^/]+)\/?$/);
  if (m) {
    openLab(decodeURIComponent(m[1]));
    return;
  }
  filtersFrom(new URLSearchParams(location.search));
  loadList(location.search);
}

function init() {
  useChartLibrary(CHART_URL);
  applyLanguage();
  new MutationObserver(applyLanguage).observe(document.documentElement, { attributes: true, attributeFilter: ["lang"] });
  $("labs-filter").addEventListener("submit", (e) => {
    e.preventDefault();
    const query = queryOfForm();
    history.pushState({}, "", "/labs" + query);
    loadList(query);
  });
  $("back-to-list").addEventListener("click", (e) => {
    if (e.ctrlKey || e.metaKey || e.shiftKey || e.button !== 0) return;
    e.preventDefault();
    history.pushState({}, "", "/labs" + queryOfForm());
    loadList(queryOfForm());
  });
  window.addEventListener("popstate", route);
  route();
}

if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", init);
else init();
