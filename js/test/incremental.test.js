// @ts-check
import { describe, expect, it } from "vitest";
import { inOpenFence, mend, splitBlocks } from "../incremental.js";
import { md, renderMarkdownHtml } from "../markdown.js";

const DOCS = [
  "# Title\n\nA paragraph with **bold**, `code` and a [link](https://example.com).\n\n- one\n- two\n  - nested\n\n1. first\n2. second\n\n> quoted\n> text\n\n---\n\nEnd.",
  "Intro:\n\n```python\ndef f(x):\n\n    return x * 2\n```\n\nAfter the code.\n\n| a | b |\n|---|:-:|\n| 1 | 2 |\n| 3 | 4 |\n\nTail text",
  "Setext\n======\n\nLine one\nline two\n\n* [ ] task\n* [x] done\n\n    indented code\n\nMath $x^2$ and\n\n$$\n\\int_0^1 x\\,dx\n$$\n\nbye",
  "para\n\n\n\nmore paras ~~struck~~ and www.example.com autolink\n\n- loose\n\n- list\n\nlast",
];

/**
 * Stream `doc` in pieces of `size` through splitBlocks the way rich_text.js does, and
 * return the frozen blocks' HTML plus the final tail's.
 *
 * @param {string} doc
 * @param {number} size
 */
function streamed(doc, size) {
  let source = "";
  let frozenEnd = 0;
  let html = "";
  for (let at = 0; at < doc.length; at += size) {
    source += doc.slice(at, at + size);
    const { blocks, tailStart } = splitBlocks(md, source, frozenEnd);
    for (const block of blocks) html += renderMarkdownHtml(document, block);
    frozenEnd = tailStart;
    // The tail is rendered (mended) each frame; it must not throw whatever the cut.
    renderMarkdownHtml(document, mend(source.slice(frozenEnd)));
  }
  return html + renderMarkdownHtml(document, source.slice(frozenEnd));
}

describe("splitBlocks", () => {
  it("freezes every top-level block but the last", () => {
    const source = "# T\n\npara one\n\npara two";
    const { blocks, tailStart } = splitBlocks(md, source, 0);
    expect(blocks).toEqual(["# T\n\n", "para one\n\n"]);
    expect(source.slice(tailStart)).toBe("para two");
    const again = splitBlocks(md, source, tailStart);
    expect(again).toEqual({ blocks: [], tailStart });
  });

  it("keeps an open fence in the tail, blank lines and all", () => {
    const source = "text\n\n```py\ncode\n\nmore";
    const { blocks, tailStart } = splitBlocks(md, source, 0);
    expect(blocks).toEqual(["text\n\n"]);
    expect(source.slice(tailStart)).toBe("```py\ncode\n\nmore");
  });

  it.each([1, 2, 3, 7, 16, 1000])("streamed in pieces of %i renders as the whole does", (size) => {
    for (const doc of DOCS) {
      expect(streamed(doc, size)).toBe(renderMarkdownHtml(document, doc));
    }
  });
});

describe("mend", () => {
  /** @param {string} text */
  const html = (text) => renderMarkdownHtml(document, mend(text));

  it("closes bold, strike and inline code", () => {
    expect(html("some **bol")).toContain("<strong>bol</strong>");
    expect(html("~~gone")).toContain("<s>gone</s>");
    expect(html("call `fo")).toContain("<code>fo</code>");
    expect(html("`a **b` **c")).toContain("<strong>c</strong>");
    expect(html("**bold ")).toContain("<strong>bold</strong>");
  });

  it("holds a marker with nothing after it", () => {
    expect(mend("word **")).toBe("word ");
    expect(mend("a `")).toBe("a ");
    expect(mend("* item")).toBe("* item");
  });

  it("shows half a link as its text and hides half an image", () => {
    expect(mend("see [the docs](https://exa")).toBe("see the docs");
    expect(mend("see [the do")).toBe("see the do");
    expect(mend("look ![chart](https://x")).toBe("look ");
  });

  it("waits for a table's delimiter row, then shows the table", () => {
    expect(mend("Intro\n\n| a | b |")).toBe("Intro\n");
    expect(mend("Intro\n\n| a | b |\n|---|")).toBe("Intro\n\n| a | b |\n|---|");
    expect(html("| a | b |\n|---|---|\n| 1 |")).toContain("<table>");
  });

  it("waits for display math to close", () => {
    expect(mend("Area:\n\n$$\n\\pi r^")).toBe("Area:\n\n");
    expect(mend("inline \\[ x")).toBe("inline ");
    expect(html("$$x^2$$")).toContain("<math");
  });

  it("leaves an open code fence alone", () => {
    const open = "```js\nconst a = `x **";
    expect(inOpenFence(open)).toBe(true);
    expect(mend(open)).toBe(open);
    expect(inOpenFence("```js\nx\n```\n")).toBe(false);
    expect(inOpenFence("~~~\n```\n")).toBe(true);
  });
});
