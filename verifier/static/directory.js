// TraceCert verifier page: the lab directory (机构名录) at /labs and a lab's history at /labs/{lab_id}, from
// GET /v1/labs and GET /v1/labs/{lab_id}. Everything is public chain data. The chart of certificates anchored per
// month is drawn by Chart.js (from npm, served by the verifier itself at /vendor/chart.umd.min.js: never a CDN),
// loaded only when a lab is shown. Text from the chain only ever goes into textContent, never into HTML.
// The page's language is app.js's: this file follows the <html lang> attribute it sets.
"use strict";

(function () {
  const TEXT = {
    zh: {
      navVerify: "证书核验",
      navDirectory: "机构名录",
      directoryTitle: "机构名录",
      pageTitle: "机构名录 — TraceCert",
      directoryHint: "链上登记的全部检定校准机构：类型、状态、授权及其范围、信用等级。一公开：任何人可查。",
      fJurisdiction: "辖区（行政区划代码，0 为全国）",
      fKind: "机构类型",
      fStatus: "状态",
      fCategory: "授权范围内的器具类别",
      fExpiring: "授权在几天内到期",
      any: "全部",
      filter: "筛选",
      kind_NMI: "国家计量院",
      kind_LEGAL_METROLOGY_INSTITUTE: "法定计量检定机构",
      kind_AUTHORIZED_BODY: "授权计量技术机构",
      kind_ACCREDITED_LAB: "认可实验室",
      status_ACTIVE: "正常",
      status_SUSPENDED: "暂停",
      status_REVOKED: "撤销",
      back: "← 返回机构名录",
      labFacts: "基本信息",
      months: "每月存证证书",
      monthsText: "文字版",
      authorizations: "授权及其范围",
      statuses: "状态变更",
      keys: "签名密钥",
      creditRecord: "信用记录",
      loading: "正在读取机构名录…",
      loadingLab: "正在读取机构档案…",
      listed: "截至 {at}，共 {n} 家机构",
      none: "没有符合条件的机构。",
      colName: "机构名称",
      colKind: "类型",
      colJurisdiction: "辖区",
      colStatus: "状态",
      colAuthorization: "授权（有效期至）",
      colScope: "授权范围",
      colCertificates: "存证证书",
      colGrade: "信用等级",
      noAuthorization: "无授权记录",
      authUntil: "{number}（至 {until}）",
      noGrade: "无信用记录",
      labId: "机构 ID",
      kind: "机构类型",
      jurisdiction: "辖区",
      status: "状态",
      authorization: "现行授权",
      grade: "信用等级",
      certificates: "存证证书",
      certificatesN: "{n} 张",
      asOf: "截至",
      registered: "登记",
      registeredBy: "{at}，登记机关 {by}",
      validWindow: "有效期 {from} 至 {until}",
      recordedAt: "记录于 {at}",
      scope: "范围",
      noScope: "无",
      reason: "原因",
      noReason: "未说明原因",
      by: "操作账户",
      keyOpen: "{from} 起，未关闭",
      keyWindow: "{from} 至 {until}",
      keyClosed: "{from} 至 {until}（关闭原因代码 {reason}）",
      keyRegistered: "登记于 {at}",
      month: "月份",
      count: "证书数",
      noMonths: "尚无存证证书。",
      chartMissing: "图表库未安装（运行 scripts/setup.sh），以下为文字版。",
      chartLabel: "存证证书数",
      noCreditRecord: "本部署没有信用登记合约，无信用记录可查。",
      noEntries: "信用记录中没有任何条目。",
      caseNumber: "案号",
      effective: "有效期",
      window: "{start} 至 {until}",
      untilLifted: "{start} 起，直至解除",
      liftingFrom: "{start} 起生效",
      recorded: "记录时间",
      inForce: "生效中",
      liftedBy: "已由 #{i} 解除",
      lifts: "解除 #{i}",
      errorPrefix: "请求失败",
      network: "无法连接核验服务。",
      VERIFY: "检定",
      CALIBRATE: "校准",
      sep: "、",
      scopeSep: "；",
    },
    en: {
      navVerify: "Verify",
      navDirectory: "Lab directory",
      directoryTitle: "Lab directory",
      pageTitle: "Lab directory — TraceCert",
      directoryHint:
        "Every verification and calibration lab registered on the chain: kind, status, authorization and scope, credit grade. Public to anyone.",
      fJurisdiction: "Jurisdiction (GB/T 2260 code, 0 for the nation)",
      fKind: "Kind of lab",
      fStatus: "Status",
      fCategory: "Category in the authorized scope",
      fExpiring: "Authorization ends within (days)",
      any: "Any",
      filter: "Filter",
      kind_NMI: "National metrology institute",
      kind_LEGAL_METROLOGY_INSTITUTE: "Legal metrology institute",
      kind_AUTHORIZED_BODY: "Authorized metrology body",
      kind_ACCREDITED_LAB: "Accredited laboratory",
      status_ACTIVE: "Active",
      status_SUSPENDED: "Suspended",
      status_REVOKED: "Revoked",
      back: "← Back to the lab directory",
      labFacts: "Facts",
      months: "Certificates anchored per month",
      monthsText: "As text",
      authorizations: "Authorizations and scope",
      statuses: "Status changes",
      keys: "Signing keys",
      creditRecord: "Credit record",
      loading: "Reading the lab directory…",
      loadingLab: "Reading the lab's record…",
      listed: "{n} lab(s) as of {at}",
      none: "No lab matches these filters.",
      colName: "Lab",
      colKind: "Kind",
      colJurisdiction: "Jurisdiction",
      colStatus: "Status",
      colAuthorization: "Authorization (valid until)",
      colScope: "Scope",
      colCertificates: "Certificates",
      colGrade: "Credit grade",
      noAuthorization: "no authorization recorded",
      authUntil: "{number} (until {until})",
      noGrade: "no credit record",
      labId: "Lab id",
      kind: "Kind",
      jurisdiction: "Jurisdiction",
      status: "Status",
      authorization: "Authorization in force",
      grade: "Credit grade",
      certificates: "Certificates anchored",
      certificatesN: "{n}",
      asOf: "As of",
      registered: "Registered",
      registeredBy: "{at} by {by}",
      validWindow: "valid {from} to {until}",
      recordedAt: "recorded {at}",
      scope: "Scope",
      noScope: "none",
      reason: "Reason",
      noReason: "no reason given",
      by: "By account",
      keyOpen: "from {from}, open",
      keyWindow: "{from} to {until}",
      keyClosed: "{from} to {until} (closed with reason code {reason})",
      keyRegistered: "registered {at}",
      month: "Month",
      count: "Certificates",
      noMonths: "No certificate anchored yet.",
      chartMissing: "The chart library is not installed (run scripts/setup.sh); the months as text below.",
      chartLabel: "Certificates anchored",
      noCreditRecord: "This deployment has no credit registry: there is no credit record to show.",
      noEntries: "The credit record has no entries.",
      caseNumber: "Case number",
      effective: "In effect",
      window: "{start} to {until}",
      untilLifted: "from {start} until lifted",
      liftingFrom: "effective from {start}",
      recorded: "Recorded",
      inForce: "in force",
      liftedBy: "lifted by #{i}",
      lifts: "lifts #{i}",
      errorPrefix: "Request failed",
      network: "The verification service cannot be reached.",
      VERIFY: "verify",
      CALIBRATE: "calibrate",
      sep: ", ",
      scopeSep: "; ",
    },
  };

  const CHART_URL = "/vendor/chart.umd.min.js";
  const FILTERS = ["jurisdiction", "kind", "status", "category", "expiring_within_days"];
  const FIELD = {
    jurisdiction: "f-jurisdiction",
    kind: "f-kind",
    status: "f-status",
    category: "f-category",
    expiring_within_days: "f-expiring",
  };

  let lang = pageLanguage();
  let lastList = null;
  let lastLab = null;
  let lastSummary = null; // [key, vars]
  let chart = null;
  let chartLoading = null;

  const $ = (id) => document.getElementById(id);

  function pageLanguage() {
    return (document.documentElement.lang || "zh").toLowerCase().startsWith("en") ? "en" : "zh";
  }

  function t(key, vars) {
    let s = TEXT[lang][key];
    if (s === undefined) s = TEXT.zh[key];
    if (s === undefined) return key;
    if (vars) for (const [k, v] of Object.entries(vars)) s = s.split("{" + k + "}").join(String(v));
    return s;
  }

  function el(tag, attrs, ...children) {
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

  // A name from an answer ({code, zh, en}) in the page's language.
  function named(n) {
    return n ? n[lang] || String(n.code) : "";
  }

  function scopeText(scope) {
    const parts = Object.entries(scope || {}).map(
      ([category, acts]) => category + " " + acts.map((a) => t(a)).join(t("sep"))
    );
    return parts.length ? parts.join(t("scopeSep")) : t("noScope");
  }

  function gradeBadge(grade) {
    return el(
      "span",
      { class: "grade", "data-grade": grade.code },
      el("span", { class: "grade-letter grade-" + grade.code, text: grade.code }),
      el("span", { class: "grade-name", text: named(grade) })
    );
  }

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
    lang = pageLanguage();
    for (const node of document.querySelectorAll("[data-i18n-dir]")) node.textContent = t(node.dataset.i18nDir);
    showView();
    if (lastSummary) say(lastSummary[0], lastSummary[1]);
    if (lastList && !$("labs-list").hidden) renderList(lastList);
    if (lastLab && !$("lab").hidden) renderLab(lastLab);
  }

  function say(key, vars) {
    lastSummary = key ? [key, vars] : null;
    $("labs-summary").textContent = key ? t(key, vars) : "";
  }

  function showError(message, code) {
    const box = $("error");
    if (!message) {
      box.hidden = true;
      box.textContent = "";
      box.removeAttribute("data-code");
      return;
    }
    box.textContent = message;
    if (code) box.dataset.code = code;
    else box.removeAttribute("data-code");
    box.hidden = false;
  }

  async function getJson(url) {
    showError(null);
    document.body.classList.add("busy");
    let response;
    try {
      response = await fetch(url, { headers: { Accept: "application/json" } });
    } catch (e) {
      document.body.classList.remove("busy");
      showError(t("network"));
      return null;
    }
    document.body.classList.remove("busy");
    let body = null;
    try {
      body = await response.json();
    } catch (e) {
      body = null;
    }
    if (!response.ok || !body || body.error) {
      const err = body && body.error ? body.error : { code: "HTTP_" + response.status, message: response.statusText };
      showError(t("errorPrefix") + " — " + err.code + ": " + err.message, err.code);
      return null;
    }
    return body;
  }

  // ------------------------------------------------------------------ the list

  function filtersFrom(params) {
    for (const name of FILTERS) $(FIELD[name]).value = params.get(name) || "";
  }

  function queryOfForm() {
    const params = new URLSearchParams();
    for (const name of FILTERS) {
      const value = $(FIELD[name]).value.trim();
      if (value) params.set(name, value);
    }
    const asOf = new URLSearchParams(location.search).get("as_of");
    if (asOf) params.set("as_of", asOf);
    const text = params.toString();
    return text ? "?" + text : "";
  }

  async function loadList(query) {
    $("lab").hidden = true;
    $("labs-list").hidden = false;
    say("loading");
    const body = await getJson("/v1/labs" + query);
    if (!body) {
      say(null);
      $("labs-table").replaceChildren();
      lastList = null;
      return;
    }
    lastList = body;
    renderList(body);
  }

  function renderList(body) {
    say("listed", { n: body.count, at: body.as_of });
    const holder = $("labs-table");
    holder.replaceChildren();
    if (!body.labs.length) {
      holder.append(el("p", { class: "hint no-labs", text: t("none") }));
      return;
    }
    const head = el("tr");
    for (const key of ["colName", "colKind", "colJurisdiction", "colStatus", "colAuthorization", "colScope",
      "colCertificates", "colGrade"]) head.append(el("th", { scope: "col", text: t(key) }));
    const rows = el("tbody");
    for (const lab of body.labs) {
      const link = el("a", { href: "/labs/" + lab.lab_id, class: "lab-link", text: lab.name });
      link.addEventListener("click", (e) => {
        if (e.ctrlKey || e.metaKey || e.shiftKey || e.button !== 0) return;
        e.preventDefault();
        history.pushState({}, "", "/labs/" + lab.lab_id);
        openLab(lab.lab_id);
      });
      const auth = lab.authorization;
      rows.append(
        el(
          "tr",
          { "data-lab-id": lab.lab_id, "data-status": lab.status.code, "data-kind": lab.kind.code },
          el("td", {}, link),
          el("td", { text: named(lab.kind) }),
          el("td", { class: "num", text: String(lab.jurisdiction) }),
          el("td", { class: "state state-" + lab.status.code, text: named(lab.status) }),
          el("td", { text: auth ? t("authUntil", { number: auth.number, until: auth.valid_until }) : t("noAuthorization") }),
          el("td", { text: scopeText(lab.scope) }),
          el("td", { class: "num", text: String(lab.certificates) }),
          el("td", {}, lab.credit_grade ? gradeBadge(lab.credit_grade) : el("span", { class: "hint", text: t("noGrade") }))
        )
      );
    }
    holder.append(el("table", { class: "data labs" }, el("thead", {}, head), rows));
  }

  // ------------------------------------------------------------------ one lab

  async function openLab(id) {
    $("labs-list").hidden = true;
    $("lab").hidden = true;
    say("loadingLab");
    const body = await getJson("/v1/labs/" + encodeURIComponent(id));
    say(null);
    if (!body) {
      $("labs-list").hidden = false;
      lastLab = null;
      return;
    }
    lastLab = body;
    renderLab(body);
    $("lab").scrollIntoView({ block: "start" });
  }

  function fact(list, key, value, attrs) {
    if (value === null || value === undefined || value === "") return;
    const dd = el("dd", attrs || {});
    if (typeof value === "string") dd.textContent = value;
    else dd.append(value);
    list.append(el("dt", { text: t(key) }), dd);
  }

  function renderLab(lab) {
    $("lab").hidden = false;
    $("lab").dataset.labId = lab.lab_id;
    $("lab-name").textContent = lab.name;
    const facts = $("lab-facts");
    facts.replaceChildren();
    fact(facts, "labId", lab.lab_id, { class: "mono" });
    fact(facts, "kind", named(lab.kind));
    fact(facts, "jurisdiction", String(lab.jurisdiction));
    fact(facts, "status", el("span", { class: "state state-" + lab.status.code, text: named(lab.status) }), { id: "lab-status" });
    const auth = lab.authorization;
    fact(facts, "authorization", auth ? auth.number + " · " + t("validWindow", { from: auth.valid_from, until: auth.valid_until }) : t("noAuthorization"));
    fact(facts, "scope", scopeText(lab.scope));
    fact(facts, "grade", lab.credit_grade ? gradeBadge(lab.credit_grade) : t("noGrade"), { id: "lab-grade-now" });
    fact(facts, "certificates", t("certificatesN", { n: lab.certificates }));
    fact(facts, "registered", t("registeredBy", { at: lab.registered.at, by: lab.registered.by_name || lab.registered.by }));
    fact(facts, "asOf", lab.as_of);

    const auths = $("lab-authorizations");
    auths.replaceChildren();
    for (const a of lab.authorizations) {
      auths.append(
        el(
          "li",
          { "data-number": a.number, "data-index": a.index },
          el("div", { class: "entry-head" }, el("span", { class: "entry-index", text: "#" + a.index }),
            el("span", { class: "entry-kind", text: a.number })),
          el("div", { text: t("validWindow", { from: a.valid_from, until: a.valid_until }) + " · " + t("recordedAt", { at: a.recorded_at }) }),
          el("div", { class: "scope", text: t("scope") + "：" + scopeText(a.scope) })
        )
      );
    }

    const statuses = $("lab-statuses");
    statuses.replaceChildren();
    for (const s of lab.statuses) {
      statuses.append(
        el(
          "li",
          { "data-status": s.status.code, "data-reason": s.reason ? String(s.reason.code) : "" },
          el("div", { class: "entry-head" }, el("span", { class: "entry-index", text: s.since }),
            el("span", { class: "state state-" + s.status.code, text: named(s.status) })),
          el("div", { class: "reason-text", text: t("reason") + "：" + (s.reason ? named(s.reason) : t("noReason")) }),
          el("div", { class: "hint" }, el("span", { text: t("by") + " " }), el("code", { text: s.by }))
        )
      );
    }

    const keys = $("lab-keys");
    keys.replaceChildren();
    for (const k of lab.keys) {
      let window;
      if (k.valid_until === null) window = t("keyOpen", { from: k.valid_from });
      else if (k.closed_reason !== null) window = t("keyClosed", { from: k.valid_from, until: k.valid_until, reason: k.closed_reason });
      else window = t("keyWindow", { from: k.valid_from, until: k.valid_until });
      keys.append(
        el("li", { "data-key-id": k.key_id }, el("code", { text: k.key_id }),
          el("div", { text: window + " · " + t("keyRegistered", { at: k.registered_at }) }))
      );
    }

    renderMonths(lab.certificates_per_month || {});
    renderCreditRecord(lab.credit);
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

  async function renderMonths(perMonth) {
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

  function windowText(e) {
    if (e.lifts !== null && e.lifts !== undefined) return t("liftingFrom", { start: e.effective_from });
    if (!e.effective_until) return t("untilLifted", { start: e.effective_from });
    return t("window", { start: e.effective_from, until: e.effective_until });
  }

  function renderCreditRecord(credit) {
    const holder = $("lab-credit-record");
    holder.replaceChildren();
    if (!credit) {
      holder.append(el("p", { class: "hint", text: t("noCreditRecord") }));
      return;
    }
    holder.append(el("p", { id: "lab-credit-grade" }, gradeBadge(credit.grade)));
    if (!credit.entries.length) {
      holder.append(el("p", { class: "hint no-entries", text: t("noEntries") }));
      return;
    }
    const inForce = new Set(credit.in_force);
    const list = el("ul", { class: "credit-entries" });
    for (const e of credit.entries) {
      const marks = [];
      if (inForce.has(e.index)) marks.push(el("span", { class: "mark-tag in-force", text: t("inForce") }));
      if (e.lifts !== null) marks.push(el("span", { class: "mark-tag", text: t("lifts", { i: e.lifts }) }));
      if (e.lifted_by !== null) marks.push(el("span", { class: "mark-tag lifted", text: t("liftedBy", { i: e.lifted_by }) }));
      const facts = el("dl", { class: "facts" });
      for (const [key, value] of [["reason", named(e.reason)], ["caseNumber", e.case_number], ["effective", windowText(e)], ["recorded", e.recorded_at]]) {
        facts.append(el("dt", { text: t(key) }), el("dd", { text: value }));
      }
      list.append(
        el(
          "li",
          { class: "credit-entry" + (inForce.has(e.index) ? " in-force" : ""), "data-kind": e.kind.code, "data-index": e.index },
          el("div", { class: "entry-head" }, el("span", { class: "entry-index", text: "#" + e.index }),
            el("span", { class: "entry-kind", text: named(e.kind) }), ...marks),
          facts
        )
      );
    }
    holder.append(list);
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
})();
