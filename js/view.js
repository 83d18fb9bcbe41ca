// @ts-check
/**
 * DOM rendering of one store: header, notice, transcript, input. No widget model here.
 *
 * Model output is untrusted: it only ever enters the page as text nodes, never as
 * HTML. A snapshot reconciles the transcript by message id (elements of unchanged
 * messages are kept; see `message.js` for one message's DOM); a text delta appends to
 * one text node of one message, so the cost of a delta does not grow with the
 * transcript.
 *
 * ```
 * div.nbchat[data-phase]
 *   div.nbchat-header > span.nbchat-model, span.nbchat-endpoint, span.nbchat-phase[data-phase]
 *   div.nbchat-body > div.nbchat-messages > button.nbchat-older, div.nbchat-message…,
 *                     div.nbchat-context-line (above the first message the model
 *                     is sent, when older ones are left out), div.nbchat-empty,
 *                     button.nbchat-jump
 *   div.nbchat-notice                 (a transient line about the running turn)
 *   div.nbchat-composer > textarea.nbchat-input, button.nbchat-send[data-action=send|stop]
 * ```
 *
 * The last assistant reply, when it ended interrupted / error / stopped and no turn
 * runs, ends with `button.nbchat-retry` ("Retry"); it is disabled from a click until
 * the next snapshot.
 *
 * A long chat opens on its last page: `button.nbchat-older` ("Show N earlier
 * messages") loads the page before, when clicked or when it scrolls into view; the
 * reading position stays where it was as the older messages appear above it. At most
 * `MAX_LOADED` messages are loaded, so the DOM stays bounded; the button then says
 * where the rest is.
 *
 * @module
 */

import { listenForActions } from "./actions.js";
import { createAutoScroll } from "./autoscroll.js";
import { phaseLabel } from "./format.js";
import { h, setTextShown } from "./dom.js";
import { appendDelta, createMessage, updateMessage } from "./message.js";
import { MAX_LOADED } from "./channel.js";
import { isLive, retryTarget } from "./store.js";

/** @typedef {import("./store.js").Store} Store */
/** @typedef {import("./store.js").Change} Change */
/** @typedef {import("./channel.js").UiState} UiState */
/** @typedef {import("./message.js").MessageRecord} MessageRecord */

export { TEXT_CHUNK } from "./message.js";

/**
 * What a view needs from its channel.
 *
 * @typedef {object} ViewHost
 * @property {Store} store
 * @property {UiState} ui
 * @property {(text: string) => boolean} send
 * @property {() => void} stop
 * @property {() => boolean} retry
 * @property {() => boolean} [loadOlder] Ask for the page before the first message.
 * @property {(text: string) => boolean} [queue] Keep a message to send when the reply
 *   ends (Enter while a reply streams); without it such an Enter keeps the text.
 * @property {() => void} [unqueue] Drop the queued message.
 * @property {(listener: () => void) => () => void} [subscribeUi] `ui.queued` / `ui.gone`
 *   changed.
 */

