// @ts-check
/**
 * One progress bar's DOM: the bar widget's (a server job, a loop) and a chat reply's
 * inline progress. One implementation, so both look and read the same.
 *
 * DOM (`data-status` is the job state; a chat's `streaming` reads as `running`):
 *
 *   div.nbchat-progress[data-status][data-indeterminate]
 *     div.nbchat-progress-head
 *       span.nbchat-progress-title    span.nbchat-progress-stage
 *       span.nbchat-progress-percent  span.nbchat-progress-count (a loop's n / total, rate)
 *       span.nbchat-progress-elapsed  span.nbchat-progress-eta[title = where it comes from]
 *       span.nbchat-progress-controls > button Cancel | button Run again,
 *                                       label > input[type=checkbox] Classic mode
 *     div.nbchat-progress-bar[role=progressbar] > div.nbchat-progress-fill
 *     ol.nbchat-progress-stages > li.nbchat-progress-dot[data-state=done|current|ahead]
 *     div.nbchat-progress-message     div.nbchat-progress-notice ("no update for 12 s")
 *     div.nbchat-progress-error > strong (code), span (message)
 *     details.nbchat-result > summary, pre.nbchat-result-body
 *     div.nbchat-progress-children    (nested bars: a loop inside a loop)
 *
 * Every text goes in with `textContent`: a server's message or result is never HTML.
 * Elapsed time and ETA are as of the last update; {@link tickBar} counts them on
 * between updates (the kernel sends about one a second while a job runs).
 *
 * @module
 */

import { h, setAttr, setText, setTextShown } from "./dom.js";
import { countText, durationText, etaText, percentText, stageLabel, wholePercent } from "./format.js";

/** @typedef {import("./types.js").BarInfo} BarInfo */
/** @typedef {import("./types.js").BarRequest} BarRequest */

/**
 * @typedef {object} BarRecord
 * @property {HTMLDivElement} el
 * @property {Document} doc
 * @property {HTMLElement} title
 * @property {HTMLElement} stage
 * @property {HTMLElement} percent
 * @property {HTMLElement} count
 * @property {HTMLElement} elapsed
 * @property {HTMLElement} eta
 * @property {HTMLElement} controls
 * @property {HTMLButtonElement} cancel
 * @property {HTMLButtonElement} retry
 * @property {HTMLLabelElement} mode
 * @property {HTMLInputElement} modeBox
 * @property {HTMLElement} bar
 * @property {HTMLElement} fill
 * @property {HTMLOListElement} stages
 * @property {HTMLElement} message
 * @property {HTMLElement} notice
 * @property {HTMLElement} error
 * @property {HTMLElement} errorCode
 * @property {HTMLElement} errorMessage
 * @property {ResultBlock | null} result Made when a result first shows (a chat reply
 *   shows its result below its text: none here).
 * @property {HTMLElement} children
 * @property {BarRecord[]} childRecords
 * @property {BarInfo | null} info The last state shown.
 * @property {number} received When it arrived (ms, the clock handed to updateBar).
 * @property {(request: BarRequest) => void} act
 */

/** Spec 004's stages, in order (nbchat/dialects/progress.py's SPEC_STAGES). */
export const SPEC_STAGES = ["started", "fetching-exercises", "generating", "validating", "storing", "complete"];

/**
 * The stage dots for a job that speaks spec 004's stage names (a chat reply's progress,
 * which knows no history): done before `stage`; `stage` current (where it runs, or
 * where it stopped or failed), or done once the job `succeeded`; the rest ahead. None
 * for other stage names.
 *
 * @param {string} stage
 * @param {boolean} succeeded
 * @returns {import("./types.js").StageInfo[]}
 */
export function specStages(stage, succeeded) {
  const at = SPEC_STAGES.indexOf(stage);
  if (at < 0) return [];
  return SPEC_STAGES.map((name, i) => ({
    name,
    state: i < at || (i === at && succeeded) ? "done" : i === at ? "current" : "ahead",
  }));
}

/** States in which the job still runs. */
const BUSY = new Set(["connecting", "running", "streaming"]);

/**
 * A bar state from the trait, or null when it is not one (a model from another version).
 *
 * @param {unknown} value
 * @returns {BarInfo | null}
 */
export function barInfo(value) {
  if (typeof value !== "object" || value === null) return null;
  const info = /** @type {Record<string, unknown>} */ (value);
  if (typeof info.state !== "string") return null;
  return /** @type {BarInfo} */ (/** @type {unknown} */ ({
    title: "",
    percent: null,
    stage: "",
    message: "",
    stages: [],
    elapsed_s: null,
    eta_s: null,
    eta_note: "",
    notice: "",
    error: null,
    result: null,
    classic: false,
    controls: [],
    count: null,
    children: [],
    ...info,
  }));
}

/**
 * @param {Document} doc
 * @param {(request: BarRequest) => void} [act] Where the controls' clicks go; without it
 *   the bar has no controls in its DOM (a chat reply's progress).
 * @returns {BarRecord}
 */
