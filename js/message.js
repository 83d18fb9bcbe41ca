// @ts-check
/**
 * DOM of one transcript message: role, reasoning, tool calls, progress, content, result,
 * refusal, footer.
 *
 * Model output is untrusted: it only ever enters the page as text nodes. An update
 * from a snapshot touches only what changed (the elements, and the open/closed state
 * of every `<details>` the user toggled, are kept); a text delta appends to one text
 * node, so its cost does not grow with the transcript. Text nodes are capped at
 * {@link TEXT_CHUNK} characters because `appendData` copies the whole node.
 *
 * ```
 * div.nbchat-message[data-id][data-role][data-status][data-superseded]
 *   div.nbchat-role
 *   details.nbchat-reasoning            (when there is reasoning; closed by default)
 *     summary.nbchat-reasoning-summary  "Reasoning"
 *     div.nbchat-reasoning-text
 *   div.nbchat-tools                    (when there are tool calls)
 *     details.nbchat-tool[data-id][data-status=queued|waiting|running|done|error|denied|cancelled]
 *       summary.nbchat-tool-summary > span.nbchat-tool-name, span.nbchat-tool-state
 *       div.nbchat-tool-approval > button.nbchat-approve, button.nbchat-deny  (waiting)
 *       div.nbchat-tool-part[data-part=args]   > div.nbchat-tool-label, pre.nbchat-tool-args
 *       div.nbchat-tool-part[data-part=result] > div.nbchat-tool-label, pre.nbchat-tool-result
 *   div.nbchat-progress[data-status=running|done|stopped|error|interrupted][data-indeterminate]
 *                                       (when there is progress; data-indeterminate="true"
 *                                       only while the percent is unknown)
 *     div.nbchat-progress-head > span.nbchat-progress-stage, span.nbchat-progress-percent,
 *                                span.nbchat-progress-eta      (each hidden when empty)
 *     div.nbchat-progress-bar[role=progressbar][aria-valuemin=0][aria-valuemax=100]
 *                            [aria-valuenow][aria-valuetext]   (no valuenow when indeterminate)
 *       div.nbchat-progress-fill        (style width: percent %; none when indeterminate)
 *     div.nbchat-progress-message
 *   div.nbchat-content (> span.nbchat-cursor while streaming)
 *   details.nbchat-result[open]         (when there is a result; open when created)
 *     summary.nbchat-result-summary     "Result"
 *     pre.nbchat-result-body            (text as is, anything else as pretty JSON)
 *   div.nbchat-refusal                  (when there is a refusal)
 *   div.nbchat-footer > span.nbchat-marker[data-kind]…, div.nbchat-error, div.nbchat-metrics
 * ```
 *
 * Markers: `data-kind` is the status (stopped, interrupted, error), then `length` or
 * `content_filter` from the finish reason.
 *
 * The progress block follows the message status: `running` while it streams (ETA
 * shown), else the status it ended with (no ETA, no animation, the bar stays at its
 * last percent).
 *
 * @module
 */

import { barInfo, createBar, showResult, specStages, updateBar } from "./bar.js";
import { h, setAttr, setText, setTextShown } from "./dom.js";
import { createParts } from "./parts.js";
import {
  errorText,
  finishReasonLabel,
  markerLabel,
  metricsText,
  metricsTitle,
  prettyJson,
  roleLabel,
  timeText,
  toolArgumentsText,
  toolStateText,
} from "./format.js";

/** @typedef {import("./store.js").StoreMessage} StoreMessage */
/** @typedef {import("./store.js").TextPart} TextPart */
/** @typedef {import("./store.js").StoreProgress} StoreProgress */
/** @typedef {import("./types.js").ToolCallInfo} ToolCallInfo */

/** Longest text node a delta is appended to before a new one is started. */
export const TEXT_CHUNK = 8192;

/**
 * Text kept in an element as a few text nodes, appended to at the end.
 *
 * @typedef {object} TextSink
 * @property {HTMLElement} el
 * @property {Text | null} tail Last text node, where deltas are appended.
 * @property {string} text The text currently in `el`.
 * @property {Node | null} anchor A node that stays after the text (the cursor).
 */

