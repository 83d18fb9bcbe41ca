// @ts-check
/**
 * Small DOM helpers shared by the chat and the progress bar: make an element, and set
 * text or attributes only when they changed (a frame touches nothing that stayed).
 *
 * @module
 */

/**
 * @template {keyof HTMLElementTagNameMap} K
 * @param {Document} doc
 * @param {K} tag
 * @param {string} className
 * @param {string} [text]
 * @returns {HTMLElementTagNameMap[K]}
 */
export function h(doc, tag, className, text) {
  const el = doc.createElement(tag);
  el.className = className;
  if (text !== undefined) el.textContent = text;
  return el;
}

/**
 * @param {HTMLElement} el
 * @param {string} text
 */
export function setText(el, text) {
  if (el.textContent !== text) el.textContent = text;
}

/**
 * Set an attribute when it changed; remove it for null.
 *
 * @param {Element} el
 * @param {string} name
 * @param {string | null} value
 */
export function setAttr(el, name, value) {
  if (value === null) {
    if (el.hasAttribute(name)) el.removeAttribute(name);
  } else if (el.getAttribute(name) !== value) {
    el.setAttribute(name, value);
  }
}

/**
 * @param {HTMLElement} el
 * @param {string} text
 */
export function setTextShown(el, text) {
  setText(el, text);
  if (el.hidden !== !text) el.hidden = !text;
}

/**
 * While a live view is on the page, hide the static copy of its output (the cell's
 * other output, for readers without a kernel: the chat's transcript, a bar's summary),
 * so it is not shown twice. A `<style>` in the view's own DOM: it applies while the view
 * is on the page, whichever output renders first or is refreshed later.
 *
 * @param {HTMLElement} el The view's element.
 * @param {string} attribute The data attribute that marks the static copy.
 * @param {unknown} id Its value (hex), from the model.
 * @returns {HTMLStyleElement | null}
 */
export function hideWhileLive(el, attribute, id) {
  if (typeof id !== "string" || !/^[0-9a-f]{8,64}$/.test(id)) return null;
  const style = el.ownerDocument.createElement("style");
  const mark = `[${attribute}="${id}"]`;
  // The output row too, where the front end has one (JupyterLab, Notebook 7).
  style.textContent = `${mark}, .jp-OutputArea-child:has(${mark}) { display: none !important; }`;
  el.append(style);
  return style;
}

/**
 * Let the browser save `text` as a file named `filename` (a download).
 *
 * @param {Document} doc
 * @param {{filename: string, media_type: string, text: string}} file
 */
export function saveFile(doc, file) {
  const win = /** @type {Window & typeof globalThis} */ (doc.defaultView);
  const blob = new win.Blob([file.text], { type: `${file.media_type};charset=utf-8` });
  const url = win.URL.createObjectURL(blob);
  const link = h(doc, "a", "nbchat-download");
  link.href = url;
  link.download = file.filename;
  link.hidden = true;
  doc.body.append(link);
  link.click();
  link.remove();
  // The download has started by then; the object URL is only a handle to the blob.
  win.setTimeout(() => win.URL.revokeObjectURL(url), 60_000);
}
