// @ts-check
/**
 * Markdown to safe DOM: markdown-it (CommonMark + GFM tables, strikethrough, autolinks,
 * task lists), math by Temml (MathML: the browser draws it, no fonts to ship), code by
 * highlight.js, and everything through DOMPurify before it touches the page.
 *
 * Model text is untrusted, and a notebook page can run code in the kernel, so the rules
 * are strict (see DEVELOP.md, "Rendering replies"):
 *
 * - raw HTML in the Markdown is shown as text (markdown-it `html: false`);
 * - links are absolute `http(s):` or `mailto:` only, open in a new tab, with
 *   `rel="noopener noreferrer"`; any other URL leaves the text without a link;
 * - images are not loaded: each is a button that names the host and loads it on a
 *   click (a remote image leaks data in its URL);
 * - no `style`, `id`, `name`, forms, frames, `<base>`; classes only from the renderers
 *   themselves (`hljs-*`, `language-*`, `tml-*`, `nbchat-*`, task lists).
 *
 * @module
 */

import { tasklist } from "@mdit/plugin-tasklist";
import { tex } from "@mdit/plugin-tex";
import DOMPurify from "dompurify";
import hljs from "highlight.js/lib/core";
import bash from "highlight.js/lib/languages/bash";
import c from "highlight.js/lib/languages/c";
import cpp from "highlight.js/lib/languages/cpp";
import css from "highlight.js/lib/languages/css";
import diff from "highlight.js/lib/languages/diff";
import go from "highlight.js/lib/languages/go";
import java from "highlight.js/lib/languages/java";
import javascript from "highlight.js/lib/languages/javascript";
import json from "highlight.js/lib/languages/json";
import julia from "highlight.js/lib/languages/julia";
import markdown from "highlight.js/lib/languages/markdown";
import plaintext from "highlight.js/lib/languages/plaintext";
import python from "highlight.js/lib/languages/python";
import r from "highlight.js/lib/languages/r";
import rust from "highlight.js/lib/languages/rust";
import shell from "highlight.js/lib/languages/shell";
import sql from "highlight.js/lib/languages/sql";
import typescript from "highlight.js/lib/languages/typescript";
import xml from "highlight.js/lib/languages/xml";
import yaml from "highlight.js/lib/languages/yaml";
import MarkdownIt from "markdown-it";
import temml from "temml";

const LANGUAGES = {
  bash,
  c,
  cpp,
  css,
  diff,
  go,
  java,
  javascript,
  json,
  julia,
  markdown,
  plaintext,
  python,
  r,
  rust,
  shell,
  sql,
  typescript,
  xml,
  yaml,
};
for (const [name, language] of Object.entries(LANGUAGES)) hljs.registerLanguage(name, language);