/**
 * @typedef {object} ToolRecord
 * @property {HTMLDetailsElement} el
 * @property {HTMLElement} name
 * @property {HTMLElement} state
 * @property {HTMLElement} approval Approve / Deny, shown while the call waits for them.
 * @property {HTMLElement} argsPart
 * @property {HTMLElement} args
 * @property {HTMLElement} resultPart
 * @property {HTMLElement} result
 * @property {string} argsKey What `args` was rendered from, to skip re-formatting.
 */

/**
 * @typedef {object} ResultRecord
 * @property {HTMLDetailsElement} el
 * @property {HTMLElement} body
 */

/**
 * The rendered form of one message.
 *
 * @typedef {object} MessageRecord
 * @property {Document} doc
 * @property {HTMLElement} el
 * @property {TextSink} content
 * @property {HTMLElement} footer
 * @property {HTMLElement | null} cursor
 * @property {string} role
 * @property {string} footerKey What the footer shows, to skip unchanged rebuilds.
 * @property {{el: HTMLDetailsElement, text: TextSink} | null} reasoning
 * @property {{el: HTMLElement, calls: Map<string, ToolRecord>} | null} tools
 * @property {HTMLElement | null} refusal
 * @property {import("./bar.js").BarRecord | null} progress
 * @property {ResultRecord | null} result
 * @property {import("./parts.js").Parts | null} parts An assistant reply's Markdown,
 *   cut where tool calls started (its `content` sink is then unused); user text stays
 *   plain text.
 */

// ---- text ---------------------------------------------------------------------------

/**
 * @param {TextSink} sink
 * @param {string} text
 */
function appendText(sink, text) {
  const tail = sink.tail;
  if (tail && tail.length + text.length <= TEXT_CHUNK) {
    tail.appendData(text);
  } else {
    const node = sink.el.ownerDocument.createTextNode(text);
    sink.el.insertBefore(node, sink.anchor);
    sink.tail = node;
  }
  sink.text += text;
}

/**
 * Make `sink` show `text`, appending when it only grew.
 *
 * @param {TextSink} sink
 * @param {string} text
 */
function syncText(sink, text) {
  if (text === sink.text) return;
  if (text.length > sink.text.length && text.startsWith(sink.text)) {
    appendText(sink, text.slice(sink.text.length));
    return;
  }
  sink.el.textContent = "";
  sink.tail = null;
  sink.text = "";
  if (sink.anchor) sink.el.append(sink.anchor);
  if (text) appendText(sink, text);
}

/** @param {HTMLElement} el */
function sink(el) {
  return /** @type {TextSink} */ ({ el, tail: null, text: "", anchor: null });
}

// ---- reasoning, refusal ----------------------------------------------------------------

/** @param {MessageRecord} record */
function ensureReasoning(record) {
  if (record.reasoning) return record.reasoning;
  // Created above the text; placeReasoning moves it where it streamed.
  const { doc } = record;
  const el = h(doc, "details", "nbchat-reasoning");
  const summary = h(doc, "summary", "nbchat-reasoning-summary", "Reasoning");
  const text = h(doc, "div", "nbchat-reasoning-text");
  el.append(summary, text);
  record.el.insertBefore(el, record.tools?.el ?? progressAbove(record) ?? record.content.el);
  record.reasoning = { el, text: sink(text) };
  return record.reasoning;
}

/**
 * The group among the reply's parts for something that started when the text was
 * `at` characters long, or null when it goes above the text (at 0, or an offset the
 * text does not reach).
 *
 * @param {MessageRecord} record
 * @param {number | undefined} at
 * @param {number} textLength
 * @returns {HTMLElement | null}
 */
function groupAt(record, at, textLength) {
  return at && at > 0 && at <= textLength && record.parts ? record.parts.groupFor(at) : null;
}

/**
 * Put the reasoning block where it streamed: after the text that came before it, or
 * above the text.
 *
 * @param {MessageRecord} record
 * @param {number} at
 * @param {number} textLength
 */
function placeReasoning(record, at, textLength) {
  const el = record.reasoning?.el;
  if (!el) return;
  const group = groupAt(record, at, textLength);
  if (group) {
    if (el.parentNode !== group) group.prepend(el); // thought, then acted
  } else if (el.parentNode !== record.el) {
    record.el.insertBefore(el, record.tools?.el ?? progressAbove(record) ?? record.content.el);
  }
}

/**
 * @param {MessageRecord} record
 * @param {string} text
 */
