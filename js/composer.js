// @ts-check
/**
 * The bottom of the chat: the lines about the input (kernel gone, a message queued,
 * the last message being edited, a request refused), the input box and Send / Stop.
 *
 * ```
 * div.nbchat-gone[role=alert]          (the kernel is gone: re-run the cell)
 * div.nbchat-refused[role=status]      (why the kernel refused a request, for a while)
 * div.nbchat-queued > span.nbchat-queued-text, button.nbchat-unqueue
 * div.nbchat-editing > span, button.nbchat-cancel-edit
 * div.nbchat-composer > textarea.nbchat-input, button.nbchat-send[data-action=send|stop]
 * ```
 *
 * Enter while a reply streams queues the message (sent when the reply ends). While
 * editing, Enter replaces the last user message and answers it anew; Escape or × goes
 * back to a new message, the draft typed before the edit restored.
 *
 * @module
 */

import { h, setTextShown } from "./dom.js";
import { isLive } from "./store.js";

/** @typedef {import("./view.js").ViewHost} ViewHost */

/**
 * @typedef {object} Composer
 * @property {HTMLElement[]} elements In page order, for the view to append.
 * @property {() => void} render The phase changed (Send or Stop).
 * @property {(text: string) => void} startEdit Put the last user message in the box.
 * @property {() => void} restoreFocus Give focus back if the previous view had it.
 * @property {() => void} destroy
 */

/**
 * @param {Document} doc
 * @param {ViewHost} host
 * @returns {Composer}
 */
export function createComposer(doc, host) {
  const { store, ui } = host;

  const gone = h(doc, "div", "nbchat-gone");
  gone.setAttribute("role", "alert");
  gone.hidden = true;
  const refused = h(doc, "div", "nbchat-refused");
  refused.setAttribute("role", "status");
  refused.hidden = true;
  const queued = h(doc, "div", "nbchat-queued");
  queued.setAttribute("role", "status");
  queued.hidden = true;
  const queuedText = h(doc, "span", "nbchat-queued-text");
  const unqueue = h(doc, "button", "nbchat-unqueue", "×");
  unqueue.type = "button";
  unqueue.title = "Do not send this message";
  unqueue.setAttribute("aria-label", "Remove the queued message");
  queued.append(queuedText, unqueue);
  const editing = h(doc, "div", "nbchat-editing");
  editing.hidden = true;
  const cancelEdit = h(doc, "button", "nbchat-cancel-edit", "×");
  cancelEdit.type = "button";
  cancelEdit.title = "Cancel the edit (Esc)";
  cancelEdit.setAttribute("aria-label", "Cancel the edit");
  editing.append(
    h(doc, "span", "", "Editing your last message: Enter sends it again, replacing the reply"),
    cancelEdit,
  );

  const composer = h(doc, "div", "nbchat-composer");
  const input = h(doc, "textarea", "nbchat-input");
  input.rows = 2;
  input.placeholder = "Message (Enter to send, Shift+Enter for a new line)";
  input.setAttribute("aria-label", "Message");
  input.setAttribute("data-lm-suppress-shortcuts", "true");
  const button = h(doc, "button", "nbchat-send");
  button.type = "button";
  composer.append(input, button);

  /** The draft typed before an edit began, restored when it is cancelled. */
  let draftBeforeEdit = "";
  let isEditing = false;

  /** @param {boolean} on */
  function setEditing(on) {
    isEditing = on;
    editing.hidden = !on;
    composer.toggleAttribute("data-editing", on);
  }

  function render() {
    const live = isLive(store.getState().phase);
    if (live) {
      button.textContent = "Stop";
      button.setAttribute("data-action", "stop");
      button.setAttribute("aria-label", "Stop the reply");
    } else {
      button.textContent = isEditing ? "Resend" : "Send";
      button.setAttribute("data-action", "send");
      button.setAttribute("aria-label", isEditing ? "Send the edited message" : "Send message");
    }
    button.classList.toggle("nbchat-stop", live);
  }

  function submit() {
    if (ui.gone) return;
    if (isEditing) {
      if (host.edit?.(input.value)) stopEdit();
      return;
    }
    if (isLive(store.getState().phase)) {
      // A reply is streaming: the message waits its turn (shown above the box).
      if (!host.queue?.(input.value)) return;
    } else if (!host.send(input.value)) {
      return;
    }
    input.value = "";
    ui.draft = "";
  }

  /**
   * Show `text` in the box, in edit mode or not.
   *
   * @param {boolean} editing
   * @param {string} text
   */
  function fill(editing, text) {
    setEditing(editing);
    input.value = text;
    ui.draft = text;
    render();
  }

  /** @param {string} text */
  function startEdit(text) {
    if (!isEditing) draftBeforeEdit = input.value;
    fill(true, text);
    input.focus();
    input.setSelectionRange(text.length, text.length);
  }

  /** Leave edit mode: the draft typed before it comes back. */
  function stopEdit() {
    if (isEditing) fill(false, draftBeforeEdit);
  }

  /** The queued message, the dead-kernel line and a refusal, from the UI state. */
  function renderUi() {
    setTextShown(queuedText, ui.queued ? `Queued: ${ui.queued}` : "");
    queued.title = ui.queued ? "Sent when the reply ends" : "";
    if (queued.hidden !== !ui.queued) queued.hidden = !ui.queued;
    setTextShown(refused, ui.refused ? `Not done: ${ui.refused}` : "");
    const why = ui.gone;
    setTextShown(
      gone,
      why ? `Not connected: ${why}. Re-run this cell to chat again (your draft is kept).` : "",
    );
    input.readOnly = Boolean(why);
    button.disabled = Boolean(why);
  }

  function onButton() {
    if (isLive(store.getState().phase)) host.stop();
    else submit();
  }

  /** @param {KeyboardEvent} event */
  function onKeydown(event) {
    if (event.key === "Escape") {
      if (isEditing) {
        event.stopPropagation(); // only the edit ends, not the notebook's edit mode
        stopEdit();
      } else input.blur();
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

  function onUnqueue() {
    host.unqueue?.();
  }

  // One signal removes every listener at once (destroy).
  const listening = new AbortController();
  const { signal } = listening;
  input.addEventListener("keydown", onKeydown, { signal });
  input.addEventListener("input", onInput, { signal });
  input.addEventListener("focus", onFocus, { signal });
  input.addEventListener("blur", onBlur, { signal });
  button.addEventListener("click", onButton, { signal });
  unqueue.addEventListener("click", onUnqueue, { signal });
  cancelEdit.addEventListener("click", stopEdit, { signal });
  const unsubscribeUi = host.subscribeUi?.(renderUi);

  input.value = ui.draft;
  render();
  renderUi();

  return {
    elements: [gone, refused, queued, editing, composer],
    render,
    startEdit,
    restoreFocus() {
      const active = doc.activeElement;
      // Give focus back only if it was lost with the old view, never steal it.
      if (ui.focused && (!active || active === doc.body || active === doc.documentElement)) {
        input.focus({ preventScroll: true });
        const end = input.value.length;
        input.setSelectionRange(end, end);
      }
    },
    destroy() {
      unsubscribeUi?.();
      listening.abort();
    },
  };
}
