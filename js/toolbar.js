// @ts-check
/**
 * The chat's controls, at the right of its header: the model picker (when the chat
 * has several models), New, Clear, Undo, Conversations and Export.
 *
 * ```
 * div.nbchat-toolbar[role=toolbar]
 *   select.nbchat-model-picker            (hidden unless several models)
 *   button.nbchat-tool-button[data-action=new|clear|undo|conversations|export]
 *   div.nbchat-menu[role=menu] > button[role=menuitem][data-format=markdown|json|html]
 * ```
 *
 * Every button does what the chat's method of that name does in the kernel; none
 * works while a reply streams or when the kernel is gone.
 *
 * @module
 */

import { h, saveFile } from "./dom.js";
import { isLive } from "./store.js";

/** @typedef {import("./view.js").ViewHost} ViewHost */
/** @typedef {import("./store.js").State} State */

const BUTTONS = /** @type {const} */ ([
  ["new", "New", "Start a new conversation (this one stays in the history)"],
  ["clear", "Clear", "The model forgets the messages so far; they stay on screen"],
  ["undo", "Undo", "Take back the last exchange (or the last Clear)"],
  ["conversations", "Conversations", "Reopen or delete a conversation from the history"],
  ["export", "Export", "Download this conversation"],
]);

const FORMATS = /** @type {const} */ ([
  ["markdown", "Markdown (.md)"],
  ["json", "JSON (.json)"],
  ["html", "HTML page (.html)"],
]);

/**
 * @typedef {object} Toolbar
 * @property {HTMLElement} el
 * @property {(state: Readonly<State>) => void} render
 * @property {() => void} destroy
 */

/**
 * @param {Document} doc
 * @param {ViewHost} host
 * @param {() => void} togglePanel Open or close the Conversations panel.
 * @returns {Toolbar}
 */
export function createToolbar(doc, host, togglePanel) {
  const el = h(doc, "div", "nbchat-toolbar");
  el.setAttribute("role", "toolbar");
  el.setAttribute("aria-label", "Chat controls");
  const picker = h(doc, "select", "nbchat-model-picker");
  picker.setAttribute("aria-label", "Model");
  picker.title = "The model that answers the next message";
  picker.hidden = true;
  el.append(picker);
  /** @type {Map<string, HTMLButtonElement>} */
  const buttons = new Map();
  for (const [action, label, title] of BUTTONS) {
    const button = h(doc, "button", "nbchat-tool-button", label);
    button.type = "button";
    button.title = title;
    button.setAttribute("data-action", action);
    buttons.set(action, button);
    el.append(button);
  }
  const exportButton = /** @type {HTMLButtonElement} */ (buttons.get("export"));
  exportButton.setAttribute("aria-haspopup", "menu");
  exportButton.setAttribute("aria-expanded", "false");
  const menu = h(doc, "div", "nbchat-menu");
  menu.setAttribute("role", "menu");
  menu.hidden = true;
  for (const [format, label] of FORMATS) {
    const item = h(doc, "button", "nbchat-menu-item", label);
    item.type = "button";
    item.setAttribute("role", "menuitem");
    item.setAttribute("data-format", format);
    menu.append(item);
  }
  el.append(menu);

  /** @param {boolean} open */
  function setMenu(open) {
    menu.hidden = !open;
    exportButton.setAttribute("aria-expanded", String(open));
  }

  /** @param {Readonly<State>} state */
  function render(state) {
    const off = isLive(state.phase) || Boolean(host.ui.gone);
    for (const button of buttons.values()) button.disabled = off;
    picker.disabled = off;
    const choices = state.models.includes(state.model) || !state.model
      ? state.models
      : [...state.models, state.model];
    picker.hidden = state.models.length < 2;
    if (picker.hidden) return;
    const names = [...picker.options].map((o) => o.value);
    if (names.join("\n") !== choices.join("\n")) {
      picker.replaceChildren(
        ...choices.map((name) => {
          const option = h(doc, "option", "", name);
          option.value = name;
          return option;
        }),
      );
    }
    if (picker.value !== state.model) picker.value = state.model;
  }

  /** @param {MouseEvent} event */
  function onClick(event) {
    const target = /** @type {HTMLElement | null} */ (event.target);
    const button = target?.closest("button");
    if (!button || !el.contains(button)) return;
    const format = button.getAttribute("data-format");
    if (format) {
      setMenu(false);
      host.exportAs?.(format).then(
        (file) => saveFile(doc, file),
        () => {}, // the channel shows why (ui.refused)
      );
      return;
    }
    const action = button.getAttribute("data-action");
    if (action === "export") setMenu(menu.hidden);
    else if (action === "conversations") togglePanel();
    else if (action === "new" || action === "clear" || action === "undo") host.act?.(action);
  }

  function onPick() {
    if (picker.value) host.pickModel?.(picker.value);
  }

  /** @param {KeyboardEvent} event */
  function onKeydown(event) {
    if (event.key === "Escape" && !menu.hidden) {
      event.stopPropagation();
      setMenu(false);
      exportButton.focus();
    }
  }

  el.addEventListener("click", onClick);
  el.addEventListener("keydown", onKeydown);
  picker.addEventListener("change", onPick);

  return {
    el,
    render,
    destroy() {
      el.removeEventListener("click", onClick);
      el.removeEventListener("keydown", onKeydown);
      picker.removeEventListener("change", onPick);
    },
  };
}