function updateReasoning(record, text) {
  if (!text && !record.reasoning) return;
  const reasoning = ensureReasoning(record);
  syncText(reasoning.text, text);
  reasoning.el.hidden = !text;
}

/**
 * @param {MessageRecord} record
 * @param {string} text
 */
function updateRefusal(record, text) {
  if (!text && !record.refusal) return;
  if (!record.refusal) {
    record.refusal = h(record.doc, "div", "nbchat-refusal");
    record.refusal.setAttribute("role", "note");
    record.refusal.title = "The model refused to answer";
    record.el.insertBefore(record.refusal, record.footer);
  }
  setText(record.refusal, text);
  record.refusal.hidden = !text;
}

// ---- tool calls -----------------------------------------------------------------------

/**
 * @param {Document} doc
 * @param {string} id
 * @returns {ToolRecord}
 */
function createTool(doc, id) {
  const el = h(doc, "details", "nbchat-tool");
  el.setAttribute("data-id", id);
  const summary = h(doc, "summary", "nbchat-tool-summary");
  const name = h(doc, "span", "nbchat-tool-name");
  const state = h(doc, "span", "nbchat-tool-state");
  summary.append(name, state);
  /** @param {"args" | "result"} kind */
  const part = (kind) => {
    const wrap = h(doc, "div", "nbchat-tool-part");
    wrap.setAttribute("data-part", kind);
    const body = h(doc, "pre", `nbchat-tool-${kind}`);
    wrap.append(h(doc, "div", "nbchat-tool-label", kind === "args" ? "Arguments" : "Result"), body);
    return { wrap, body };
  };
  const args = part("args");
  const result = part("result");
  const approval = h(doc, "div", "nbchat-tool-approval");
  approval.hidden = true;
  const approve = h(doc, "button", "nbchat-approve", "Approve");
  approve.type = "button";
  approve.title = "Run this call";
  const deny = h(doc, "button", "nbchat-deny", "Deny");
  deny.type = "button";
  deny.title = "Do not run it (the model is told you declined)";
  approval.append(approve, deny);
  el.append(summary, approval, args.wrap, result.wrap);
  return {
    el,
    name,
    state,
    approval,
    argsPart: args.wrap,
    args: args.body,
    resultPart: result.wrap,
    result: result.body,
    argsKey: "\u0000",
  };
}

/**
 * @param {ToolRecord} tool
 * @param {ToolCallInfo} call
 */
function updateTool(tool, call) {
  const before = tool.el.getAttribute("data-status");
  if (before !== call.status) {
    tool.el.setAttribute("data-status", call.status);
    // A call waiting for approval opens, so its arguments can be read before saying yes.
    if (call.status === "waiting") tool.el.open = true;
  }
  const waiting = call.status === "waiting";
  if (tool.approval.hidden === waiting) {
    tool.approval.hidden = !waiting;
    for (const button of tool.approval.querySelectorAll("button")) button.disabled = false;
  }
  setText(tool.name, call.name || "tool");
  setText(tool.state, toolStateText(call));
  // `input` is parsed from `arguments`: the raw text and whether it parsed say it all.
  const argsKey = `${call.input === null ? "raw" : "json"}:${call.arguments}`;
  if (argsKey !== tool.argsKey) {
    tool.argsKey = argsKey;
    const args = toolArgumentsText(call);
    setText(tool.args, args);
    tool.argsPart.hidden = !args;
  }
  const has = call.result !== undefined;
  setText(tool.result, has ? prettyJson(call.result) : "");
  tool.resultPart.hidden = !has;
}

/**
 * The progress block when it shows above the text (not among its parts), else null.
 *
 * @param {MessageRecord} record
 * @returns {HTMLElement | null}
 */
function progressAbove(record) {
  const el = record.progress?.el;
  return el && el.parentNode === record.el ? el : null;
}

/**
 * The text offsets tool calls started at (their place among a reply's parts).
 *
 * @param {ToolCallInfo[]} calls
 * @returns {number[]}
 */
function toolCuts(calls) {
  return calls.map((call) => (typeof call.at === "number" ? call.at : 0));
}

/**
 * @param {MessageRecord} record
 * @param {ToolCallInfo[]} calls
 * @param {number} textLength
 */
