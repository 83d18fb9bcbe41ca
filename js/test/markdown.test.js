// @ts-check
import { describe, expect, it } from "vitest";
import { copyTextFor, loadImage } from "../actions.js";
import { renderMarkdown, renderMarkdownHtml, sanitize } from "../markdown.js";

/** @param {string} source */
function dom(source) {
  const holder = document.createElement("div");
  holder.append(renderMarkdown(document, source));
  return holder;
}

/** @param {string} html */
function clean(html) {
  const holder = document.createElement("div");
  holder.append(sanitize(document, html));
  return holder;
}

describe("rendering", () => {
  it("renders CommonMark and GFM", () => {
    const el = dom(
      "# H\n\n**b** *i* ~~s~~ `c`\n\n| a | b |\n|---|---|\n| 1 | 2 |\n\n- [x] done\n- [ ] todo\n\n> q\n\nhttps://example.com",
    );
    expect(el.querySelector("h1")?.textContent).toBe("H");
    expect(el.querySelector("strong")?.textContent).toBe("b");
    expect(el.querySelector("em")?.textContent).toBe("i");
    expect(el.querySelector("s")?.textContent).toBe("s");
    expect(el.querySelector("code")?.textContent).toBe("c");
    expect(el.querySelectorAll("table td").length).toBe(2);
    const boxes = [...el.querySelectorAll("input")];
    expect(boxes.map((b) => [b.getAttribute("type"), b.hasAttribute("disabled"), b.hasAttribute("checked")])).toEqual([
      ["checkbox", true, true],
      ["checkbox", true, false],
    ]);
    expect(el.querySelector("blockquote")?.textContent?.trim()).toBe("q");
    const link = el.querySelector("a");
    expect(link?.getAttribute("href")).toBe("https://example.com");
    expect([link?.getAttribute("target"), link?.getAttribute("rel")]).toEqual(["_blank", "noopener noreferrer"]);
  });

  it("highlights fenced code and gives it a copy button", () => {
    const el = dom("```python\ndef f():\n    return 1\n```");
    const block = el.querySelector(".nbchat-code");
    expect(block?.querySelector(".nbchat-code-lang")?.textContent).toBe("python");
    expect(block?.querySelector("button.nbchat-copy")?.getAttribute("data-copy")).toBe("code");
    expect(block?.querySelector("code.language-python .hljs-keyword")?.textContent).toBe("def");
    expect(block?.querySelector("pre code")?.textContent).toBe("def f():\n    return 1\n");
    const plain = renderMarkdownHtml(document, "```python\nx\n```");
    expect(renderMarkdown(document, "```python\nx\n```", { highlight: false }).querySelector(".hljs-keyword")).toBeNull();
    expect(plain).toContain("language-python");
  });

  it("renders math as MathML, offline", () => {
    const el = dom("Inline $x^2$, display\n\n$$\\frac{a}{b}$$\n\nand \\(y\\)");
    expect(el.querySelectorAll("math").length).toBe(3);
    expect(el.querySelector("math[display=block]")).not.toBeNull();
  });
});

describe("safety", () => {
  it("shows raw HTML as text", () => {
    const el = dom('<img src=x onerror=alert(1)> <script>alert(2)</script> <b onclick="x()">b</b>');
    expect(el.querySelectorAll("img, script, b").length).toBe(0);
    expect(el.textContent).toContain("<script>alert(2)</script>");
  });

  it.each([
    "[x](javascript:alert(1))",
    "[x](JaVaScRiPt:alert(1))",
    "[x](vbscript:msgbox(1))",
    "[x](data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==)",
    "[x](/relative/path)",
    "[x](file:///etc/passwd)",
    "<javascript:alert(1)>",
  ])("leaves %s without a link", (source) => {
    const el = dom(source);
    expect(el.querySelector("a")).toBeNull();
  });

  it("makes images click-to-load, and loads only http(s)", () => {
    const el = dom("![chart](https://img.example.com/c.png?secret=1) ![x](javascript:alert(1))");
    expect(el.querySelector("img")).toBeNull();
    const button = /** @type {HTMLElement} */ (el.querySelector("button.nbchat-image-load"));
    expect(button.textContent).toBe("Load image: chart (img.example.com)");
    const img = loadImage(button);
    expect(img?.getAttribute("src")).toBe("https://img.example.com/c.png?secret=1");
    expect(img?.referrerPolicy).toBe("no-referrer");
    const forged = document.createElement("button");
    forged.setAttribute("data-src", "javascript:alert(1)");
    expect(loadImage(forged)).toBeNull();
  });

  it("sanitizes HTML from any renderer by the same rules", () => {
    const el = clean(
      '<a href="javascript:alert(1)">a</a><a href="/x">rel</a><div style="position:fixed">s</div>' +
        '<form action="/api"><input type="text" name="q"></form><iframe src="https://x"></iframe>' +
        '<p class="evil hljs-keyword" id="x" name="y">c</p><base href="https://evil/">' +
        '<img src="https://x/t.png" onerror="alert(1)"><style>*{display:none}</style>' +
        '<svg><script>alert(1)</script></svg><math><mi xlink:href="javascript:alert(1)">m</mi></math>',
    );
    expect(el.querySelectorAll("a[href]").length).toBe(0);
    expect(el.querySelector("[style], form, iframe, base, style, svg, script, [id], [name], [onerror]")).toBeNull();
    expect(el.querySelector("p")?.getAttribute("class")).toBe("hljs-keyword");
    expect(el.querySelector("img")?.hasAttribute("src")).toBe(false);
    expect(el.querySelector("input")?.getAttribute("type")).toBe("checkbox");
    expect(el.querySelector("input")?.hasAttribute("disabled")).toBe(true);
    expect(el.querySelector("math mi")?.hasAttribute("xlink:href")).toBe(false);
  });

  it("refuses math commands that link or load", () => {
    const el = dom("$\\href{javascript:alert(1)}{x}$ $\\url{https://x}$ $\\includegraphics{https://x/i.png}$");
    expect(el.querySelector("a, img, [href]")).toBeNull();
  });
});

describe("copy text", () => {
  it("is a code block's text, or a reply's Markdown", () => {
    const list = document.createElement("div");
    list.innerHTML = '<div class="nbchat-message" data-id="m1"><button class="nbchat-copy" data-copy="message"></button></div>';
    list.firstElementChild?.append(dom("```js\nlet a = 1;\n```"));
    const [message, code] = [...list.querySelectorAll("button.nbchat-copy")];
    expect(copyTextFor(code, () => null)).toBe("let a = 1;\n");
    expect(copyTextFor(message, (id) => (id === "m1" ? "**source**" : null))).toBe("**source**");
  });
});