export function createBar(doc, act) {
  const el = h(doc, "div", "nbchat-progress");
  const head = h(doc, "div", "nbchat-progress-head");
  const title = h(doc, "span", "nbchat-progress-title");
  const stage = h(doc, "span", "nbchat-progress-stage");
  const percent = h(doc, "span", "nbchat-progress-percent");
  const count = h(doc, "span", "nbchat-progress-count");
  const elapsed = h(doc, "span", "nbchat-progress-elapsed");
  const eta = h(doc, "span", "nbchat-progress-eta");
  const controls = h(doc, "span", "nbchat-progress-controls");
  const cancel = h(doc, "button", "nbchat-progress-cancel", "Cancel");
  const retry = h(doc, "button", "nbchat-progress-retry", "Run again");
  cancel.type = retry.type = "button";
  const mode = h(doc, "label", "nbchat-progress-mode");
  const modeBox = h(doc, "input", "nbchat-progress-mode-box");
  modeBox.type = "checkbox";
  mode.append(modeBox, doc.createTextNode(" classic mode"));
  mode.title = "Classic mode: one request, one answer, no stages (applies to the next run)";
  // Controls only where a click has somewhere to go (the bar widget, not a chat reply).
  if (act) controls.append(cancel, retry, mode);
  for (const part of [title, stage, percent, count, elapsed, eta, controls]) part.hidden = true;
  head.append(title, stage, percent, count, elapsed, eta, controls);
  const bar = h(doc, "div", "nbchat-progress-bar");
  bar.setAttribute("role", "progressbar");
  bar.setAttribute("aria-label", "Progress");
  bar.setAttribute("aria-valuemin", "0");
  bar.setAttribute("aria-valuemax", "100");
  const fill = h(doc, "div", "nbchat-progress-fill");
  bar.append(fill);
  const stages = h(doc, "ol", "nbchat-progress-stages");
  stages.setAttribute("aria-label", "Stages");
  const message = h(doc, "div", "nbchat-progress-message");
  const notice = h(doc, "div", "nbchat-progress-notice");
  notice.setAttribute("role", "status");
  const error = h(doc, "div", "nbchat-progress-error");
  error.setAttribute("role", "alert");
  const errorCode = h(doc, "strong", "nbchat-progress-error-code");
  const errorMessage = h(doc, "span", "nbchat-progress-error-message");
  error.append(errorCode, errorMessage);
  const children = h(doc, "div", "nbchat-progress-children");
  for (const part of [stages, message, notice, error, children]) part.hidden = true;
  el.append(head, bar, stages, message, notice, error, children);
  /** @type {BarRecord} */
  const record = {
    el, doc, title, stage, percent, count, elapsed, eta, controls, cancel, retry, mode, modeBox,
    bar, fill, stages, message, notice, error, errorCode, errorMessage, result: null,
    children, childRecords: [], info: null, received: 0, act: act ?? (() => {}),
  };
  cancel.addEventListener("click", () => {
    cancel.disabled = true;
    record.act({ type: "cancel" });
  });
  retry.addEventListener("click", () => record.act({ type: "retry" }));
  modeBox.addEventListener("change", () => record.act({ type: "mode" }));
  return record;
}

/**
 * Show `info`, received at `now` (ms).
 *
 * @param {BarRecord} record
 * @param {BarInfo} info
 * @param {number} now
 */
export function updateBar(record, info, now) {
  record.info = info;
  record.received = now;
  const status = info.state === "streaming" ? "running" : info.state;
  const busy = BUSY.has(info.state);
  setAttr(record.el, "data-status", status);
  const known = info.percent !== null && Number.isFinite(info.percent);
  setAttr(record.el, "data-indeterminate", known ? null : "true");
  setTextShown(record.title, info.title);
  const stage = stageLabel(info.stage);
  setTextShown(record.stage, stage);
  const percent = known ? /** @type {number} */ (info.percent) : null;
  setTextShown(record.percent, percent === null ? "" : percentText(percent));
  setTextShown(record.count, info.count ? countText(info.count) : "");
  const width = percent === null ? "" : `${Math.min(100, Math.max(0, percent))}%`;
  if (record.fill.style.width !== width) record.fill.style.width = width;
  setAttr(record.bar, "aria-valuenow", percent === null ? null : String(wholePercent(percent)));
  const valueText = [stage, percent === null ? "" : percentText(percent)].filter(Boolean).join(", ");
  setAttr(record.bar, "aria-valuetext", valueText || null);
  updateStages(record, info);
  setTextShown(record.message, info.message);
  setAttr(record.message, "title", info.message.length > 120 ? info.message : null);
  setTextShown(record.notice, busy ? info.notice : "");
  updateError(record, info);
  record.result = showResult(record.result, record.doc, info.result, (el) =>
    record.el.insertBefore(el, record.children),
  );
  updateControls(record, info, busy);
  updateChildren(record, info.children, now);
  tickBar(record, now);
}