/**
 * @typedef {object} ViewOptions
 * @property {(callback: () => void) => void} [schedule] Frame scheduler for auto-scroll.
 * @property {(callback: () => void) => void} [renderSchedule] When a streaming reply's
 *   Markdown renders (default: the next animation frame).
 */

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
  const older = h(doc, "button", "nbchat-older");
  older.type = "button";
  older.hidden = true;
  const empty = h(doc, "div", "nbchat-empty", "No messages yet.");
  const contextLine = h(
    doc,
    "div",
    "nbchat-context-line",
    "Messages above this line are not sent to the model (the chat's context limit)",
  );
  contextLine.setAttribute("role", "separator");
  const jump = h(doc, "button", "nbchat-jump", "↓ new messages");
  jump.type = "button";
  jump.hidden = true;
  body.append(list, empty, jump);

  const notice = h(doc, "div", "nbchat-notice");
  notice.setAttribute("role", "status");
  notice.hidden = true;

  const retry = h(doc, "button", "nbchat-retry", "Retry");
  retry.type = "button";
  retry.title = "Ask for this reply again";

  const gone = h(doc, "div", "nbchat-gone");
  gone.setAttribute("role", "alert");
  gone.hidden = true;
  const queued = h(doc, "div", "nbchat-queued");
  queued.setAttribute("role", "status");
  queued.hidden = true;
  const queuedText = h(doc, "span", "nbchat-queued-text");
  const unqueue = h(doc, "button", "nbchat-unqueue", "×");
  unqueue.type = "button";
  unqueue.title = "Do not send this message";
  unqueue.setAttribute("aria-label", "Remove the queued message");
  queued.append(queuedText, unqueue);

  const composer = h(doc, "div", "nbchat-composer");
  const input = h(doc, "textarea", "nbchat-input");
  input.rows = 2;
  input.placeholder = "Message (Enter to send, Shift+Enter for a new line)";
  input.setAttribute("aria-label", "Message");
  input.setAttribute("data-lm-suppress-shortcuts", "true");
  const button = h(doc, "button", "nbchat-send");
  button.type = "button";
  composer.append(input, button);

  root.append(header, body, notice, gone, queued, composer);
  el.append(root);

  const scroller = createAutoScroll(list, jump, { schedule: options.schedule });

  /** @type {Map<string, MessageRecord>} */
  const records = new Map();
  /** How a reply's Markdown renders: once a frame (or as the host schedules). */
  const richOptions = {
    schedule: options.renderSchedule,
    onRender: () => scroller.contentChanged(),
  };
  const stopActions = listenForActions(list, (id) => records.get(id)?.parts?.source() ?? null);

  function renderSnapshot() {
    const state = store.getState();
    modelName.textContent = state.model;
    modelName.hidden = !state.model;
    endpoint.textContent = state.endpoint;
    endpoint.hidden = !state.endpoint;
    phase.textContent = phaseLabel(state.phase);
    phase.setAttribute("data-phase", state.phase);
    root.setAttribute("data-phase", state.phase);

    const full = state.messages.length >= MAX_LOADED;
    older.textContent = full
      ? `${state.offset.toLocaleString("en")} earlier messages are not shown here (they are in chat.messages and the history)`
      : `Show ${state.offset.toLocaleString("en")} earlier messages`;
    older.disabled = full;
    older.hidden = state.offset === 0;
    if (list.firstChild !== older) list.prepend(older);

    const seen = new Set();
    /** @type {ChildNode | null} */
    let next = older.nextSibling;
    for (const message of state.messages) {
      if (seen.has(message.id)) continue;
      seen.add(message.id);
      let record = records.get(message.id);
      if (record) updateMessage(record, message);
      else {
        record = createMessage(doc, message, richOptions);
        records.set(message.id, record);
      }
      if (next === contextLine) next = next.nextSibling;
      if (record.el === next) next = next.nextSibling;
      else list.insertBefore(record.el, next);
    }
    for (const [id, record] of records) {
      if (!seen.has(id)) {
        record.el.remove();
        records.delete(id);
      }
    }
    const start = records.get(state.contextStart);
    if (!start) contextLine.remove();
    else if (start.el.previousSibling !== contextLine) list.insertBefore(contextLine, start.el);
    empty.hidden = state.messages.length > 0;
    notice.textContent = state.notice;
    notice.hidden = !state.notice;
    renderRetry();
    renderButton();
    scroller.contentChanged();
  }

  /** @param {import("./store.js").TextDelta[]} deltas */
  function renderDeltas(deltas) {
    for (const { id, part, text } of deltas) {
      const record = records.get(id);
      if (record) appendDelta(record, part, text);
    }
    scroller.contentChanged();
  }

  /** @param {Change} change */
  function onChange(change) {
    if (change.kind === "text") renderDeltas(change.deltas);
    else if (change.kind === "page") {
      // Older messages appear above: keep what the user reads where it is.
      const fromBottom = list.scrollHeight - list.scrollTop;
      renderSnapshot();
      list.scrollTop = list.scrollHeight - fromBottom;
    } else renderSnapshot();
  }

  function onOlder() {
    // The channel refuses a second request while one is pending (or expired).
    host.loadOlder?.();
  }

  // Scrolling up to the top loads the page before, as the button does.
  const View = /** @type {any} */ (doc.defaultView);
  /** @type {IntersectionObserver | null} */
  const watcher =
    View && typeof View.IntersectionObserver === "function"
      ? new View.IntersectionObserver(
          (/** @type {IntersectionObserverEntry[]} */ entries) => {
            if (entries.some((entry) => entry.isIntersecting) && !older.hidden) onOlder();
          },
          { root: list },
        )
      : null;
  watcher?.observe(older);

  // ---- input ------------------------------------------------------------------------

  /** Put the Retry button on the reply it would replace, or take it away. */
  function renderRetry() {
    const target = retryTarget(store.getState());
    const record = target && records.get(target.id);
    // A snapshot answers the previous retry (or shows it was not taken): enable again.
    retry.disabled = false;
    if (!record) retry.remove();
    else if (record.el.lastChild !== retry) record.el.append(retry);
  }

  function onRetry() {
    // Refused only while a send or retry waits for the kernel: disabled either way.
    host.retry();
    retry.disabled = true;
  }

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
    if (ui.gone) return;
    if (isLive(store.getState().phase)) {
      // A reply is streaming: the message waits its turn (shown above the box).
      if (!host.queue?.(input.value)) return;
    } else if (!host.send(input.value)) {
      return;
    }
    input.value = "";
    ui.draft = "";
  }

  /** The queued message and the dead-kernel line, from the channel's UI state. */
  function renderUi() {
    setTextShown(queuedText, ui.queued ? `Queued: ${ui.queued}` : "");
    queued.title = ui.queued ? "Sent when the reply ends" : "";
    if (queued.hidden !== !ui.queued) queued.hidden = !ui.queued;
    const why = ui.gone;
    setTextShown(
      gone,
      why ? `Not connected: ${why}. Re-run this cell to chat again (your draft is kept).` : "",
    );
    root.toggleAttribute("data-gone", Boolean(why));
    input.readOnly = Boolean(why);
    button.disabled = Boolean(why);
    retry.disabled = retry.disabled || Boolean(why);
  }

  function onUnqueue() {
    host.unqueue?.();
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
  retry.addEventListener("click", onRetry);
  older.addEventListener("click", onOlder);

  // ---- start --------------------------------------------------------------------------

  input.value = ui.draft;
  renderSnapshot();
  const unsubscribe = store.subscribe(onChange);
  const unsubscribeUi = host.subscribeUi?.(renderUi);
  unqueue.addEventListener("click", onUnqueue);
  renderUi();
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
    unsubscribeUi?.();
    unqueue.removeEventListener("click", onUnqueue);
    scroller.destroy();
    stopActions();
    root.removeEventListener("keydown", onKeydown);
    input.removeEventListener("input", onInput);
    input.removeEventListener("focus", onFocus);
    input.removeEventListener("blur", onBlur);
    button.removeEventListener("click", onButton);
    retry.removeEventListener("click", onRetry);
    older.removeEventListener("click", onOlder);
    watcher?.disconnect();
    root.remove();
  };
}
