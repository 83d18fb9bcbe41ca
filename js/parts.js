// @ts-check
/**
 * A reply's text and its tool calls in the order they streamed (as the AI SDK's message
 * parts): text, then the tool rows that started after it, then the text that followed.
 *
 * Each tool call (and a progress block) carries `at`, the length of the reply's text
 * when it started. The text
 * is cut at those offsets into parts, each its own Markdown ({@link createRichText});
 * between two parts, a `div.nbchat-tools[data-at]` group holds the rows of the calls
 * that started there. Text before a cut never changes, so only the last part streams.
 * Calls at offset 0 are not here: they stay above the text, where the message puts them.
 *
 * ```
 * div.nbchat-content
 *   div.nbchat-part.nbchat-markdown   text[0 : a1]
 *   div.nbchat-tools[data-at=a1]      the rows of the calls that started at a1
 *   div.nbchat-part.nbchat-markdown   text[a1 :]   (streams)
 * ```
 *
 * @module
 */

import { createRichText } from "./rich_text.js";

/** @typedef {import("./rich_text.js").RichText} RichText */
/** @typedef {import("./rich_text.js").RichTextOptions} RichTextOptions */

/**
 * @typedef {object} Parts
 * @property {(text: string) => void} append Streamed text: the last part grows.
 * @property {(text: string, cuts: number[], streaming: boolean, cursor: HTMLElement | null) => void} sync
 *   Show `text` cut at `cuts` (offsets > 0, any order).
 * @property {(at: number) => HTMLElement} groupFor The tool group at offset `at`.
 * @property {() => string} source The whole text (a reply's Copy).
 */

/**
 * The distinct cuts inside `text`, ascending (0 and past-the-end offsets dropped).
 *
 * @param {number[]} cuts
 * @param {number} length
 * @returns {number[]}
 */
export function textCuts(cuts, length) {
  return [...new Set(cuts.filter((at) => Number.isInteger(at) && at > 0 && at <= length))].sort(
    (a, b) => a - b,
  );
}

/**
 * @param {HTMLElement} el The message's content element.
 * @param {RichTextOptions} [options]
 * @returns {Parts}
 */
export function createParts(el, options = {}) {
  const doc = el.ownerDocument;
  /** @type {{el: HTMLElement, rich: RichText}[]} */
  let parts = [];
  /** @type {Map<number, HTMLElement>} */
  const groups = new Map();
  /** @type {number[]} */
  let cuts = [];
  let text = "";

  function addPart() {
    const partEl = doc.createElement("div");
    partEl.className = "nbchat-part";
    el.append(partEl);
    const part = { el: partEl, rich: createRichText(partEl, options) };
    parts.push(part);
    return part;
  }

  /** @param {number} at */
  function groupFor(at) {
    let group = groups.get(at);
    if (!group) {
      group = doc.createElement("div");
      group.className = "nbchat-tools";
      group.setAttribute("data-at", String(at));
      groups.set(at, group);
    }
    return group;
  }

  /**
   * Lay the parts out again for `newCuts` (rows already in groups keep their group).
   *
   * @param {string} full
   * @param {number[]} newCuts
   * @param {boolean} streaming Whether the last part still streams.
   * @param {HTMLElement | null} cursor
   */
  function rebuild(full, newCuts, streaming, cursor) {
    for (const part of parts) part.el.remove();
    parts = [];
    cuts = newCuts;
    const bounds = [0, ...cuts, full.length];
    for (let i = 0; i < bounds.length - 1; i += 1) {
      const part = addPart();
      const last = i === bounds.length - 2;
      // Whether it streams first: a finished text renders as one (long ones in slices).
      part.rich.setStreaming(last && streaming, last ? cursor : null);
      part.rich.sync(full.slice(bounds[i], bounds[i + 1]));
      if (!last) el.append(groupFor(bounds[i + 1]));
    }
    for (const [at, group] of groups) if (!cuts.includes(at)) group.remove();
  }

  addPart().rich.setStreaming(false, null); // nothing to stream until told
  return {
    append(delta) {
      text += delta;
      parts[parts.length - 1].rich.append(delta);
    },
    sync(full, rawCuts, streaming, cursor) {
      const newCuts = textCuts(rawCuts, full.length);
      const same = newCuts.length === cuts.length && newCuts.every((at, i) => at === cuts[i]);
      const last = cuts.length ? cuts[cuts.length - 1] : 0;
      if (!same || !full.startsWith(text.slice(0, last))) {
        rebuild(full, newCuts, streaming, cursor);
      } else {
        const rich = parts[parts.length - 1].rich;
        rich.setStreaming(streaming, cursor);
        rich.sync(full.slice(last));
      }
      text = full;
    },
    groupFor,
    source: () => text,
  };
}
