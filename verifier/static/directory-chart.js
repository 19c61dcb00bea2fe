// The certificates a lab anchored per month: a table, and a bar chart drawn by Chart.js, which is loaded (from the
// URL directory.js names, served by the verifier itself) only when a lab is shown; without it the table stands alone.
import { $, el } from "./common.js";
import { t } from "./directory-text.js";

let chartUrl = null;
let chart = null;
let chartLoading = null;

// Where Chart.js is served from (directory.js says so before anything is drawn).
export function useChartLibrary(url) {
  chartUrl = url;
}

// Every month from the first to the last with a certificate, the months between at 0.
function monthSeries(perMonth) {
  const keys = Object.keys(perMonth).sort();
  if (!keys.length) return [];
  const out = [];
  let [y, m] = keys[0].split("-").map(Number);
  const [ly, lm] = keys[keys.length - 1].split("-").map(Number);
  while (y < ly || (y === ly && m <= lm)) {
    const key = y + "-" + String(m).padStart(2, "0");
    out.push([key, perMonth[key] || 0]);
    m += 1;
    if (m > 12) {
      m = 1;
      y += 1;
    }
  }
  return out;
}

function loadChartLibrary() {
  if (window.Chart) return Promise.resolve(window.Chart);
  if (!chartUrl) return Promise.reject(new Error("Chart.js not served"));
  if (!chartLoading) {
    chartLoading = new Promise((resolve, reject) => {
      const script = el("script", { src: chartUrl });
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

export async function renderMonths(perMonth) {
  const series = monthSeries(perMonth);
  const table = $("months-table");
  table.replaceChildren();
  table.append(el("thead", {}, el("tr", {}, el("th", { text: t("month") }), el("th", { text: t("count") }))));
  const body = el("tbody");
  for (const [month, n] of series) body.append(el("tr", { "data-month": month }, el("td", { text: month }), el("td", { class: "num", text: String(n) })));
  table.append(body);
  const canvas = $("months-chart");
  const note = $("months-note");
  if (chart) {
    chart.destroy();
    chart = null;
  }
  canvas.removeAttribute("data-drawn");
  note.hidden = true;
  if (!series.length) {
    canvas.parentElement.hidden = true;
    note.textContent = t("noMonths");
    note.hidden = false;
    return;
  }
  canvas.parentElement.hidden = false;
  canvas.setAttribute("aria-label", t("months") + ": " + series.map(([m, n]) => m + " " + n).join(t("sep")));
  let Chart;
  try {
    Chart = await loadChartLibrary();
  } catch (e) {
    canvas.parentElement.hidden = true;
    note.textContent = t("chartMissing");
    note.hidden = false;
    return;
  }
  if (chart) chart.destroy(); // a newer render drew meanwhile
  chart = new Chart(canvas, {
    type: "bar",
    data: {
      labels: series.map(([m]) => m),
      datasets: [{ label: t("chartLabel"), data: series.map(([, n]) => n), backgroundColor: "#2e6bd1", borderRadius: 3 }],
    },
    options: {
      animation: false,
      responsive: true,
      maintainAspectRatio: false,
      plugins: { legend: { display: false } },
      scales: { y: { beginAtZero: true, ticks: { precision: 0 } } },
    },
  });
  canvas.dataset.drawn = "true";
}
