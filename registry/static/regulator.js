// TraceCert regulators' page (监管端), served by the registry at /regulator: the anomaly scan's findings
// (GET /v1/anomalies), every fraud signal (GET /v1/fraud-signals, page after page) and a certificate's downstream
// impact (GET /v1/certificates/{digest}/dependents, and its CSV export).
//
// The regulator's token is typed once; it is kept in this tab's sessionStorage (gone when the tab closes) and sent
// only in the Authorization header: never in an address, never written to the console. The chart of findings by
// code is drawn by Chart.js from npm, served by the registry itself at /vendor/chart.umd.min.js (never a CDN).
// Text from the registry only ever goes into textContent, never into HTML. Chinese first; dates and times as
// people read them (China time), never unix times.
"use strict";

(function () {
  const TOKEN_KEY = "tracecert.regulator.token";
  const LANG_KEY = "tracecert.lang";
  const CHART_URL = "/vendor/chart.umd.min.js";
  const SIGNALS_PAGE = 100;
  const CHINA_MS = 8 * 3600 * 1000;
  const DIGEST = /^0x[0-9a-f]{64}$/i;
  const SEVERITIES = ["ERROR", "WARNING"];

  const TEXT = {
    zh: {
      pageTitle: "监管端 — TraceCert",
      skip: "跳到主要内容",
      title: "TraceCert 监管端",
      subtitle: "所辖机构的台账异常、欺诈信号与计量标准的下游影响",
      langButton: "English",
      logout: "退出",
      errorTitle: "请求被拒绝",
      loginTitle: "监管令牌登录",
      loginHint: "输入注册服务签发给本监管机构的 API 令牌。令牌只保存在本浏览器标签页中，关闭即清除，不会出现在任何网址中。",
      tokenLabel: "监管令牌",
      login: "登录",
      tabFindings: "异常发现",
      tabSignals: "欺诈信号",
      tabImpact: "影响范围",
      findingsTitle: "台账异常发现",
      findingsHint: "按签发日期扫描所辖机构的证书。每项发现只是需要核查的线索，不是结论：不改变任何证书的状态或机构的信用等级。",
      since: "签发日期自",
      until: "至",
      last30: "近 30 天",
      last90: "近 90 天",
      last365: "近一年",
      allDates: "全部日期",
      scan: "扫描",
      chartTitle: "各类发现数量",
      chartLabel: "发现数",
      textVersion: "文字版",
      findingsList: "发现明细（按严重程度）",
      signalsTitle: "欺诈信号",
      signalsHint: "注册服务拒绝或标记并留作证据的请求：重复使用证书编号，以及所用计量标准的证书已被撤销而仍有效的证书。按记录先后列出全部信号。",
      reload: "刷新",
      impactTitle: "下游影响范围",
      impactHint: "引用某张证书（通常是计量标准的证书）的全部证书，逐级向下追溯：该证书被撤销或存疑时，哪些证书受到影响。",
      digestLabel: "证书摘要（0x 加 64 位十六进制）",
      showImpact: "查询影响范围",
      csv: "导出 CSV（Excel 可直接打开）",
      checking: "正在验证令牌…",
      scanning: "正在扫描台账…",
      loadingSignals: "正在读取欺诈信号（已读取 {n} 条）…",
      loadingImpact: "正在查询影响范围…",
      exporting: "正在导出…",
      network: "无法连接注册服务。",
      tokenMissing: "请输入监管令牌。",
      periodBoth: "签发日期 {since} 至 {until}",
      periodSince: "签发日期 {since} 起",
      periodUntil: "签发日期截至 {until}",
      periodAll: "全部签发日期",
      findingsSummary: "{period}：共 {n} 项发现（错误 {errors} 项，警告 {warnings} 项），涉及 {labs} 家所辖机构",
      noFindings: "{period}：没有发现异常（所辖机构 {labs} 家）。",
      noChart: "没有可绘制的发现。",
      chartMissing: "图表库未安装（运行 scripts/setup.sh），请看文字版。",
      group: "{name}（{n} 项）",
      colSeverity: "严重程度",
      colFinding: "发现",
      colLab: "机构",
      colCertificates: "涉及证书",
      colEvidence: "依据",
      colFirstSeen: "首次发现（北京时间）",
      colCount: "数量",
      moreDigests: "另 {n} 张",
      sev_ERROR: "错误",
      sev_WARNING: "警告",
      signalsSummary: "共 {n} 条欺诈信号（分 {pages} 页读取）",
      noSignals: "所辖机构没有欺诈信号。",
      colId: "序号",
      colKind: "类型",
      colNumber: "证书编号",
      colRelated: "相关证书",
      colToken: "提交令牌",
      colRecorded: "记录时间（北京时间）",
      sig_NUMBER_REUSE: "证书编号被重复使用",
      sig_STANDARD_REVOKED: "所用计量标准的证书已撤销",
      rel_NUMBER_REUSE_existing: "已使用该编号的证书",
      rel_NUMBER_REUSE_attempted: "被拒绝的证书",
      rel_STANDARD_REVOKED_existing: "已撤销的标准证书",
      rel_STANDARD_REVOKED_attempted: "仍有效的下游证书",
      impactSummary: "共 {total} 张下游证书：显示 {shown} 张，其中 {inForce} 张仍有效",
      impactWithheld: "；另有 {withheld} 张属于非本机构所辖的机构，仅计数",
      noDependents: "没有证书引用这张证书。",
      colDepth: "层级",
      colCertificate: "证书",
      colSerial: "器具编号",
      colOwner: "器具所有者",
      colValidUntil: "有效期至",
      colStatus: "存证状态",
      colInForce: "是否有效",
      depthN: "第 {n} 级",
      kind_VERIFICATION: "检定",
      kind_CALIBRATION: "校准",
      status_ANCHORED: "已上链存证",
      status_PENDING: "待存证",
      status_WAITING: "等待中",
      status_FAILED: "存证失败",
      status_SUPERSEDED: "已被替代",
      inForce: "有效",
      revoked: "已撤销或替代",
      notAnchored: "未存证",
      expired: "已过期",
      none: "—",
      yes: "是",
      no: "否",
      sep: "、",
      ev_issue_date: "签发日期",
      ev_sent: "提交存证日期",
      ev_days: "相隔天数",
      ev_count: "证书数",
      ev_oldest_issue_date: "最早签发日期",
      ev_standard: "计量标准",
      ev_work_date: "工作日期",
      ev_limit: "上限",
      ev_performer: "检定/校准人员",
      ev_name: "名称",
      ev_serial: "出厂编号",
      ev_valid_until: "有效期至",
      ev_certificate_digest: "标准的证书",
      ev_revoked_from: "撤销生效日期",
      ev_owner: "所属单位",
      ev_owner_usci: "所属单位代码",
      ev_mandatory_verification: "强制检定器具",
      ev_conclusion: "结论",
      ev_category_code: "器具类别",
      ev_instruments: "器具",
      ev_results: "测量结果",
      ev_certificate_number: "证书编号",
      ev_signal: "欺诈信号",
      standardN: "所用标准第 {n} 项",
      standardSerial: "编号 {serial} 的标准",
      conclusion_PASS: "合格",
      conclusion_FAIL: "不合格",
      err_UNAUTHORIZED: "令牌无效、已吊销或未填写。",
      err_NOT_A_REGULATOR: "这不是监管令牌：机构的令牌不能查看监管数据。",
      err_INVALID_FILTER: "查询条件无效。",
      err_INVALID_DIGEST: "证书摘要格式不对。",
      err_CERTIFICATE_NOT_FOUND: "注册服务中没有这张证书。",
      err_REQUEST_INVALID: "请求的参数无效。",
      err_CHAIN_UNAVAILABLE: "区块链节点暂时无法访问，请稍后重试。",
      err_NETWORK: "无法连接注册服务。",
    },
    en: {
      pageTitle: "Regulators — TraceCert",
      skip: "Skip to the main content",
      title: "TraceCert for regulators",
      subtitle: "Anomalies in the ledger of the labs under you, fraud signals, and what depends on a standard",
      langButton: "中文",
      logout: "Sign out",
      errorTitle: "Refused",
      loginTitle: "Sign in with a regulator's token",
      loginHint: "Type the API token the registry issued to your authority. It is kept in this browser tab only, cleared when the tab closes, and never put in an address.",
      tokenLabel: "Regulator's token",
      login: "Sign in",
      tabFindings: "Findings",
      tabSignals: "Fraud signals",
      tabImpact: "Downstream impact",
      findingsTitle: "Anomalies in the ledger",
      findingsHint: "Scans the certificates of the labs under you by issue date. A finding is a reason to look, never a verdict: it changes no certificate's status and no lab's grade.",
      since: "Issued from",
      until: "to",
      last30: "Last 30 days",
      last90: "Last 90 days",
      last365: "Last year",
      allDates: "All dates",
      scan: "Scan",
      chartTitle: "Findings by kind",
      chartLabel: "Findings",
      textVersion: "As text",
      findingsList: "Findings, by severity",
      signalsTitle: "Fraud signals",
      signalsHint: "Requests the registry refused or flagged and kept as evidence: certificate numbers used again, and certificates in force whose standard's certificate was revoked. Every signal, oldest first.",
      reload: "Reload",
      impactTitle: "Downstream impact",
      impactHint: "Every certificate citing a certificate (usually a standard's), link after link down: what is in doubt when that certificate is revoked or suspect.",
      digestLabel: "Certificate digest (0x and 64 hex digits)",
      showImpact: "Show the impact",
      csv: "Export as CSV (opens in Excel)",
      checking: "Checking the token…",
      scanning: "Scanning the ledger…",
      loadingSignals: "Reading fraud signals ({n} so far)…",
      loadingImpact: "Reading the downstream impact…",
      exporting: "Exporting…",
      network: "The registry cannot be reached.",
      tokenMissing: "Type the regulator's token.",
      periodBoth: "Issued {since} to {until}",
      periodSince: "Issued from {since}",
      periodUntil: "Issued up to {until}",
      periodAll: "All issue dates",
      findingsSummary: "{period}: {n} finding(s) ({errors} error(s), {warnings} warning(s)) among {labs} lab(s) under you",
      noFindings: "{period}: no anomaly found ({labs} lab(s) under you).",
      noChart: "Nothing to draw.",
      chartMissing: "The chart library is not installed (run scripts/setup.sh); see the text version.",
      group: "{name} ({n})",
      colSeverity: "Severity",
      colFinding: "Finding",
      colLab: "Lab",
      colCertificates: "Certificates",
      colEvidence: "Evidence",
      colFirstSeen: "First found (China time, UTC+8)",
      colCount: "Count",
      moreDigests: "{n} more",
      sev_ERROR: "Error",
      sev_WARNING: "Warning",
      signalsSummary: "{n} fraud signal(s), read in {pages} page(s)",
      noSignals: "No fraud signal for the labs under you.",
      colId: "No.",
      colKind: "Kind",
      colNumber: "Certificate number",
      colRelated: "Certificates",
      colToken: "Sent with token",
      colRecorded: "Recorded (China time, UTC+8)",
      sig_NUMBER_REUSE: "Certificate number used again",
      sig_STANDARD_REVOKED: "Standard's certificate revoked",
      rel_NUMBER_REUSE_existing: "Holds the number",
      rel_NUMBER_REUSE_attempted: "Refused",
      rel_STANDARD_REVOKED_existing: "Revoked standard's certificate",
      rel_STANDARD_REVOKED_attempted: "Dependent still in force",
      impactSummary: "{total} dependent certificate(s): {shown} shown, {inForce} of them in force",
      impactWithheld: "; {withheld} more of labs not under you (counted, not shown)",
      noDependents: "No certificate cites this one.",
      colDepth: "Depth",
      colCertificate: "Certificate",
      colSerial: "Serial number",
      colOwner: "Owner",
      colValidUntil: "Valid until",
      colStatus: "Anchoring",
      colInForce: "In force",
      depthN: "Level {n}",
      kind_VERIFICATION: "Verification",
      kind_CALIBRATION: "Calibration",
      status_ANCHORED: "Anchored",
      status_PENDING: "Pending",
      status_WAITING: "Waiting",
      status_FAILED: "Failed",
      status_SUPERSEDED: "Superseded",
      inForce: "In force",
      revoked: "Revoked or substituted",
      notAnchored: "Not anchored",
      expired: "Expired",
      none: "—",
      yes: "yes",
      no: "no",
      sep: ", ",
      ev_issue_date: "Issue date",
      ev_sent: "Sent for anchoring",
      ev_days: "Days between",
      ev_count: "Certificates",
      ev_oldest_issue_date: "Oldest issue date",
      ev_standard: "Standard",
      ev_work_date: "Work date",
      ev_limit: "Limit",
      ev_performer: "Performer",
      ev_name: "Name",
      ev_serial: "Serial number",
      ev_valid_until: "Valid until",
      ev_certificate_digest: "Standard's certificate",
      ev_revoked_from: "Revoked from",
      ev_owner: "Owner",
      ev_owner_usci: "Owner's credit code",
      ev_mandatory_verification: "Mandatory verification",
      ev_conclusion: "Conclusion",
      ev_category_code: "Category",
      ev_instruments: "Instruments",
      ev_results: "Results",
      ev_certificate_number: "Certificate number",
      ev_signal: "Fraud signal",
      standardN: "standard #{n} used",
      standardSerial: "the standard with serial {serial}",
      conclusion_PASS: "pass",
      conclusion_FAIL: "fail",
      err_UNAUTHORIZED: "The token is wrong, revoked or missing.",
      err_NOT_A_REGULATOR: "This is not a regulator's token: a lab's token cannot read oversight data.",
      err_INVALID_FILTER: "The query is not valid.",
      err_INVALID_DIGEST: "That is not a certificate digest.",
      err_CERTIFICATE_NOT_FOUND: "The registry has no such certificate.",
      err_REQUEST_INVALID: "The request's parameters are not valid.",
      err_CHAIN_UNAVAILABLE: "The chain node cannot be reached; try again later.",
      err_NETWORK: "The registry cannot be reached.",
    },
  };

  let lang = pickLanguage();
  let token = null;
  let tab = "findings";
  // The last answers, drawn again when the language changes.
  const shown = { findings: null, signals: null, impact: null };
  // Each view's latest request: an older answer arriving late is dropped.
  const latest = { findings: 0, signals: 0, impact: 0 };
  let chart = null;
  let chartLoading = null;

  function $(id) {
    return document.getElementById(id);
  }

  function pickLanguage() {
    const fromUrl = new URLSearchParams(location.search).get("lang");
    if (fromUrl === "zh" || fromUrl === "en") return fromUrl;
    try {
      const stored = localStorage.getItem(LANG_KEY);
      if (stored === "zh" || stored === "en") return stored;
    } catch (e) {
      /* storage refused: Chinese */
    }
    return "zh";
  }

  function t(key, vars) {
    let s = TEXT[lang][key];
    if (s === undefined) s = key;
    for (const [k, v] of Object.entries(vars || {})) s = s.split("{" + k + "}").join(String(v));
    return s;
  }

  function has(key) {
    return TEXT[lang][key] !== undefined;
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

  function applyLanguage() {
    document.documentElement.lang = lang === "zh" ? "zh-CN" : "en";
    document.title = t("pageTitle");
    for (const node of document.querySelectorAll("[data-i18n]")) node.textContent = t(node.dataset.i18n);
    $("lang-toggle").textContent = t("langButton");
    $("lang-toggle").setAttribute("lang", lang === "zh" ? "en" : "zh-CN");
    const error = $("error");
    if (!error.hidden && error.dataset.code) {
      const code = error.dataset.code;
      $("error-explained").textContent = has("err_" + code) ? t("err_" + code) : "";
    }
  }

  // ------------------------------------------------------------------ talking to the registry

  function say(key, vars) {
    $("status").textContent = key ? t(key, vars) : "";
    document.body.classList.toggle("busy", Boolean(key));
  }

  function showError(error) {
    const box = $("error");
    if (!error) {
      box.hidden = true;
      box.removeAttribute("data-code");
      return;
    }
    box.dataset.code = error.code;
    $("error-code").textContent = error.code;
    $("error-explained").textContent = has("err_" + error.code) ? t("err_" + error.code) : "";
    $("error-message").textContent = error.message || "";
    box.hidden = false;
  }

  // GET ``path`` with ``key`` (default: the signed-in token) in the Authorization header. Returns
  // {ok, status, body|blob, response} or {ok: false, error}; never throws.
  async function request(path, key, as) {
    const headers = { Authorization: "Bearer " + (key || token || ""), Accept: as === "blob" ? "text/csv" : "application/json" };
    let response;
    try {
      response = await fetch(path, { headers, cache: "no-store", credentials: "omit", referrerPolicy: "no-referrer" });
    } catch (e) {
      return { ok: false, status: 0, error: { code: "NETWORK", message: t("network") } };
    }
    if (response.ok && as === "blob") return { ok: true, status: response.status, blob: await response.blob(), response };
    let body = null;
    try {
      body = await response.json();
    } catch (e) {
      body = null;
    }
    if (!response.ok || !body || body.error) {
      const error = body && body.error ? body.error : { code: "HTTP_" + response.status, message: response.statusText };
      return { ok: false, status: response.status, error };
    }
    return { ok: true, status: response.status, body, response };
  }

  // A read for the signed-in regulator: its answer, or null after showing why not (a refused token signs out).
  async function read(path, as) {
    const answer = await request(path, null, as);
    if (answer.ok) return answer;
    showError(answer.error);
    if (answer.status === 401) signOut(false);
    return null;
  }

  // ------------------------------------------------------------------ signing in and out

  async function signIn(candidate, quiet) {
    if (!candidate) {
      showError({ code: "UNAUTHORIZED", message: t("tokenMissing") });
      return;
    }
    say("checking");
    const answer = await request("/v1/fraud-signals?limit=1", candidate);
    say(null);
    if (!answer.ok) {
      try {
        sessionStorage.removeItem(TOKEN_KEY);
      } catch (e) {
        /* nothing kept */
      }
      if (!quiet || answer.status !== 401) showError(answer.error);
      showLogin();
      return;
    }
    token = candidate;
    try {
      sessionStorage.setItem(TOKEN_KEY, candidate);
    } catch (e) {
      /* kept in memory only: a reload asks again */
    }
    showError(null);
    $("token-input").value = "";
    $("login").hidden = true;
    $("app").hidden = false;
    $("logout").hidden = false;
    openFromHash();
  }

  function showLogin() {
    $("app").hidden = true;
    $("logout").hidden = true;
    $("login").hidden = false;
    $("token-input").focus();
  }

  function signOut(clearError) {
    token = null;
    try {
      sessionStorage.removeItem(TOKEN_KEY);
    } catch (e) {
      /* nothing kept */
    }
    for (const k of Object.keys(shown)) shown[k] = null;
    for (const k of Object.keys(latest)) latest[k] += 1;
    if (chart) {
      chart.destroy();
      chart = null;
    }
    for (const id of ["findings-result", "signals-result", "impact-result"]) $(id).hidden = true;
    for (const id of ["findings-table", "by-code-table", "signals-table", "impact-table"]) $(id).replaceChildren();
    if (clearError) showError(null);
    say(null);
    showLogin();
  }

  // ------------------------------------------------------------------ tabs

  function selectTab(name, load) {
    tab = name;
    for (const button of document.querySelectorAll('[role="tab"]')) {
      const on = button.dataset.tab === name;
      button.setAttribute("aria-selected", on ? "true" : "false");
      button.tabIndex = on ? 0 : -1;
      $("panel-" + button.dataset.tab).hidden = !on;
    }
    const digest = name === "impact" && shown.impact ? "/" + shown.impact.digest : "";
    history.replaceState(null, "", "#" + name + digest);
    if (!load) return;
    if (name === "findings" && !shown.findings) scan();
    if (name === "signals" && !shown.signals) loadSignals();
  }

  function openFromHash() {
    const [name, digest] = location.hash.replace(/^#/, "").split("/");
    if (name === "impact" && digest && DIGEST.test(digest)) {
      $("impact-digest").value = digest;
      selectTab("impact", false);
      loadImpact(digest);
      return;
    }
    selectTab(["findings", "signals", "impact"].includes(name) ? name : "findings", true);
  }

  // ------------------------------------------------------------------ dates and values

  function chinaToday() {
    return new Date(Date.now() + CHINA_MS).toISOString().slice(0, 10);
  }

  function daysBefore(day, n) {
    const d = new Date(day + "T00:00:00Z");
    d.setUTCDate(d.getUTCDate() - n);
    return d.toISOString().slice(0, 10);
  }

  // An instant (ISO 8601) as China's clock reads it: 2026-09-11 12:00.
  function chinaTime(iso) {
    if (!iso) return t("none");
    const ms = Date.parse(iso);
    if (Number.isNaN(ms)) return iso;
    const d = new Date(ms + CHINA_MS).toISOString();
    return d.slice(0, 10) + " " + d.slice(11, 16);
  }

  // A time the registry wrote for people ("2026-12-04 20:12 (UTC+8)") or an ISO instant, as China's clock reads it.
  function shownTime(text) {
    const plain = /^(\d{4}-\d{2}-\d{2} \d{2}:\d{2})(?::\d{2})? \(UTC\+8\)$/.exec(text || "");
    return plain ? plain[1] : chinaTime(text);
  }

  function short(hex) {
    return hex && hex.length > 20 ? hex.slice(0, 10) + "…" + hex.slice(-6) : hex || "";
  }

  function hexCode(hex) {
    return el("code", { title: hex, text: short(hex) });
  }

  // A certificate digest the regulator may follow to its own downstream impact.
  function digestLink(digest) {
    return el("button", { type: "button", class: "digest-link mono", "data-digest": digest, title: digest, text: short(digest) });
  }

  function periodText(since, until) {
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

  function evidenceList(evidence) {
    const list = el("dl", { class: "evidence" });
    for (const [key, value] of Object.entries(evidence || {})) {
      const dd = el("dd", { "data-key": key });
      dd.append(evidenceValue(key, value));
      list.append(el("dt", { text: has("ev_" + key) ? t("ev_" + key) : key }), dd);
    }
    return list;
  }

  function digestList(digests) {
    const FIRST = 4;
    const list = el("ul", { class: "digests" });
    for (const d of digests.slice(0, FIRST)) list.append(el("li", {}, digestLink(d)));
    if (digests.length <= FIRST) return list;
    const rest = el("ul", { class: "digests" });
    for (const d of digests.slice(FIRST)) rest.append(el("li", {}, digestLink(d)));
    return el("div", {}, list, el("details", {}, el("summary", { text: t("moreDigests", { n: digests.length - FIRST }) }), rest));
  }

  // ------------------------------------------------------------------ 异常发现: findings

  async function scan() {
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

  function preset(days) {
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

  function renderFindings() {
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

  // ------------------------------------------------------------------ 欺诈信号: fraud signals (every page)

  async function loadSignals() {
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

  function renderSignals() {
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

  // ------------------------------------------------------------------ 影响范围: downstream impact

  async function loadImpact(digest) {
    const wanted = digest.trim().toLowerCase();
    const mine = ++latest.impact;
    showError(null);
    say("loadingImpact");
    const answer = await read("/v1/certificates/" + encodeURIComponent(wanted) + "/dependents");
    if (mine !== latest.impact) return;
    say(null);
    if (!answer) {
      $("impact-result").hidden = true;
      return;
    }
    shown.impact = answer.body;
    history.replaceState(null, "", "#impact/" + answer.body.digest);
    renderImpact();
  }

  function inForceText(d) {
    if (d.in_force) return t("inForce");
    if (d.revoked_or_substituted) return t("revoked");
    if (d.status !== "ANCHORED") return t("notAnchored");
    return t("expired");
  }

  function renderImpact() {
    const body = shown.impact;
    if (!body) return;
    $("impact-result").hidden = false;
    const summary = $("impact-summary");
    summary.dataset.total = String(body.total);
    let text = body.total
      ? t("impactSummary", { total: body.total, shown: body.dependents.length, inForce: body.in_force })
      : t("noDependents");
    if (body.withheld) text += t("impactWithheld", { withheld: body.withheld });
    summary.textContent = text;
    $("impact-csv").dataset.digest = body.digest;
    $("impact-csv").href = "#impact/" + body.digest;
    const table = $("impact-table");
    table.replaceChildren();
    if (!body.dependents.length) return;
    table.append(
      el(
        "thead",
        {},
        el(
          "tr",
          {},
          el("th", { text: t("colDepth") }),
          el("th", { text: t("colCertificate") }),
          el("th", { text: t("colKind") }),
          el("th", { text: t("colLab") }),
          el("th", { text: t("colSerial") }),
          el("th", { text: t("colOwner") }),
          el("th", { text: t("colValidUntil") }),
          el("th", { text: t("colStatus") }),
          el("th", { text: t("colInForce") })
        )
      )
    );
    const rows = el("tbody");
    for (const d of body.dependents) {
      rows.append(
        el(
          "tr",
          { "data-digest": d.digest, "data-depth": d.depth, "data-lab-id": d.lab_id, "data-in-force": d.in_force ? "true" : "false" },
          el("td", { class: "num", text: t("depthN", { n: d.depth }) }),
          el("td", {}, el("div", { text: d.certificate_number }), digestLink(d.digest)),
          el("td", { text: has("kind_" + d.kind) ? t("kind_" + d.kind) : d.kind }),
          el("td", {}, hexCode(d.lab_id)),
          el("td", { text: d.serial_number || t("none") }),
          el("td", { text: d.customer || t("none") }),
          el("td", { text: d.valid_until || t("none") }),
          el("td", { text: has("status_" + d.status) ? t("status_" + d.status) : d.status }),
          el("td", { class: d.in_force ? "in-force-yes" : "in-force-no", text: inForceText(d) })
        )
      );
    }
    table.append(rows);
  }

  // The CSV export: fetched with the token in its header (a plain link would carry none), saved as a file.
  async function exportCsv(event) {
    event.preventDefault();
    const digest = event.currentTarget.dataset.digest;
    if (!digest) return;
    showError(null);
    say("exporting");
    const answer = await read("/v1/certificates/" + encodeURIComponent(digest) + "/dependents?format=csv", "blob");
    say(null);
    if (!answer) return;
    const named = /filename="([^"]+)"/.exec(answer.response.headers.get("Content-Disposition") || "");
    const url = URL.createObjectURL(answer.blob);
    const save = el("a", { href: url, download: named ? named[1] : "dependents.csv", hidden: true });
    document.body.append(save);
    save.click();
    save.remove();
    setTimeout(() => URL.revokeObjectURL(url), 60_000);
  }

  // ------------------------------------------------------------------ wiring

  function rerender() {
    renderFindings();
    renderSignals();
    renderImpact();
  }

  document.addEventListener("DOMContentLoaded", () => {
    applyLanguage();
    $("lang-toggle").addEventListener("click", () => {
      lang = lang === "zh" ? "en" : "zh";
      try {
        localStorage.setItem(LANG_KEY, lang);
      } catch (e) {
        /* not kept */
      }
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
    // A certificate anywhere on the page opens its downstream impact.
    document.addEventListener("click", (event) => {
      const link = event.target.closest(".digest-link");
      if (!link) return;
      $("impact-digest").value = link.dataset.digest;
      selectTab("impact", false);
      loadImpact(link.dataset.digest);
    });

    const today = chinaToday();
    $("f-since").value = daysBefore(today, 89);
    $("f-until").value = today;
    let kept = null;
    try {
      kept = sessionStorage.getItem(TOKEN_KEY);
    } catch (e) {
      kept = null;
    }
    if (kept) signIn(kept, true);
    else showLogin();
  });
})();