/** Links may point only here (absolute): no `javascript:`, `data:`, relative paths. */
const SAFE_LINK = /^(?:https?:\/\/|mailto:)/i;
/** Images load (on a click) only from here; raster `data:` images show at once. */
export const REMOTE_IMAGE = /^https?:\/\//i;
const INLINE_IMAGE = /^data:image\/(?:png|jpeg|gif|webp);base64,[a-z0-9+/=\s]+$/i;
/** The classes the renderers themselves write; a class from anywhere else is dropped. */
const OWN_CLASS = /^(?:hljs(?:-[\w-]+)?|language-[\w+#.-]+|tml-[\w-]+|nbchat-[\w-]+|task-list-item(?:-checkbox)?|contains-task-list|katex[\w-]*)$/;

/**
 * Render options for one piece of Markdown.
 *
 * @typedef {object} RenderOptions
 * @property {boolean} [highlight] Highlight fenced code (off for a block still streaming:
 *   its colours come when it is finished, its layout does not change).
 */

/** @typedef {{highlight: boolean}} Env */

/**
 * @param {string} code
 * @param {string} lang
 * @param {string} _attrs
 * @param {Env} [env]
 */
function highlight(code, lang, _attrs, env) {
  if (env && !env.highlight) return "";
  const name = lang.trim().split(/\s+/, 1)[0].toLowerCase();
  try {
    if (name && hljs.getLanguage(name)) return hljs.highlight(code, { language: name }).value;
  } catch {
    // a grammar that throws: show the code plain
  }
  return "";
}

/**
 * @param {string} content
 * @param {boolean} displayMode
 */
function renderMath(content, displayMode) {
  try {
    // trust: false (the default) refuses \href, \url, \includegraphics, \class, \id...
    return temml.renderToString(content, {
      displayMode,
      throwOnError: false,
      trust: false,
      maxSize: [10, 10],
      maxExpand: 200,
    });
  } catch {
    return "";
  }
}

/** The markdown-it instance every reply is rendered with. */
export const md = new MarkdownIt({ html: false, linkify: true, typographer: false, highlight });
md.use(tasklist, { disabled: true });
md.use(tex, { delimiters: "all", render: renderMath });
md.validateLink = (/** @type {string} */ url) => SAFE_LINK.test(url.trim()) || INLINE_IMAGE.test(url.trim());

/** @typedef {import("markdown-it").RendererRule} RenderRule */

// An image is a button that loads it on a click (see module docstring).
/** @type {RenderRule} */
const renderImage = (tokens, idx) => {
  const token = tokens[idx];
  const src = token.attrGet("src") ?? "";
  const alt = md.utils.escapeHtml(token.content || "image");
  const url = md.utils.escapeHtml(src);
  if (INLINE_IMAGE.test(src)) return `<img class="nbchat-image" src="${url}" alt="${alt}">`;
  if (!REMOTE_IMAGE.test(src)) return alt;
  let host = src;
  try {
    host = new URL(src).host;
  } catch {
    // shown whole
  }
  const label = `Load image${alt ? `: ${alt}` : ""} (${md.utils.escapeHtml(host)})`;
  return `<button type="button" class="nbchat-image-load" data-src="${url}" data-alt="${alt}" title="${url}">${label}</button>`;
};
md.renderer.rules.image = renderImage;

const defaultFence = md.renderer.rules.fence;
// A fenced block gets a header with its language and a Copy button.
/** @type {RenderRule} */
const renderFence = (tokens, idx, options, env, self) => {
  const token = tokens[idx];
  const inner = defaultFence ? defaultFence(tokens, idx, options, env, self) : "";
  const lang = md.utils.escapeHtml(token.info.trim().split(/\s+/, 1)[0] || "");
  return (
    `<div class="nbchat-code"><div class="nbchat-code-head"><span class="nbchat-code-lang">${lang}</span>` +
    `<button type="button" class="nbchat-copy" data-copy="code">Copy</button></div>${inner}</div>`
  );
};
md.renderer.rules.fence = renderFence;

/** @type {ReturnType<typeof DOMPurify> | null} */
let purifier = null;

/**
 * The DOMPurify instance of `win`, configured once with nbchat's hooks.
 *
 * @param {Window} win
 */
function purifierFor(win) {
  if (purifier) return purifier;
  const instance = DOMPurify(/** @type {any} */ (win));
  instance.addHook("uponSanitizeAttribute", (_node, data) => {
    if (data.attrName === "class") {
      data.attrValue = data.attrValue
        .split(/\s+/)
        .filter((name) => OWN_CLASS.test(name))
        .join(" ");
      if (!data.attrValue) data.keepAttr = false;
    } else if (data.attrName === "href" && !SAFE_LINK.test(data.attrValue.trim())) {
      data.keepAttr = false;
    } else if (data.attrName === "src" && !INLINE_IMAGE.test(data.attrValue.trim())) {
      data.keepAttr = false;
    }
  });
  instance.addHook("afterSanitizeAttributes", (node) => {
    if (node.nodeName === "A") {
      node.setAttribute("target", "_blank");
      node.setAttribute("rel", "noopener noreferrer");
    } else if (node.nodeName === "INPUT") {
      node.setAttribute("type", "checkbox");
      node.setAttribute("disabled", "");
    }
  });
  purifier = instance;
  return instance;
}

/** DOMPurify settings: HTML and MathML, nothing that can restyle, submit or frame. */
const PURIFY = {
  USE_PROFILES: { html: true, mathMl: true },
  FORBID_TAGS: ["style", "form", "iframe", "frame", "object", "embed", "base", "link", "meta", "textarea", "select", "option", "video", "audio", "source", "picture", "svg"],
  FORBID_ATTR: ["style", "id", "name", "srcset", "action", "formaction", "background", "poster", "xlink:href"],
  ADD_ATTR: ["target"],
  ALLOW_DATA_ATTR: true,
};

/**
 * Sanitize `html` (rendered by {@link md}, or any other) into a fragment of `doc`.
 *
 * @param {Document} doc
 * @param {string} html
 * @returns {DocumentFragment}
 */
export function sanitize(doc, html) {
  const win = /** @type {Window} */ (doc.defaultView);
  const purify = purifierFor(win);
  const fragment = purify.sanitize(html, { ...PURIFY, RETURN_DOM_FRAGMENT: true });
  return /** @type {DocumentFragment} */ (doc.importNode(fragment, true));
}

/**
 * Markdown `source` as a sanitized fragment of `doc`.
 *
 * @param {Document} doc
 * @param {string} source
 * @param {RenderOptions} [options]
 * @returns {DocumentFragment}
 */
export function renderMarkdown(doc, source, options = {}) {
  /** @type {Env} */
  const env = { highlight: options.highlight !== false };
  return sanitize(doc, md.render(source, env));
}

/**
 * Markdown `source` as sanitized HTML text (the static transcript).
 *
 * @param {Document} doc
 * @param {string} source
 * @returns {string}
 */
export function renderMarkdownHtml(doc, source) {
  const holder = doc.createElement("div");
  holder.append(renderMarkdown(doc, source));
  return holder.innerHTML;
}
