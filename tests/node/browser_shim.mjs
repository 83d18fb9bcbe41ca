// @ts-check
/**
 * What a browser page served by `nbchat serve` has and Node lacks, for browser code run
 * unchanged in Node: `window`, a visible `document` (fetch-event-source listens for
 * `visibilitychange` and uses `window.setTimeout`), and a `fetch` that resolves paths
 * against the page's origin, NBCHAT_URL (the server the test started).
 */

const origin = process.env.NBCHAT_URL;
if (!origin) throw new Error("browser_shim: set NBCHAT_URL to the server's URL");

const nodeFetch = globalThis.fetch;
/** @type {typeof fetch} */
const pageFetch = (input, init) =>
  nodeFetch(typeof input === "string" ? new URL(input, origin) : input, init);

const listeners = new EventTarget();
const document = {
  hidden: false,
  /** @param {string} type @param {EventListener} listener */
  addEventListener: (type, listener) => listeners.addEventListener(type, listener),
  /** @param {string} type @param {EventListener} listener */
  removeEventListener: (type, listener) => listeners.removeEventListener(type, listener),
};
Object.assign(globalThis, { window: globalThis, fetch: pageFetch, document });

/** The user switching tabs: hide the page, or show it again. */
export const page = {
  /** @param {boolean} hidden */
  setHidden(hidden) {
    document.hidden = hidden;
    listeners.dispatchEvent(new Event("visibilitychange"));
  },
};
