// @ts-check
/**
 * The incremental part of rendering a streaming reply, which no Markdown library gives:
 *
 * - {@link splitBlocks}: which leading blocks of the not-yet-frozen text are finished.
 *   In CommonMark a block is closed for good once a later line starts another block at
 *   the top level (later lines cannot reopen it), so every top-level block but the last
 *   is final: it is rendered once and frozen. Only the last one, the open tail, is
 *   rendered again as text arrives. So a frame's work follows the tail, not the reply.
 *   (Reference definitions apply within their own block only.)
 * - {@link mend}: the open tail made to render sensibly mid-construct, without layouts
 *   that flip as the next token arrives: `**bol` shows bold, an unclosed inline code
 *   span shows as code, half a link shows its text, a table's header row waits for its
 *   delimiter row, display math waits for its closing delimiter, a marker with nothing
 *   after it yet waits. An open code fence is left alone (it runs to the end).
 *
 * Pure functions of strings; the DOM work is in `rich_text.js`.
 *
 * @module
 */

/** @typedef {import("markdown-it").default} MarkdownIt */
/** @typedef {import("markdown-it").Token} Token */

/**
 * Split `source` from `from` into finished top-level blocks and the open tail.
 *
 * @param {MarkdownIt} md
 * @param {string} source Markdown with "\n" line ends.
 * @param {number} from Where the not-yet-frozen text starts (a line start).
 * @returns {{blocks: string[], tailStart: number}} The finished blocks' source, in
 *   order, and where the tail starts.
 */
export function splitBlocks(md, source, from) {
  const text = source.slice(from);
  /** @type {Token[]} */
  const tokens = [];
  md.block.parse(text, md, {}, tokens);
  /** @type {number[]} */
  const starts = [];
  for (const token of tokens) {
    if (token.level === 0 && token.map && token.nesting >= 0) starts.push(token.map[0]);
  }
  if (starts.length < 2) return { blocks: [], tailStart: from };
  const lineStart = lineOffsets(text, starts[starts.length - 1]);
  /** @type {string[]} */
  const blocks = [];
  for (let i = 0; i < starts.length - 1; i += 1) {
    blocks.push(text.slice(lineStart[starts[i]], lineStart[starts[i + 1]]));
  }
  return { blocks, tailStart: from + lineStart[starts[starts.length - 1]] };
}

/**
 * Offsets of the starts of lines 0..`upTo` of `text`.
 *
 * @param {string} text
 * @param {number} upTo
 */
function lineOffsets(text, upTo) {
  const offsets = [0];
  let at = 0;
  while (offsets.length <= upTo) {
    at = text.indexOf("\n", at) + 1;
    if (at === 0) break;
    offsets.push(at);
  }
  return offsets;
}

const FENCE = /^ {0,3}(`{3,}|~{3,})/;
const TABLE_ROW = /^ {0,3}\|/;
const DELIMITER_ROW = /^ {0,3}\|?\s*:?-+:?\s*(\|\s*:?-+:?\s*)*\|?\s*$/;

/**
 * Whether `text` ends inside an open fenced code block.
 *
 * @param {string} text
 */
export function inOpenFence(text) {
  /** @type {string | null} */
  let open = null;
  for (const line of text.split("\n")) {
    const match = FENCE.exec(line);
    if (!match) continue;
    const marker = match[1];
    if (open === null) open = marker;
    else if (marker[0] === open[0] && marker.length >= open.length && !line.slice(match[0].length).trim()) {
      open = null;
    }
  }
  return open !== null;
}

/**
 * The open tail of a streaming reply, mended to render sensibly (see the module doc).
 *
 * @param {string} tail
 * @returns {string}
 */
export function mend(tail) {
  if (!tail || inOpenFence(tail)) return tail;
  let text = holdDisplayMath(tail);
  const lines = text.split("\n");
  // The last paragraph: the lines after the last blank one.
  let start = lines.length;
  while (start > 0 && lines[start - 1].trim() !== "") start -= 1;
  if (start === lines.length && lines.length > 1) {
    start = lines.length - 1; // ends with a blank line: nothing open
  }
  const paragraph = lines.slice(start).filter((line) => line !== "");
  if (
    paragraph.length > 0 &&
    paragraph.every((line) => TABLE_ROW.test(line)) &&
    !paragraph.some((line, i) => i === 1 && DELIMITER_ROW.test(line))
  ) {
    // A table's header row before its delimiter row: it would show as a paragraph
    // of pipes, then jump into a table. Wait for the delimiter row.
    return lines.slice(0, start).join("\n");
  }
  const before = lines.slice(0, start).join("\n");
  const last = closeInline(lines.slice(start).join("\n"));
  text = start > 0 ? `${before}\n${last}` : last;
  return text;
}

/**
 * `text` up to an unclosed `$$` or `\[` (display math shows once complete).
 *
 * @param {string} text
 */
function holdDisplayMath(text) {
  let cut = text.length;
  const dollars = text.split("$$").length - 1;
  if (dollars % 2 === 1) cut = Math.min(cut, text.lastIndexOf("$$"));
  const open = text.lastIndexOf("\\[");
  if (open >= 0 && text.indexOf("\\]", open) < 0) cut = Math.min(cut, open);
  return text.slice(0, cut);
}

/**
 * The last paragraph with its open inline constructs closed or hidden.
 *
 * @param {string} paragraph
 */
function closeInline(paragraph) {
  // A link or image still being written: show a link's text, hide an image.
  let text = paragraph
    .replace(/(!?)\[([^\]\n]*)\]\([^)\n]*$/, (_m, bang, label) => (bang ? "" : label))
    .replace(/(!?)\[([^\]\n]*)$/, (_m, bang, label) => (bang ? "" : label));
  // A marker with nothing after it yet waits for the next token.
  text = text.replace(/(^|[^*~`_\\])[*~`_]+$/, "$1");
  // An unclosed inline code span (outside it, markers count; inside, they do not).
  const ticks = text.match(/`+/g) ?? [];
  let code = false;
  /** @type {string} */
  let codeRun = "";
  let outside = "";
  let at = 0;
  for (const run of ticks) {
    const index = text.indexOf(run, at);
    if (!code) {
      outside += text.slice(at, index);
      code = true;
      codeRun = run;
    } else if (run === codeRun) {
      code = false;
    }
    at = index + run.length;
  }
  if (!code) outside += text.slice(at);
  let closers = code ? codeRun : "";
  if (countRuns(outside, "**") % 2 === 1) closers += "**";
  if (countRuns(outside, "~~") % 2 === 1) closers += "~~";
  // "**bold " + "**" would not close: a closer must follow the text directly.
  return closers ? text.replace(/\s+$/, "") + closers : text;
}

/**
 * @param {string} text
 * @param {string} marker
 */
function countRuns(text, marker) {
  return text.split(marker).length - 1;
}
