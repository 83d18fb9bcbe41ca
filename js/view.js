// @ts-check
/**
 * DOM rendering of one store: header, transcript, input. No widget model here.
 *
 * Model output is untrusted: it only ever enters the page as text nodes, never as
 * HTML. A snapshot reconciles the transcript by message id (elements of unchanged
 * messages are kept); a text delta appends to one text node of one message, so the
 * cost of a delta does not grow with the transcript. Text nodes are capped at
 * {@link TEXT_CHUNK} characters because `appendData` copies the whole node.
 *
 * @module
 */

import { createAutoScroll } from "./autoscroll.js";
import { errorText, markerLabel, metricsText, metricsTitle, phaseLabel, roleLabel } from "./format.js";
import { isLive } from "./store.js";

/** @typedef {import("./store.js").Store} Store */
/** @typedef {import("./store.js").StoreMessage} StoreMessage */
/** @typedef {import("./store.js").Change} Change */
/** @typedef {import("./channel.js").UiState} UiState */

/** Longest text node a delta is appended to before a new one is started. */
export const TEXT_CHUNK = 8192;

/**
 * What a view needs from its channel.
 *
 * @typedef {object} ViewHost
 * @property {Store} store
 * @property {UiState} ui
 * @property {(text: string) => boolean} send
 * @property {() => void} stop
 */

/**
 * @typedef {object} ViewOptions
 * @property {(callback: () => void) => void} [schedule] Frame scheduler for auto-scroll.
 */

/**
 * The rendered form of one message.
 *
 * @typedef {object} MessageRecord
 * @property {HTMLElement} el
 * @property {HTMLElement} content
 * @property {HTMLElement} footer
 * @property {HTMLElement | null} cursor
 * @property {Text | null} tail Last text node, where deltas are appended.
 * @property {string} text The text currently in `content`.
 * @property {string} role
 * @property {string} footerKey What the footer shows, to skip unchanged rebuilds.
 */

/**
 * @template {keyof HTMLElementTagNameMap} K
 * @param {Document} doc
 * @param {K} tag
 * @param {string} className
 * @param {string} [text]
 * @returns {HTMLElementTagNameMap[K]}
 */
function h(doc, tag, className, text) {
  const el = doc.createElement(tag);
  el.className = className;
  if (text !== undefined) el.textContent = text;
  return el;
}

/**
 * Render the chat into `el` and keep it in step with `host.store`.
 *
 * @param {HTMLElement} el Container owned by the caller (anywidget's view element).
 * @param {ViewHost} host
 * @param {ViewOptions} [options]
 * @returns {() => void} Cleanup: removes listeners and the rendered DOM.
 */