function updateTools(record, calls, textLength) {
  if (!calls.length && !record.tools) return;
  if (!record.tools) {
    const el = h(record.doc, "div", "nbchat-tools");
    record.el.insertBefore(el, progressAbove(record) ?? record.content.el);
    record.tools = { el, calls: new Map() };
  }
  const tools = record.tools;
  const seen = new Set();
  let above = 0; // calls shown above the text
  for (const call of calls) {
    if (seen.has(call.id)) continue;
    seen.add(call.id);
    let tool = tools.calls.get(call.id);
    if (!tool) {
      tool = createTool(record.doc, call.id);
      tools.calls.set(call.id, tool);
    }
    updateTool(tool, call);
    // In the order they streamed: after the text that came before them.
    const host = groupAt(record, call.at, textLength) ?? tools.el;
    if (host === tools.el) above += 1;
    if (tool.el.parentNode !== host || tool.el.nextSibling) host.append(tool.el);
  }
  for (const [id, tool] of tools.calls) {
    if (!seen.has(id)) {
      tool.el.remove();
      tools.calls.delete(id);
    }
  }
  tools.el.hidden = !above;
}

// ---- progress, result -----------------------------------------------------------------

/**
 * A reply's progress, drawn by the same bar as the progress widget's (js/bar.js).
 *
 * @param {MessageRecord} record
 * @param {StoreProgress | null} progress
 * @param {StoreMessage["status"]} status
 * @param {number} textLength
 */
function updateProgress(record, progress, status, textLength) {
  if (!progress) {
    if (record.progress && !record.progress.el.hidden) record.progress.el.hidden = true;
    return;
  }
  if (!record.progress) {
    record.progress = createBar(record.doc);
    record.el.insertBefore(record.progress.el, record.content.el);
  }
  const p = record.progress;
  // In the order it streamed: after the text that came before it.
  const group = groupAt(record, progress.at, textLength);
  if (group) {
    if (p.el.parentNode !== group) group.append(p.el);
  } else if (p.el.nextSibling !== record.content.el) {
    record.el.insertBefore(p.el, record.content.el);
  }
  if (p.el.hidden) p.el.hidden = false;
  const shown = barInfo({
    state: status,
    percent: progress.percent,
    stage: progress.stage,
    message: progress.message,
    stages: specStages(progress.stage, status === "done"),
    eta_s: progress.eta_s,
    eta_note: "the server's estimate",
  });
  if (shown) updateBar(p, shown, 0);
}

/**
 * @param {MessageRecord} record
 * @param {StoreMessage} message
 */
function updateResult(record, message) {
  const has = "result" in message && message.result !== undefined;
  record.result = showResult(record.result, record.doc, has ? prettyJson(message.result) : null, (el) =>
    record.el.insertBefore(el, record.refusal ?? record.footer),
  );
}

// ---- footer, message ------------------------------------------------------------------

/**
 * @param {MessageRecord} record
 * @param {StoreMessage} message
 */
function updateFooter(record, message) {
  const { doc } = record;
  /** @type {Array<[string, string]>} `[kind, text]` of each marker */
  const markers = [];
  const status = markerLabel(message.status);
  if (status) markers.push([message.status, status]);
  const finish = finishReasonLabel(message.finish_reason);
  if (finish) markers.push([message.finish_reason, finish]);
  if (message.superseded) markers.push(["superseded", "Being retried: kept until the new reply starts"]);
  const metrics = message.role === "assistant" ? metricsText(message.metrics) : "";
  const key = JSON.stringify([markers, message.error, metrics]);
  if (key === record.footerKey) return;
  record.footerKey = key;
  const footer = record.footer;
  footer.textContent = "";
  for (const [kind, text] of markers) {
    const badge = h(doc, "span", "nbchat-marker", text);
    badge.setAttribute("data-kind", kind);
    footer.append(badge);
  }
  if (message.error) {
    const error = h(doc, "div", "nbchat-error", errorText(message.error));
    if (message.error.hint) error.append(h(doc, "div", "nbchat-error-hint", message.error.hint));
    footer.append(error);
  }
  if (metrics) {
    const m = h(doc, "div", "nbchat-metrics", metrics);
    m.title = metricsTitle(message.metrics);
    footer.append(m);
  }
  footer.hidden = !footer.firstChild;
}

