// @ts-check
import { afterEach, describe, expect, it } from "vitest";
import widget from "../widget.js";
import { batch, createFakeModel, message, proxy, snapshot } from "./fakes.js";

/** @typedef {import("./fakes.js").FakeModel} FakeModel */

const INIT = Symbol("initialize");

/** @type {Array<() => void>} */
let cleanups = [];

afterEach(() => {
  for (const cleanup of cleanups.splice(0).reverse()) cleanup();
  document.body.textContent = "";
});

/**
 * Drive `widget` the way anywidget 0.11 does: `initialize` gets one proxy, every
 * `render` a new one tagged with its view; closing a view drops that view's
 * listeners (`model.off(null, null, view)`) and calls the cleanup.
 *
 * @param {import("../types.js").Snapshot} snap
 */
function start(snap) {
  const model = createFakeModel({ snapshot: structuredClone(snap) });
  const init = /** @type {(props: any) => any} */ (widget.initialize);
  const dispose = init({ model: proxy(model, INIT), signal: new AbortController().signal });
  const teardown = () => {
    if (typeof dispose === "function") dispose();
    model.off(null, null, INIT);
  };
  cleanups.push(teardown);
  return { model, teardown };
}

/** @param {FakeModel} model */
function open(model) {
  const el = document.createElement("div");
  document.body.append(el);
  const view = {};
  const controller = new AbortController();
  const draw = /** @type {(props: any) => any} */ (widget.render);
  const cleanup = draw({ model: proxy(model, view), el, signal: controller.signal });
  let closed = false;
  const close = () => {
    if (closed) return;
    closed = true;
    el.remove();
    model.off(null, null, view);
    controller.abort();
    if (typeof cleanup === "function") cleanup();
  };
  cleanups.push(close);
  /** @param {string} selector */
  const text = (selector) => el.querySelector(selector)?.textContent?.trim();
  const input = () => /** @type {HTMLTextAreaElement} */ (el.querySelector("textarea.nbchat-input"));
  return { el, close, text, input };
}

const streaming = () =>
  snapshot({
    seq: 2,
    phase: "streaming",
    messages: [message("u1", "user", "Hi"), message("a1", "assistant", "Hel", { status: "streaming" })],
  });

const A1 = '.nbchat-message[data-id="a1"] .nbchat-content';

/** A streaming reply's Markdown renders on the next frame (jsdom: a timer). */
const frame = () => new Promise((resolve) => setTimeout(resolve, 40));

describe("one store per model", () => {
  it("updates two views from one batch", async () => {
    const { model } = start(streaming());
    const one = open(model);
    const two = open(model);
    model.custom(batch(3, [["a1", "lo"]]));
    await frame();
    expect(one.text(A1)).toBe("Hello");
    expect(two.text(A1)).toBe("Hello");
    // One store: the batch was applied once (a second store would have gapped or doubled).
    expect(model.sent).toEqual([{ type: "sync" }]); // the first view's mid-stream sync only
  });

  it("shows the latest text in a view opened after batches", () => {
    const { model } = start(streaming());
    const first = open(model);
    model.custom(batch(3, [["a1", "lo"]]));
    model.custom(batch(4, [["a1", ", world"]]));
    first.close();
    const later = open(model);
    expect(later.text(A1)).toBe("Hello, world");
  });

  it("keeps the draft and focus when a view is re-created", () => {
    const { model } = start(snapshot());
    const first = open(model);
    first.input().focus();
    first.input().value = "half-typed question";
    first.input().dispatchEvent(new Event("input", { bubbles: true }));
    first.close();
    const second = open(model);
    expect(second.input().value).toBe("half-typed question");
    expect(document.activeElement).toBe(second.input());
  });

  it("works when render is called without initialize", async () => {
    const model = createFakeModel({ snapshot: structuredClone(streaming()) });
    const view = open(model);
    model.custom(batch(3, [["a1", "lo"]]));
    await frame();
    expect(view.text(A1)).toBe("Hello");
    view.close();
    expect(model.listenerCount()).toBe(0);
  });
});