export function createView(el, host, options = {}) {
  const { store, ui } = host;
  const doc = el.ownerDocument;

  const root = h(doc, "div", "nbchat");
  // JupyterLab (Lumino) ignores its keyboard shortcuts for targets inside this.
  root.setAttribute("data-lm-suppress-shortcuts", "true");

  const header = h(doc, "div", "nbchat-header");
  const modelName = h(doc, "span", "nbchat-model");
  const endpoint = h(doc, "span", "nbchat-endpoint");
  const phase = h(doc, "span", "nbchat-phase");
  phase.setAttribute("role", "status");
  header.append(modelName, endpoint, phase);

  const body = h(doc, "div", "nbchat-body");
  const list = h(doc, "div", "nbchat-messages");
  list.setAttribute("role", "log");
  list.setAttribute("aria-live", "polite");
  list.setAttribute("aria-label", "Chat transcript");
  list.tabIndex = 0;
  const empty = h(doc, "div", "nbchat-empty", "No messages yet.");
  const jump = h(doc, "button", "nbchat-jump", "↓ new messages");
  jump.type = "button";
  jump.hidden = true;
  body.append(list, empty, jump);

  const composer = h(doc, "div", "nbchat-composer");
  const input = h(doc, "textarea", "nbchat-input");
  input.rows = 2;
  input.placeholder = "Message (Enter to send, Shift+Enter for a new line)";
  input.setAttribute("aria-label", "Message");
  input.setAttribute("data-lm-suppress-shortcuts", "true");
  const button = h(doc, "button", "nbchat-send");
  button.type = "button";
  composer.append(input, button);

  root.append(header, body, composer);
  el.append(root);

  const scroller = createAutoScroll(list, jump, { schedule: options.schedule });

  /** @type {Map<string, MessageRecord>} */
  const records = new Map();

  // ---- messages -------------------------------------------------------------------

  /**
   * @param {MessageRecord} record
   * @param {string} text
   */
  function appendText(record, text) {
    const tail = record.tail;
    if (tail && tail.length + text.length <= TEXT_CHUNK) {
      tail.appendData(text);
    } else {
      const node = doc.createTextNode(text);
      record.content.insertBefore(node, record.cursor);
      record.tail = node;
    }
    record.text += text;
  }

  /**
   * @param {MessageRecord} record
   * @param {string} text
   */
  function replaceText(record, text) {
    record.content.textContent = "";
    record.tail = null;
    record.text = "";
    if (record.cursor) record.content.append(record.cursor);
    if (text) appendText(record, text);
  }

  /**
   * @param {MessageRecord} record
   * @param {StoreMessage} message
   */
  function updateFooter(record, message) {
    const marker = markerLabel(message.status);
    const metrics = message.role === "assistant" ? metricsText(message.metrics) : "";
    const key = JSON.stringify([marker, message.error, metrics]);
    if (key === record.footerKey) return;
    record.footerKey = key;
    const footer = record.footer;
    footer.textContent = "";
    if (marker) {
      const badge = h(doc, "span", "nbchat-marker", marker);
      badge.setAttribute("data-kind", message.status);
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
   * @param {MessageRecord} record
   * @param {StoreMessage} message
   */
  function updateMessage(record, message) {
    if (record.el.getAttribute("data-status") !== message.status) {
      record.el.setAttribute("data-status", message.status);
    }
    if (record.role !== message.role) {
      record.role = message.role;
      record.el.setAttribute("data-role", message.role);
      const label = record.el.querySelector(".nbchat-role");
      if (label) label.textContent = roleLabel(message.role);
    }
    const streaming = message.status === "streaming";
    if (streaming && !record.cursor) {
      record.cursor = h(doc, "span", "nbchat-cursor");
      record.cursor.setAttribute("aria-hidden", "true");
      record.content.append(record.cursor);
    } else if (!streaming && record.cursor) {
      record.cursor.remove();
      record.cursor = null;
    }
    const text = message.content;
    if (text !== record.text) {
      if (text.length > record.text.length && text.startsWith(record.text)) {
        appendText(record, text.slice(record.text.length));
      } else {
        replaceText(record, text);
      }
    }
    updateFooter(record, message);
  }

  /**
   * @param {StoreMessage} message
   * @returns {MessageRecord}
   */
  function createRecord(message) {
    const item = h(doc, "div", "nbchat-message");
    item.setAttribute("data-id", message.id);
    item.setAttribute("data-role", message.role);
    const label = h(doc, "div", "nbchat-role", roleLabel(message.role));
    label.setAttribute("aria-hidden", "true");
    const content = h(doc, "div", "nbchat-content");
    const footer = h(doc, "div", "nbchat-footer");
    footer.hidden = true;
    item.append(label, content, footer);
    /** @type {MessageRecord} */
    const record = {
      el: item,
      content,
      footer,
      cursor: null,
      tail: null,
      text: "",
      role: message.role,
      footerKey: "",
    };
    updateMessage(record, message);
    return record;
  }

  function renderSnapshot() {
    const state = store.getState();
    modelName.textContent = state.model;
    modelName.hidden = !state.model;
    endpoint.textContent = state.endpoint;
    endpoint.hidden = !state.endpoint;
    phase.textContent = phaseLabel(state.phase);
    phase.setAttribute("data-phase", state.phase);
    root.setAttribute("data-phase", state.phase);

    const seen = new Set();
    /** @type {ChildNode | null} */
    let next = list.firstChild;
    for (const message of state.messages) {
      if (seen.has(message.id)) continue;
      seen.add(message.id);
      let record = records.get(message.id);
      if (record) updateMessage(record, message);
      else {
        record = createRecord(message);
        records.set(message.id, record);
      }
      if (record.el === next) next = next.nextSibling;
      else list.insertBefore(record.el, next);
    }
    for (const [id, record] of records) {
      if (!seen.has(id)) {
        record.el.remove();
        records.delete(id);
      }
    }
    empty.hidden = state.messages.length > 0;
    renderButton();
    scroller.contentChanged();
  }

  /** @param {import("./store.js").TextDelta[]} deltas */
  function renderDeltas(deltas) {
    for (const { id, text } of deltas) {
      const record = records.get(id);
      if (record) appendText(record, text);
    }
    scroller.contentChanged();
  }

  /** @param {Change} change */
  function onChange(change) {
    if (change.kind === "text") renderDeltas(change.deltas);
    else renderSnapshot();
  }

  // ---- input ------------------------------------------------------------------------

  function renderButton() {
    if (isLive(store.getState().phase)) {
      button.textContent = "Stop";
      button.setAttribute("data-action", "stop");
      button.setAttribute("aria-label", "Stop the reply");
      button.classList.add("nbchat-stop");
    } else {
      button.textContent = "Send";
      button.setAttribute("data-action", "send");
      button.setAttribute("aria-label", "Send message");
      button.classList.remove("nbchat-stop");
    }
  }

  function submit() {
    if (isLive(store.getState().phase)) return;
    if (!host.send(input.value)) return;
    input.value = "";
    ui.draft = "";
  }

  function onButton() {
    if (isLive(store.getState().phase)) host.stop();
    else submit();
  }

  /** @param {KeyboardEvent} event */
  function onKeydown(event) {
    if (event.key !== "Escape") event.stopPropagation();
    if (event.target !== input) return;
    if (event.key === "Escape") {
      input.blur();
      return;
    }
    if (event.key !== "Enter" || event.shiftKey) return;
    // Enter that confirms an IME composition is not a send.
    if (event.isComposing || event.keyCode === 229) return;
    event.preventDefault();
    submit();
  }

  function onInput() {
    ui.draft = input.value;
  }

  function onFocus() {
    ui.focused = true;
  }

  function onBlur() {
    // Blur caused by the view being removed is not the user leaving the input:
    // by the next microtask the input is detached, and the focus is remembered.
    queueMicrotask(() => {
      if (input.isConnected) ui.focused = false;
    });
  }

  root.addEventListener("keydown", onKeydown);
  input.addEventListener("input", onInput);
  input.addEventListener("focus", onFocus);
  input.addEventListener("blur", onBlur);
  button.addEventListener("click", onButton);

  // ---- start --------------------------------------------------------------------------

  input.value = ui.draft;
  renderSnapshot();
  const unsubscribe = store.subscribe(onChange);
  const active = doc.activeElement;
  // Give focus back only if it was lost with the old view, never steal it.
  if (ui.focused && (!active || active === doc.body || active === doc.documentElement)) {
    input.focus({ preventScroll: true });
    const end = input.value.length;
    input.setSelectionRange(end, end);
  }

  let destroyed = false;
  return function destroy() {
    if (destroyed) return;
    destroyed = true;
    unsubscribe();
    scroller.destroy();
    root.removeEventListener("keydown", onKeydown);
    input.removeEventListener("input", onInput);
    input.removeEventListener("focus", onFocus);
    input.removeEventListener("blur", onBlur);
    button.removeEventListener("click", onButton);
    root.remove();
  };
}