/**
 * Bring a record in line with a message (from a snapshot).
 *
 * @param {MessageRecord} record
 * @param {StoreMessage} message
 */
export function updateMessage(record, message) {
  const { doc } = record;
  if (record.el.getAttribute("data-status") !== message.status) {
    record.el.setAttribute("data-status", message.status);
  }
  if (record.el.hasAttribute("data-superseded") !== Boolean(message.superseded)) {
    record.el.toggleAttribute("data-superseded", Boolean(message.superseded));
  }
  if (record.role !== message.role) {
    record.role = message.role;
    record.el.setAttribute("data-role", message.role);
    const label = record.el.querySelector(".nbchat-role");
    if (label) label.textContent = roleLabel(message.role);
  }
  const streaming = message.status === "streaming";
  // The transcript is a live region: while a reply's tail re-renders each frame, a
  // screen reader waits for it to finish rather than reading every frame.
  if (record.el.getAttribute("aria-busy") !== String(streaming)) {
    record.el.setAttribute("aria-busy", String(streaming));
  }
  if (streaming && !record.cursor) {
    record.cursor = h(doc, "span", "nbchat-cursor");
    record.cursor.setAttribute("aria-hidden", "true");
    record.content.el.append(record.cursor);
  } else if (!streaming && record.cursor) {
    record.cursor.remove();
    record.cursor = null;
  }
  updateReasoning(record, message.reasoning);
  if (record.parts) {
    // The parts first: the tool rows that belong between them go into their groups.
    const cuts = toolCuts(message.tool_calls);
    if (message.progress?.at) cuts.push(message.progress.at);
    if (message.reasoning_at && message.reasoning) cuts.push(message.reasoning_at);
    record.parts.sync(message.content, cuts, streaming, record.cursor);
    placeReasoning(record, message.reasoning_at ?? 0, message.content.length);
  } else {
    record.content.anchor = record.cursor;
    syncText(record.content, message.content);
  }
  updateTools(record, message.tool_calls, message.content.length);
  updateProgress(record, message.progress, message.status, message.content.length);
  updateResult(record, message);
  updateRefusal(record, message.refusal);
  updateFooter(record, message);
}

/**
 * @param {Document} doc
 * @param {StoreMessage} message
 * @param {import("./rich_text.js").RichTextOptions} [options] For an assistant reply's
 *   Markdown: when to render, and what to call after.
 * @returns {MessageRecord}
 */
export function createMessage(doc, message, options = {}) {
  const item = h(doc, "div", "nbchat-message");
  item.setAttribute("data-id", message.id);
  item.setAttribute("data-role", message.role);
  const label = h(doc, "div", "nbchat-role", roleLabel(message.role));
  label.setAttribute("aria-hidden", "true");
  const sent = timeText(message.created_at);
  if (sent) {
    // When it was written: small, beside the role (the full date on hover).
    const time = h(doc, "time", "nbchat-time", sent.short);
    time.dateTime = sent.iso;
    time.title = sent.long;
    label.append(" ", time);
  }
  const content = h(doc, "div", "nbchat-content");
  const footer = h(doc, "div", "nbchat-footer");
  footer.hidden = true;
  item.append(label, content, footer);
  /** @type {MessageRecord} */
  const record = {
    doc,
    el: item,
    content: sink(content),
    footer,
    cursor: null,
    role: message.role,
    footerKey: "",
    reasoning: null,
    tools: null,
    refusal: null,
    progress: null,
    result: null,
    parts: message.role === "assistant" ? createParts(content, options) : null,
  };
  if (record.parts) {
    const copy = h(doc, "button", "nbchat-copy", "Copy");
    copy.type = "button";
    copy.setAttribute("data-copy", "message");
    copy.title = "Copy this reply as Markdown";
    item.insertBefore(copy, content);
  }
  updateMessage(record, message);
  return record;
}

/**
 * Append a streamed delta (from a batch) to the content or the reasoning.
 *
 * @param {MessageRecord} record
 * @param {TextPart} part
 * @param {string} text
 */
export function appendDelta(record, part, text) {
  if (part === "reasoning") {
    const reasoning = ensureReasoning(record);
    reasoning.el.hidden = false;
    appendText(reasoning.text, text);
  } else if (record.parts) {
    record.parts.append(text);
  } else {
    appendText(record.content, text);
  }
}