describe("sync requests", () => {
  it("asks once on a gap until a snapshot arrives", async () => {
    const { model } = start(snapshot({ seq: 2, messages: [message("a1", "assistant", "Hel", { status: "streaming" })] }));
    const view = open(model);
    expect(model.sent).toEqual([]);
    model.custom(batch(5, [["a1", "X"]]));
    model.custom(batch(6, [["a1", "Y"]]));
    model.custom(batch(7, [["a1", "Z"]]));
    expect(model.sent).toEqual([{ type: "sync" }]);
    expect(view.text(A1)).toBe("Hel");

    model.setSnapshot(
      snapshot({ seq: 7, phase: "streaming", messages: [message("a1", "assistant", "HelXYZ", { status: "streaming" })] }),
    );
    await frame();
    expect(view.text(A1)).toBe("HelXYZ");
    model.custom(batch(7, [["a1", "stale"]]));
    model.custom(batch(8, [["a1", "!"]]));
    await frame();
    expect(view.text(A1)).toBe("HelXYZ!");
    expect(model.sent).toEqual([{ type: "sync" }]);

    model.custom(batch(10, [["a1", "?"]]));
    expect(model.sent).toEqual([{ type: "sync" }, { type: "sync" }]);
  });

  it("asks when an op names a message it does not have", () => {
    const { model } = start(snapshot({ seq: 0, messages: [] }));
    open(model);
    model.custom(batch(1, [["a9", "text"]]));
    expect(model.sent).toEqual([{ type: "sync" }]);
  });

  it("asks when the first view opens mid-stream, not otherwise", () => {
    const live = start(streaming());
    open(live.model);
    open(live.model);
    expect(live.model.sent).toEqual([{ type: "sync" }]);

    const idle = start(snapshot({ phase: "done" }));
    open(idle.model);
    expect(idle.model.sent).toEqual([]);
  });

  it("asks when the first view opens while the kernel reconnects", () => {
    const { model } = start({ ...streaming(), phase: "reconnecting" });
    open(model);
    expect(model.sent).toEqual([{ type: "sync" }]);
  });

  it("ignores custom messages that are not batches", () => {
    const { model } = start(streaming());
    const view = open(model);
    model.custom({ type: "something-else", seq: 99 });
    model.custom("text");
    expect(view.text(A1)).toBe("Hel");
    expect(model.sent).toEqual([{ type: "sync" }]);
  });
});

describe("cleanup", () => {
  it("removes listeners of views and of initialize", () => {
    const { model, teardown } = start(streaming());
    const base = model.listenerCount();
    // change:snapshot, change:head, msg:custom, and the kernel watch's comm_live_update
    // and comm:close, once per model
    expect(base).toBe(5);
    const one = open(model);
    open(model);
    expect(model.listenerCount()).toBe(base); // views listen to the store, not the model
    one.close();
    expect(one.el.querySelector(".nbchat")).toBeNull();
    teardown();
    expect(model.listenerCount()).toBe(0);
  });

  it("stops updating a closed view", async () => {
    const { model } = start(streaming());
    const view = open(model);
    const content = view.el.querySelector(A1);
    view.close();
    model.custom(batch(3, [["a1", "lo"]]));
    await frame();
    expect(content?.textContent?.trim()).toBe("Hel");
  });
});

describe("retry", () => {
  it("one retry per model until the kernel answers, whichever view is clicked", () => {
    const { model } = start(
      snapshot({
        phase: "interrupted",
        messages: [message("u1", "user", "Hi"), message("a1", "assistant", "Hel", { status: "interrupted" })],
      }),
    );
    const one = open(model);
    const two = open(model);
    const retryIn = (/** @type {HTMLElement} */ root) => /** @type {HTMLButtonElement} */ (root.querySelector("button.nbchat-retry"));
    retryIn(one.el).click();
    retryIn(two.el).click();
    expect(model.sent).toEqual([{ type: "retry" }]);
    expect(retryIn(one.el).disabled).toBe(true);
    expect(retryIn(two.el).disabled).toBe(true); // refused by the shared latch, disabled too
    model.setSnapshot(
      snapshot({
        phase: "error",
        messages: [message("u1", "user", "Hi"), message("a2", "assistant", "", { status: "error" })],
      }),
    );
    expect(retryIn(one.el).disabled).toBe(false);
    expect(retryIn(two.el).disabled).toBe(false);
  });
});
