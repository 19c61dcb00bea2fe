// The lab directory's texts in Chinese and English (its language is app.js's: it follows the <html lang> attribute),
// the summary line above the list, and reading an answer of GET /v1/labs and GET /v1/labs/{lab_id}.
import { $, errorOf, failureText, requestJson, showError, translator } from "./common.js";

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

export let lang = pageLanguage();
let lastSummary = null; // [key, vars]

function pageLanguage() {
  return (document.documentElement.lang || "zh").toLowerCase().startsWith("en") ? "en" : "zh";
}

// Follows the page's language again (app.js set <html lang>).
export function refreshLanguage() {
  lang = pageLanguage();
}

export const t = translator(TEXT, () => lang);

// The summary line above the list.
export function say(key, vars) {
  lastSummary = key ? [key, vars] : null;
  $("labs-summary").textContent = key ? t(key, vars) : "";
}

// The summary line said again (after a language switch).
export function sayAgain() {
  if (lastSummary) say(lastSummary[0], lastSummary[1]);
}

// An authorized scope ({category: [VERIFY, CALIBRATE]}) as text.
export function scopeText(scope) {
  const parts = Object.entries(scope || {}).map(
    ([category, acts]) => category + " " + acts.map((a) => t(a)).join(t("sep"))
  );
  return parts.length ? parts.join(t("scopeSep")) : t("noScope");
}

// The answer's body, or null when there is none (the error box then says why).
export async function getJson(url) {
  showError(null);
  const answer = await requestJson(url, { headers: { Accept: "application/json" } });
  if (!answer) {
    showError(t("network"));
    return null;
  }
  const { response, body } = answer;
  if (!response.ok || !body || body.error) {
    const err = errorOf(response, body);
    showError(failureText(err, t), err.code);
    return null;
  }
  return body;
}
