// @ts-check
/**
 * The anywidget entry point of nbchat's progress bar widget (`nbchat.Progress`,
 * `nbchat.progress(...)`): its own small bundle (`nbchat/static/bar.js`), because every
 * bar's model carries its module and a notebook may show many bars.
 *
 * The model's `bar` trait holds everything the bar shows (`BarInfo`); the view draws it
 * with {@link updateBar}, counts the elapsed time and ETA on once a second while the job
 * runs, and sends the controls' clicks (`cancel`, `retry`, `mode`) to the kernel. While
 * the view lives it hides the bar's static copy (the cell's other output, for readers
 * without a kernel), as the chat hides its transcript.
 *
 * @module
 */

import "./theme.css";
import "./bar.css";
import { barBusy, barInfo, createBar, tickBar, updateBar } from "./bar.js";
import { hideWhileLive } from "./dom.js";
import { watchKernel } from "./kernel_watch.js";

/** @typedef {import("./types.js").BarRequest} BarRequest */

/**
 * @typedef {object} BarModel
 * @property {(key: string) => any} get
 * @property {(name: string, callback: (...args: any[]) => void) => void} on
 * @property {(name?: string | null, callback?: ((...args: any[]) => void) | null) => void} off
 * @property {(content: BarRequest) => void} send
 */

/**
 * @param {{model: BarModel, el: HTMLElement, signal?: AbortSignal}} props
 * @returns {() => void}
 */
function render({ model, el, signal }) {
  const doc = el.ownerDocument;
  const root = doc.createElement("div");
  root.className = "nbchat-bars";
  const record = createBar(doc, (request) => {
    try {
      model.send(request);
    } catch (error) {
      watch.failed(error);
    }
  });
  root.append(record.el);
  el.append(root);
  const hider = hideWhileLive(el, "data-nbchat-static", model.get("static_id"));
  /** @type {ReturnType<typeof setInterval> | null} */
  let ticker = null;

  function show() {
    const info = barInfo(model.get("bar"));
    if (!info) return;
    updateBar(record, info, performance.now());
    if (barBusy(record) && ticker === null) {
      ticker = setInterval(() => tickBar(record, performance.now()), 1000);
    } else if (!barBusy(record) && ticker !== null) {
      clearInterval(ticker);
      ticker = null;
    }
  }

  // A dead kernel: the controls go (a click could not reach it) and the bar says why.
  const watch = watchKernel(model, (why) => {
    root.setAttribute("data-gone", "true");
    record.controls.hidden = true;
    record.notice.hidden = false;
    record.notice.textContent = `Not connected: ${why}.`;
    if (ticker !== null) clearInterval(ticker);
    ticker = null;
  });
  model.on("change:bar", show);
  show();
  let done = false;
  function cleanup() {
    if (done) return;
    done = true;
    signal?.removeEventListener("abort", cleanup);
    model.off("change:bar", show);
    watch.stop();
    if (ticker !== null) clearInterval(ticker);
    hider?.remove();
    root.remove();
  }
  signal?.addEventListener("abort", cleanup);
  return cleanup;
}

/** @satisfies {import("@anywidget/types").AnyWidget} */
const widget = { render };
export default widget;
