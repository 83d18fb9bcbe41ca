// @ts-check
/**
 * What the buttons inside rendered replies do (one listener on the transcript):
 *
 * - `button.nbchat-copy[data-copy=code]` copies its code block's text;
 *   `[data-copy=message]` copies the whole reply's Markdown source. The button says
 *   "Copied" (or why not) for a moment.
 * - `button.nbchat-image-load[data-src]` replaces itself with the image, loaded only
 *   now that the user asked (an `http(s):` URL, nothing else).
 * - `button.nbchat-approve` / `button.nbchat-deny` in a tool row waiting for approval
 *   answer it (both disabled until the row changes).
 *
 * @module
 */

import { REMOTE_IMAGE } from "./markdown.js";

const FEEDBACK_MS = 1500;

/**
 * The text a copy button copies, or null when there is none.
 *
 * @param {Element} button
 * @param {(messageId: string) => string | null} sourceOf A reply's Markdown by id.
 * @returns {string | null}
 */
export function copyTextFor(button, sourceOf) {
  const kind = button.getAttribute("data-copy");
  if (kind === "code") {
    const code = button.closest(".nbchat-code")?.querySelector("pre code, pre");
    return code ? (code.textContent ?? "") : null;
  }
  if (kind === "message") {
    const id = button.closest(".nbchat-message")?.getAttribute("data-id");
    return id ? sourceOf(id) : null;
  }
  return null;
}

/**
 * Put `text` on the clipboard (the async Clipboard API, else a hidden textarea).
 *
 * @param {Document} doc
 * @param {string} text
 * @returns {Promise<boolean>}
 */
export async function writeClipboard(doc, text) {
  const clipboard = doc.defaultView?.navigator?.clipboard;
  if (clipboard && typeof clipboard.writeText === "function") {
    try {
      await clipboard.writeText(text);
      return true;
    } catch {
      // not allowed here (no focus, an insecure origin): try the old way
    }
  }
  const area = doc.createElement("textarea");
  area.value = text;
  area.setAttribute("readonly", "");
  area.style.position = "fixed";
  area.style.opacity = "0";
  doc.body.append(area);
  area.select();
  let done = false;
  try {
    done = doc.execCommand("copy");
  } catch {
    done = false;
  }
  area.remove();
  return done;
}

/**
 * Replace a load-image button with its image.
 *
 * @param {HTMLElement} button
 * @returns {HTMLImageElement | null}
 */
export function loadImage(button) {
  const src = button.getAttribute("data-src") ?? "";
  if (!REMOTE_IMAGE.test(src)) return null;
  const img = button.ownerDocument.createElement("img");
  img.className = "nbchat-image";
  img.alt = button.getAttribute("data-alt") ?? "";
  img.referrerPolicy = "no-referrer";
  img.src = src;
  button.replaceWith(img);
  return img;
}

/**
 * Handle clicks on copy, image and approval buttons inside `list`.
 *
 * @param {HTMLElement} list
 * @param {(messageId: string) => string | null} sourceOf
 * @param {(callId: string, approved: boolean) => void} [decide] Answer a tool call's
 *   approval.
 * @returns {() => void} Removes the listener.
 */
export function listenForActions(list, sourceOf, decide) {
  const doc = list.ownerDocument;
  /** @param {MouseEvent} event */
  function onClick(event) {
    const target = /** @type {Element | null} */ (event.target);
    const button = target?.closest?.(
      "button.nbchat-copy, button.nbchat-image-load, button.nbchat-approve, button.nbchat-deny",
    );
    if (!button || !list.contains(button)) return;
    if (button.classList.contains("nbchat-approve") || button.classList.contains("nbchat-deny")) {
      const id = button.closest(".nbchat-tool")?.getAttribute("data-id");
      if (!id || !decide) return;
      for (const b of button.parentElement?.querySelectorAll("button") ?? []) {
        /** @type {HTMLButtonElement} */ (b).disabled = true;
      }
      decide(id, button.classList.contains("nbchat-approve"));
      return;
    }
    if (button.classList.contains("nbchat-image-load")) {
      loadImage(/** @type {HTMLElement} */ (button));
      return;
    }
    const text = copyTextFor(button, sourceOf);
    if (text === null) return;
    const label = button.textContent;
    void writeClipboard(doc, text).then((ok) => {
      button.textContent = ok ? "Copied" : "Copy failed";
      setTimeout(() => {
        button.textContent = label;
      }, FEEDBACK_MS);
    });
  }
  list.addEventListener("click", onClick);
  return () => list.removeEventListener("click", onClick);
}
