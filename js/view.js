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
 *   div.nbchat-header > span.nbchat-model, span.nbchat-endpoint, span.nbchat-phase[data-phase],
 *                       div.nbchat-toolbar (see toolbar.js)
 *   div.nbchat-panel                  (the Conversations panel, see conversations_panel.js)
 *   div.nbchat-body > div.nbchat-messages > button.nbchat-older, div.nbchat-message…,
 *                     div.nbchat-context-line (above the first message the model
 *                     is sent, when older ones are left out), div.nbchat-empty,
 *                     button.nbchat-jump
 *   div.nbchat-notice                 (a transient line about the running turn)
 *   the composer's lines and div.nbchat-composer (see composer.js)
 * ```
 *
 * When no turn runs, the last assistant reply ends with `button.nbchat-retry`: "Retry"
 * when it ended interrupted / error / stopped, "Regenerate" when it finished; and the
 * last user message with `button.nbchat-edit` ("Edit": its text goes back into the
 * box, and Enter answers it anew). Retry is disabled from a click until the next
 * snapshot. A note (`chat.clear()`) shows as a line across the transcript.
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
import { createComposer } from "./composer.js";
import { createConversationsPanel } from "./conversations_panel.js";
import { phaseLabel } from "./format.js";
import { h } from "./dom.js";
import { appendDelta, createMessage, updateMessage } from "./message.js";
import { MAX_LOADED } from "./channel.js";
import { editTarget, retryTarget } from "./store.js";
import { createToolbar } from "./toolbar.js";

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
 *   / `ui.refused` changed.
 * @property {(text: string) => boolean} [edit] Replace the last user message.
 * @property {(action: "new" | "clear" | "undo") => boolean} [act]
 * @property {(model: string) => boolean} [pickModel]
 * @property {(name: string) => boolean} [openConversation]
 * @property {() => Promise<import("./types.js").ConversationList>} [listConversations]
 * @property {(name: string) => Promise<import("./types.js").ConversationList>} [deleteConversation]
 * @property {(format: string) => Promise<import("./types.js").ExportFile>} [exportAs]
 * @property {(callId: string, approved: boolean) => void} [decide] Approve or deny a
 *   tool call that waits for it.
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
  const panel = createConversationsPanel(doc, host);
  const toolbar = createToolbar(doc, host, panel.toggle);
  header.append(modelName, endpoint, phase, toolbar.el);

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
  const edit = h(doc, "button", "nbchat-edit", "Edit");
  edit.type = "button";
  edit.title = "Change this message and send it again (the reply is replaced)";

  const composer = createComposer(doc, host);
  root.append(header, panel.el, body, notice, ...composer.elements);
  el.append(root);

  const scroller = createAutoScroll(list, jump, { schedule: options.schedule });

  /** @type {Map<string, MessageRecord>} */
  const records = new Map();
  /** How a reply's Markdown renders: once a frame (or as the host schedules). */
  const richOptions = {
    schedule: options.renderSchedule,
    onRender: () => scroller.contentChanged(),
  };
  const stopActions = listenForActions(
    list,
    (id) => records.get(id)?.parts?.source() ?? null,
    host.decide,
  );

  function renderSnapshot() {
    const state = store.getState();
    modelName.textContent = state.model;
    modelName.hidden = !state.model || state.models.length > 1; // else the picker shows it
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
    renderLastActions();
    composer.render();
    toolbar.render(state);
    panel.render(state.conversation);
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

  /** Put Retry / Regenerate and Edit on the messages they would replace, or take them away. */
  function renderLastActions() {
    const state = store.getState();
    const target = retryTarget(state);
    const record = target && records.get(target.id);
    // A snapshot answers the previous retry (or shows it was not taken): enable again.
    retry.disabled = Boolean(ui.gone);
    if (!record || !target) retry.remove();
    else {
      const again = target.status === "done";
      retry.textContent = again ? "Regenerate" : "Retry";
      retry.title = again ? "Answer the last message again" : "Ask for this reply again";
      if (record.el.lastChild !== retry) record.el.append(retry);
    }
    const question = editTarget(state);
    const asked = question && records.get(question.id);
    edit.disabled = Boolean(ui.gone);
    if (!asked || !host.edit) edit.remove();
    else if (asked.el.lastChild !== edit) asked.el.append(edit);
  }

  function onRetry() {
    // Refused only while a send or retry waits for the kernel: disabled either way.
    host.retry();
    retry.disabled = true;
  }

  function onEdit() {
    const question = editTarget(store.getState());
    if (question) composer.startEdit(question.content);
  }

  function onUi() {
    renderLastActions();
    toolbar.render(store.getState());
    root.toggleAttribute("data-gone", Boolean(ui.gone));
  }

  /** @param {KeyboardEvent} event */
  function onKeydown(event) {
    // Keys typed in the chat are the chat's, not the notebook's (Escape aside).
    if (event.key !== "Escape") event.stopPropagation();
  }

  root.addEventListener("keydown", onKeydown);
  retry.addEventListener("click", onRetry);
  edit.addEventListener("click", onEdit);
  older.addEventListener("click", onOlder);

  // ---- start --------------------------------------------------------------------------

  renderSnapshot();
  const unsubscribe = store.subscribe(onChange);
  const unsubscribeUi = host.subscribeUi?.(onUi);
  onUi();
  composer.restoreFocus();

  let destroyed = false;
  return function destroy() {
    if (destroyed) return;
    destroyed = true;
    unsubscribe();
    unsubscribeUi?.();
    composer.destroy();
    toolbar.destroy();
    panel.destroy();
    scroller.destroy();
    stopActions();
    root.removeEventListener("keydown", onKeydown);
    retry.removeEventListener("click", onRetry);
    edit.removeEventListener("click", onEdit);
    older.removeEventListener("click", onOlder);
    watcher?.disconnect();
    root.remove();
  };
}
