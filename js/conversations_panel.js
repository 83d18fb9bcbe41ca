// @ts-check
/**
 * The Conversations panel: the history's conversations, the most recently active
 * first, each with Open and Delete (Delete asks once more before it deletes).
 *
 * ```
 * div.nbchat-panel[role=region][aria-label=Conversations]
 *   div.nbchat-panel-head > span, button.nbchat-panel-close
 *   div.nbchat-panel-status                 (loading, empty, or why not)
 *   ul.nbchat-conversations > li.nbchat-conversation[data-name][data-current]
 *     span.nbchat-conversation-title, span.nbchat-conversation-meta,
 *     button.nbchat-conversation-open, button.nbchat-conversation-delete[data-confirm]
 *   div.nbchat-panel-more                   (how many older ones are not listed)
 * ```
 *
 * Titles and names are the user's own text and go in as text nodes.
 *
 * @module
 */

import { h, setTextShown } from "./dom.js";
import { timeText } from "./format.js";

/** @typedef {import("./view.js").ViewHost} ViewHost */
/** @typedef {import("./types.js").ConversationRow} ConversationRow */
/** @typedef {import("./types.js").ConversationList} ConversationList */

/** How long a Delete waits for its confirming second click. */
const CONFIRM_MS = 4000;

/**
 * @typedef {object} ConversationsPanel
 * @property {HTMLElement} el
 * @property {() => void} toggle Open (and load the list) or close.
 * @property {(current: string) => void} render Mark the chat's own conversation.
 * @property {() => void} destroy
 */

/**
 * The last part of a notebook path, for a short line ("analysis.ipynb").
 *
 * @param {string} path
 */
function shortName(path) {
  const plain = path.split("#", 1)[0];
  return plain.slice(plain.lastIndexOf("/") + 1) || plain;
}

/**
 * @param {Document} doc
 * @param {ViewHost} host
 * @returns {ConversationsPanel}
 */
export function createConversationsPanel(doc, host) {
  const el = h(doc, "div", "nbchat-panel");
  el.setAttribute("role", "region");
  el.setAttribute("aria-label", "Conversations");
  el.hidden = true;
  const head = h(doc, "div", "nbchat-panel-head");
  const close = h(doc, "button", "nbchat-panel-close", "×");
  close.type = "button";
  close.setAttribute("aria-label", "Close the conversations");
  head.append(h(doc, "span", "", "Conversations in the history"), close);
  const status = h(doc, "div", "nbchat-panel-status");
  status.setAttribute("role", "status");
  const list = h(doc, "ul", "nbchat-conversations");
  const more = h(doc, "div", "nbchat-panel-more");
  el.append(head, status, list, more);

  let current = "";
  /** @type {ReturnType<typeof setTimeout> | undefined} */
  let confirmTimer;

  /** @param {ConversationList} listing */
  function show(listing) {
    const items = Array.isArray(listing.items) ? listing.items : [];
    list.replaceChildren(...items.map(row));
    setTextShown(status, items.length ? "" : "No saved conversations yet.");
    setTextShown(
      more,
      listing.more > 0
        ? `${listing.more.toLocaleString("en")} older conversations are not listed: nbchat.conversations() lists them all`
        : "",
    );
    render(current);
  }

  /** @param {ConversationRow} item */
  function row(item) {
    const li = h(doc, "li", "nbchat-conversation");
    li.setAttribute("data-name", item.name);
    const title = h(doc, "span", "nbchat-conversation-title", item.title || "(no message yet)");
    title.title = item.name;
    const when = timeText(item.last_activity);
    const count = `${item.messages.toLocaleString("en")} message${item.messages === 1 ? "" : "s"}`;
    const meta = [item.notebook ? shortName(item.notebook) : "", count, when ? when.long : ""];
    const details = h(doc, "span", "nbchat-conversation-meta", meta.filter(Boolean).join(" · "));
    const open = h(doc, "button", "nbchat-conversation-open", "Open");
    open.type = "button";
    const remove = h(doc, "button", "nbchat-conversation-delete", "Delete");
    remove.type = "button";
    remove.title = "Delete this conversation from the history";
    li.append(title, details, open, remove);
    return li;
  }

  /** @param {string} name */
  function render(name) {
    current = name;
    for (const li of list.children) {
      const mine = li.getAttribute("data-name") === name;
      li.toggleAttribute("data-current", mine);
      const open = /** @type {HTMLButtonElement | null} */ (
        li.querySelector(".nbchat-conversation-open")
      );
      if (open) {
        open.disabled = mine;
        open.textContent = mine ? "Shown" : "Open";
      }
    }
  }

  function load() {
    setTextShown(status, "Loading…");
    host.listConversations?.().then(show, (/** @type {Error} */ error) => {
      setTextShown(status, `Could not list the conversations: ${error.message}`);
    });
  }

  function toggle() {
    el.hidden = !el.hidden;
    if (!el.hidden) load();
  }

  /** @param {MouseEvent} event */
  function onClick(event) {
    const button = /** @type {HTMLElement | null} */ (event.target)?.closest("button");
    if (!button) return;
    if (button === close) {
      el.hidden = true;
      return;
    }
    const name = button.closest("li")?.getAttribute("data-name");
    if (!name) return;
    if (button.classList.contains("nbchat-conversation-open")) {
      if (host.openConversation?.(name)) el.hidden = true;
    } else if (button.classList.contains("nbchat-conversation-delete")) {
      if (!button.hasAttribute("data-confirm")) {
        button.setAttribute("data-confirm", "");
        button.textContent = "Delete for good?";
        clearTimeout(confirmTimer);
        confirmTimer = setTimeout(() => {
          button.removeAttribute("data-confirm");
          button.textContent = "Delete";
        }, CONFIRM_MS);
        return;
      }
      clearTimeout(confirmTimer);
      /** @type {HTMLButtonElement} */ (button).disabled = true;
      host.deleteConversation?.(name).then(show, (/** @type {Error} */ error) => {
        setTextShown(status, `Could not delete it: ${error.message}`);
      });
    }
  }

  /** @param {KeyboardEvent} event */
  function onKeydown(event) {
    if (event.key === "Escape") {
      event.stopPropagation();
      el.hidden = true;
    }
  }

  el.addEventListener("click", onClick);
  el.addEventListener("keydown", onKeydown);

  return {
    el,
    toggle,
    render,
    destroy() {
      clearTimeout(confirmTimer);
      el.removeEventListener("click", onClick);
      el.removeEventListener("keydown", onKeydown);
    },
  };
}