/**
 * Count the elapsed time and the ETA on to `now` (ms); call about once a second.
 *
 * @param {BarRecord} record
 * @param {number} now
 */
export function tickBar(record, now) {
  const info = record.info;
  if (!info) return;
  const busy = BUSY.has(info.state);
  const since = busy ? Math.max(0, (now - record.received) / 1000) : 0;
  if (info.elapsed_s === null || !Number.isFinite(info.elapsed_s)) {
    setTextShown(record.elapsed, "");
  } else {
    const spent = durationText(info.elapsed_s + since);
    setTextShown(record.elapsed, busy || !spent ? spent : `${info.state === "done" ? "done in" : "after"} ${spent}`);
  }
  const left = busy && info.eta_s !== null ? etaText(info.eta_s - since) : "";
  setTextShown(record.eta, left);
  setAttr(record.eta, "title", left && info.eta_note ? `Estimate ${info.eta_note}` : null);
  for (const child of record.childRecords) tickBar(child, now);
}

/**
 * True while the bar (or a nested one) runs: its view ticks once a second.
 *
 * @param {BarRecord} record
 */
export function barBusy(record) {
  return record.info !== null && BUSY.has(record.info.state);
}

/**
 * @param {BarRecord} record
 * @param {BarInfo} info
 */
function updateStages(record, info) {
  const list = record.stages;
  const stages = info.stages;
  if (list.hidden !== stages.length < 2) list.hidden = stages.length < 2;
  while (list.children.length > stages.length) list.lastElementChild?.remove();
  stages.forEach((stage, i) => {
    let dot = /** @type {HTMLElement | undefined} */ (list.children[i]);
    if (!dot) {
      dot = h(record.doc, "li", "nbchat-progress-dot");
      list.append(dot);
    }
    const label = stageLabel(stage.name);
    setText(dot, label);
    setAttr(dot, "title", `${label}: ${stage.state}`);
    setAttr(dot, "data-state", stage.state);
    setAttr(dot, "aria-current", stage.state === "current" ? "step" : null);
  });
}

/**
 * @typedef {{el: HTMLDetailsElement, body: HTMLElement}} ResultBlock
 */

/**
 * A job's result as a block ("Result", open, its text as text): made on first use and
 * placed by `place`; hidden while `text` is null or empty. The bar and a chat reply
 * both show their result with it.
 *
 * @param {ResultBlock | null} block The block shown so far, if any.
 * @param {Document} doc
 * @param {string | null} text
 * @param {(el: HTMLElement) => void} place Puts a new block in the DOM.
 * @returns {ResultBlock | null}
 */
export function showResult(block, doc, text, place) {
  const has = typeof text === "string" && text !== "";
  if (!has && !block) return null;
  if (!block) {
    const el = h(doc, "details", "nbchat-result");
    el.open = true;
    const body = h(doc, "pre", "nbchat-result-body");
    el.append(h(doc, "summary", "nbchat-result-summary", "Result"), body);
    place(el);
    block = { el, body };
  }
  setText(block.body, has ? /** @type {string} */ (text) : "");
  if (block.el.hidden === has) block.el.hidden = !has;
  return block;
}

/**
 * @param {BarRecord} record
 * @param {BarInfo} info
 */
function updateError(record, info) {
  const error = info.error;
  if (record.error.hidden !== !error) record.error.hidden = !error;
  setText(record.errorCode, error ? error.code : "");
  setText(record.errorMessage, error?.message ? `: ${error.message}` : "");
  setAttr(record.error, "title", error?.hint || null);
}

/**
 * @param {BarRecord} record
 * @param {BarInfo} info
 * @param {boolean} busy
 */
function updateControls(record, info, busy) {
  const offered = new Set(info.controls);
  const cancel = offered.has("cancel") && busy;
  const retry = offered.has("retry") && !busy && info.state !== "idle";
  const mode = offered.has("mode");
  if (record.cancel.hidden === cancel) record.cancel.hidden = !cancel;
  if (record.retry.hidden === retry) record.retry.hidden = !retry;
  if (record.mode.hidden === mode) record.mode.hidden = !mode;
  if (record.modeBox.checked !== info.classic) record.modeBox.checked = info.classic;
  const any = cancel || retry || mode;
  if (record.controls.hidden === any) record.controls.hidden = !any;
  // A pressed Cancel stays pressed until the job has ended.
  if (!busy && record.cancel.disabled) record.cancel.disabled = false;
}

/**
 * @param {BarRecord} record
 * @param {BarInfo[]} children
 * @param {number} now
 */
function updateChildren(record, children, now) {
  const kept = record.childRecords;
  while (kept.length > children.length) kept.pop()?.el.remove();
  children.forEach((child, i) => {
    let sub = kept[i];
    if (!sub) {
      sub = createBar(record.doc);
      kept.push(sub);
      record.children.append(sub.el);
    }
    updateBar(sub, child, now);
  });
  if (record.children.hidden !== !children.length) record.children.hidden = !children.length;
}
