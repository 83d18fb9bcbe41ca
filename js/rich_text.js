// @ts-check
/**
 * A reply's Markdown, rendered as it streams (see `incremental.js` for the rules):
 *
 * ```
 * div.nbchat-content.nbchat-markdown
 *   div.nbchat-blocks     finished blocks, rendered once, never touched again
 *   div.nbchat-tail       the open last block, rendered again at most once a frame
 * ```
 *
 * Text is appended to the source at once; rendering waits for the next frame, so any
 * token rate costs one render of the tail per frame. When the reply ends, the tail is
 * rendered as it is (not mended, code highlighted); a finished reply renders at once. The cursor element, if any, is
 * kept at the end of the last rendered block.
 *
 * @module
 */

import { nextFrame } from "./autoscroll.js";
import { mend, splitBlocks } from "./incremental.js";
import { md, renderMarkdown } from "./markdown.js";

/**
 * @typedef {object} RichTextOptions
 * @property {(callback: () => void) => void} [schedule] Runs a render later (default:
 *   the next animation frame).
 * @property {() => void} [onRender] Called after each render (auto-scroll).
 */

/**
 * @typedef {object} RichText
 * @property {HTMLElement} el
 * @property {(text: string) => void} append Add streamed text.
 * @property {(text: string) => void} sync Show `text` (appends when it only grew).
 * @property {(streaming: boolean, cursor: HTMLElement | null) => void} setStreaming
 * @property {() => string} source The Markdown shown.
 * @property {() => void} flush Render now what is pending.
 */

/**
 * Time all the views on a page may spend rendering finished replies at once, per
 * frame-sized window; past it, a reply renders on a later frame.
 */
const budget = {
  windowStart: 0,
  used: 0,
  take() {
    const now = performance.now();
    if (now - this.windowStart > FRAME_MS) {
      this.windowStart = now;
      this.used = 0;
    }
    return this.used < BUDGET_MS;
  },
  /** @param {number} ms */
  spend(ms) {
    this.used += ms;
  },
};
const FRAME_MS = 16;
const BUDGET_MS = 12;

/** A finished reply longer than this renders in slices of {@link SLICE_MS}. */
const SLICED_ABOVE = 16_000;
const SLICE_MS = 8;

/**
 * Render Markdown into `el` incrementally.
 *
 * @param {HTMLElement} el
 * @param {RichTextOptions} [options]
 * @returns {RichText}
 */
export function createRichText(el, options = {}) {
  const doc = el.ownerDocument;
  const schedule = options.schedule ?? nextFrame;
  el.classList.add("nbchat-markdown");
  const frozen = doc.createElement("div");
  frozen.className = "nbchat-blocks";
  const tail = doc.createElement("div");
  tail.className = "nbchat-tail";
  el.append(frozen, tail);

  let source = "";
  let frozenEnd = 0; // source[:frozenEnd] is in `frozen`
  let pendingCR = false; // a "\r" at the end of the last delta (CRLF split in two)
  let streaming = true;
  let scheduled = false;
  let dirty = false;
  let rendered = false; // the first content renders at once (a view opened mid-reply)
  /** @type {HTMLElement | null} */
  let cursor = null;
  /** @type {string[]} */
  let queue = []; // finished blocks of a long reply waiting for their frame
  let generation = 0;

  /** @param {string} text */
  function normalize(text) {
    if (pendingCR && text.startsWith("\n")) text = text.slice(1);
    pendingCR = text.endsWith("\r");
    return text.replace(/\r\n?/g, "\n");
  }

  function render() {
    scheduled = false;
    if (!dirty) return;
    dirty = false;
    if (source) rendered = true;
    finishSlices();
    if (streaming) {
      const { blocks, tailStart } = splitBlocks(md, source, frozenEnd);
      for (const block of blocks) frozen.append(renderMarkdown(doc, block));
      frozenEnd = tailStart;
      // Code in the tail is shown plain: its colours come when it is finished.
      tail.replaceChildren(renderMarkdown(doc, mend(source.slice(frozenEnd)), { highlight: false }));
    } else if (source.length - frozenEnd > SLICED_ABOVE) {
      // A long finished reply (history): its blocks render a few at a time, a frame
      // apart, so opening a notebook with a huge reply never freezes the page.
      const { blocks, tailStart } = splitBlocks(md, source, frozenEnd);
      frozenEnd = tailStart;
      tail.replaceChildren();
      queue = blocks;
      renderSlice(++generation);
      return;
    } else {
      tail.replaceChildren(renderMarkdown(doc, source.slice(frozenEnd)));
    }
    placeCursor();
    options.onRender?.();
  }

  /** @param {number} slice Which slicing this belongs to (a newer one cancels it). */
  function renderSlice(slice) {
    if (slice !== generation) return;
    const until = performance.now() + SLICE_MS;
    while (queue.length && performance.now() < until) {
      frozen.append(renderMarkdown(doc, /** @type {string} */ (queue.shift())));
    }
    if (queue.length) {
      schedule(() => renderSlice(slice));
      return;
    }
    tail.replaceChildren(renderMarkdown(doc, source.slice(frozenEnd)));
    placeCursor();
    options.onRender?.();
  }

  /** Blocks still queued by a slicing go in now (the text changes under it). */
  function finishSlices() {
    generation += 1;
    for (const block of queue) frozen.append(renderMarkdown(doc, block));
    queue = [];
  }

  function placeCursor() {
    if (!cursor) return;
    /** @type {Element} */
    let last = tail.lastElementChild ?? frozen.lastElementChild ?? tail;
    while (last.lastElementChild && !/^(?:BUTTON|MATH|INPUT)$/.test(last.lastElementChild.nodeName)) {
      last = last.lastElementChild;
    }
    last.append(cursor);
  }

  function invalidate() {
    dirty = true;
    if ((!streaming || !rendered) && budget.take()) {
      // A finished reply (history, a snapshot), or the first text: at once, while
      // this moment's budget lasts (a page of 50 replies spreads over a few frames).
      const started = performance.now();
      render();
      budget.spend(performance.now() - started);
    } else if (!scheduled) {
      scheduled = true;
      schedule(render);
    }
  }

  return {
    el,
    append(text) {
      text = normalize(text);
      if (!text) return;
      source += text;
      invalidate();
    },
    sync(text) {
      text = text.replace(/\r\n?/g, "\n");
      if (text === source) return;
      if (text.startsWith(source) && text.length > source.length) {
        source = text;
      } else {
        source = text;
        frozenEnd = 0;
        queue = [];
        generation += 1;
        frozen.replaceChildren();
      }
      invalidate();
    },
    setStreaming(isStreaming, cursorEl) {
      cursor = cursorEl;
      if (isStreaming !== streaming) {
        streaming = isStreaming;
        invalidate();
      } else if (cursor && !cursor.isConnected) {
        placeCursor();
      }
    },
    source: () => source,
    flush() {
      if (dirty) render();
    },
  };
}
