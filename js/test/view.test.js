// @ts-check
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { MAX_LOADED, createChannel } from "../channel.js";
import { TEXT_CHUNK, createView } from "../view.js";
import { batch, createFakeModel, message, ops, snapshot, toolCall } from "./fakes.js";

/** @typedef {import("./fakes.js").FakeModel} FakeModel */

/** @type {HTMLElement} */
let el;
/** @type {Array<() => void>} */
let cleanups = [];

beforeEach(() => {
  el = document.createElement("div");
  document.body.append(el);
});

afterEach(() => {
  for (const cleanup of cleanups.splice(0)) cleanup();
  document.body.textContent = "";
});

/**
 * A channel on a fake model, hydrated from `snap`, and a view of it in `el`.
 *
 * @param {import("../types.js").Snapshot} snap
 */
function mount(snap) {
  const model = createFakeModel({ snapshot: structuredClone(snap) });
  const channel = createChannel(model);
  channel.connect();
  const destroy = createView(el, channel, { schedule: (fn) => fn(), renderSchedule: (fn) => fn() });
  cleanups.push(destroy, () => channel.disconnect());
  return { model, channel, destroy };
}

/** @param {string} selector */
function $(selector) {
  const found = el.querySelector(selector);
  if (!(found instanceof HTMLElement)) throw new Error(`no ${selector}`);
  return found;
}

/** @param {string} id */
function msgEl(id) {
  return $(`.nbchat-message[data-id="${id}"]`);
}

function input() {
  return /** @type {HTMLTextAreaElement} */ ($("textarea.nbchat-input"));
}

function button() {
  return /** @type {HTMLButtonElement} */ ($("button.nbchat-send"));
}

/**
 * @param {string} key
 * @param {KeyboardEventInit} [init]
 */
function press(key, init = {}) {
  const event = new KeyboardEvent("keydown", { key, bubbles: true, cancelable: true, ...init });
  input().dispatchEvent(event);
  return event;
}

/** @param {string} text */
function type(text) {
  input().value = text;
  input().dispatchEvent(new Event("input", { bubbles: true }));
}

const HOSTILE = '<img src=x onerror=alert(1)><script>alert(2)</script><b>bold</b>';

describe("rendering", () => {
  it("shows header, roles and content", () => {
    mount(
      snapshot({
        phase: "done",
        messages: [message("u1", "user", "Hi there"), message("a1", "assistant", "Hello!\n  indented")],
      }),
    );
    expect($(".nbchat").getAttribute("data-phase")).toBe("done");
    expect($(".nbchat-header .nbchat-model").textContent).toBe("demo-model");
    expect($(".nbchat-header .nbchat-endpoint").textContent).toBe("http://127.0.0.1:8000/v1");
    expect($(".nbchat-phase").textContent).toBe("done");
    const items = [...el.querySelectorAll(".nbchat-messages > .nbchat-message")];
    expect(items.map((m) => [m.getAttribute("data-id"), m.getAttribute("data-role"), m.getAttribute("data-status")])).toEqual([
      ["u1", "user", "done"],
      ["a1", "assistant", "done"],
    ]);
    // A reply is Markdown: the paragraph's continuation line loses its indent.
    expect(msgEl("a1").querySelector(".nbchat-content p")?.textContent).toBe("Hello!\nindented");
    const log = $(".nbchat-messages");
    expect(log.getAttribute("role")).toBe("log");
    expect(log.getAttribute("aria-live")).toBe("polite");
    expect(input().getAttribute("aria-label")).toBe("Message");
    expect(button().getAttribute("aria-label")).toBe("Send message");
    expect($(".nbchat-empty").hidden).toBe(true);
  });

  it("shows phase words", () => {
    const { model } = mount(snapshot({ phase: "connecting" }));
    expect($(".nbchat-phase").textContent).toBe("connecting…");
    model.setSnapshot(snapshot({ phase: "streaming" }));
    expect($(".nbchat-phase").textContent).toBe("streaming");
    model.setSnapshot(snapshot({ phase: "stopped" }));
    expect($(".nbchat-phase").textContent).toBe("stopped");
    expect($(".nbchat-empty").hidden).toBe(false);
  });

  it("inserts model text as text only, from snapshots and from deltas", () => {
    const { model } = mount(
      snapshot({
        seq: 0,
        phase: "streaming",
        messages: [
          message("u1", "user", HOSTILE),
          message("a1", "assistant", HOSTILE, { status: "streaming" }),
        ],
      }),
    );
    model.custom(batch(1, [["a1", "<svg onload=alert(3)>"]]));
    expect(el.querySelectorAll("img, script, b, svg").length).toBe(0);
    expect(msgEl("u1").querySelector(".nbchat-content")?.textContent).toBe(HOSTILE);
    expect(msgEl("a1").querySelector(".nbchat-content")?.textContent?.trim()).toBe(`${HOSTILE}<svg onload=alert(3)>`);
  });

  it("marks stopped, interrupted and error messages", () => {
    mount(
      snapshot({
        phase: "error",
        messages: [
          message("a1", "assistant", "partial", { status: "stopped" }),
          message("a2", "assistant", "half", { status: "interrupted" }),
          message("a3", "assistant", "", {
            status: "error",
            error: { code: "http_401", message: "Unauthorized <b>", hint: "Set OPENAI_API_KEY." },
          }),
          message("a4", "assistant", "fine"),
        ],
      }),
    );
    expect(msgEl("a1").querySelector(".nbchat-marker")?.textContent).toBe("Stopped");
    expect(msgEl("a2").querySelector(".nbchat-marker")?.textContent).toBe("Interrupted");
    expect(msgEl("a3").querySelector(".nbchat-marker")?.textContent).toBe("Error");
    expect(msgEl("a3").getAttribute("data-status")).toBe("error");
    const error = msgEl("a3").querySelector(".nbchat-error");
    expect(error?.firstChild?.textContent).toBe("http_401: Unauthorized <b>");
    expect(error?.querySelector(".nbchat-error-hint")?.textContent).toBe("Set OPENAI_API_KEY.");
    expect(error?.querySelector("b")).toBeNull();
    expect(msgEl("a4").querySelector(".nbchat-marker")).toBeNull();
    expect(msgEl("a4").querySelector(".nbchat-error")).toBeNull();
  });

  it("shows metrics on assistant messages, leaving out what was not measured", () => {
    mount(
      snapshot({
        messages: [
          message("u1", "user", "q", { metrics: { duration_s: 1 } }),
          message("a1", "assistant", "x", {
            metrics: { ttft_s: 0.213, tokens_per_s: 45.27, duration_s: 3.14, output_tokens: 120, input_tokens: 9 },
          }),
          message("a2", "assistant", "y", { metrics: { tokens_per_s: 12, output_tokens: 1 } }),
          message("a3", "assistant", "z"),
        ],
      }),
    );
    expect(msgEl("a1").querySelector(".nbchat-metrics")?.textContent).toBe(
      "TTFT 0.21 s · 45.3 tok/s · 3.1 s · 120 tokens",
    );
    expect(msgEl("a2").querySelector(".nbchat-metrics")?.textContent).toBe("12.0 tok/s · 1 token");
    expect(msgEl("a3").querySelector(".nbchat-metrics")).toBeNull();
    expect(msgEl("u1").querySelector(".nbchat-metrics")).toBeNull();
  });

  it("shows a cursor while streaming only", () => {
    const { model } = mount(
      snapshot({ phase: "streaming", messages: [message("a1", "assistant", "Hel", { status: "streaming" })] }),
    );
    expect(msgEl("a1").querySelectorAll(".nbchat-cursor").length).toBe(1);
    expect(msgEl("a1").getAttribute("aria-busy")).toBe("true");
    model.custom(batch(1, [["a1", "lo"]]));
    const content = msgEl("a1").querySelector(".nbchat-content");
    // The cursor ends the last rendered block.
    expect(content?.querySelector("p")?.lastChild).toBe(msgEl("a1").querySelector(".nbchat-cursor"));
    expect(content?.textContent?.trim()).toBe("Hello");
    model.setSnapshot(snapshot({ seq: 1, phase: "done", messages: [message("a1", "assistant", "Hello")] }));
    expect(msgEl("a1").querySelector(".nbchat-cursor")).toBeNull();
    expect(msgEl("a1").getAttribute("data-status")).toBe("done");
    expect(msgEl("a1").getAttribute("aria-busy")).toBe("false");
  });
});

describe("parts in arrival order", () => {
  it("puts a tool row after the text that came before it, and streams the text after", () => {
    const { model } = mount(
      snapshot({ phase: "streaming", messages: [message("a1", "assistant", "Let me **check**.", { status: "streaming" })] }),
    );
    model.setSnapshot(
      snapshot({
        phase: "streaming",
        messages: [
          message("a1", "assistant", "Let me **check**.", {
            status: "streaming",
            tool_calls: [toolCall("t1", "weather", { at: 17 }), toolCall("t0", "early")],
          }),
        ],
      }),
    );
    model.custom(batch(1, [["a1", "\n\nIt is *sunny*."]]));
    const content = msgEl("a1").querySelector(".nbchat-content");
    const order = [...(content?.children ?? [])].map((c) => `${c.classList[0]}:${c.textContent?.trim().slice(0, 12)}`);
    expect(order).toEqual(["nbchat-part:Let me check", "nbchat-tools:weatherrunni", "nbchat-part:It is sunny."]);
    expect(content?.querySelector(".nbchat-part strong")?.textContent).toBe("check");
    expect(content?.querySelectorAll(".nbchat-part")[1].querySelector("em")?.textContent).toBe("sunny");
    // A call that started before any text stays above it.
    const top = /** @type {HTMLElement | null} */ (msgEl("a1").querySelector(":scope > .nbchat-tools"));
    expect(top?.textContent).toContain("early");
    expect(top?.hidden).toBe(false);
    // The cursor ends the last part; Copy copies the whole text.
    expect(content?.querySelectorAll(".nbchat-part")[1].querySelector(".nbchat-cursor")).not.toBeNull();
    expect(msgEl("a1").querySelector(":scope > .nbchat-copy")).not.toBeNull();
  });
});

describe("progress in arrival order", () => {
  it("shows a progress block after the text before it, above the text without", () => {
    const { model } = mount(
      snapshot({
        phase: "streaming",
        messages: [
          message("a1", "assistant", "Planning.", {
            status: "streaming",
            progress: { stage: "started", percent: 5, message: "", eta_s: null, at: 9 },
          }),
        ],
      }),
    );
    const content = msgEl("a1").querySelector(".nbchat-content");
    expect([...(content?.children ?? [])].map((c) => c.classList[0])).toEqual(["nbchat-part", "nbchat-tools", "nbchat-part"]);
    expect(content?.querySelector(".nbchat-tools .nbchat-progress")).not.toBeNull();
    model.setSnapshot(
      snapshot({
        phase: "streaming",
        messages: [message("a1", "assistant", "", { status: "streaming", progress: { stage: "started", percent: 5 } })],
      }),
    );
    const children = [...msgEl("a1").children].map((c) => c.classList[0]);
    expect(children.indexOf("nbchat-progress")).toBeLessThan(children.indexOf("nbchat-content"));
  });
});

describe("reasoning in arrival order", () => {
  it("shows reasoning that came after some text after that text", () => {
    mount(
      snapshot({
        phase: "done",
        messages: [
          message("a1", "assistant", "First part. Second part.", {
            reasoning: "Let me think again.",
            reasoning_at: 12,
            tool_calls: [toolCall("t1", "search", { at: 12, status: "done" })],
          }),
        ],
      }),
    );
    const content = msgEl("a1").querySelector(".nbchat-content");
    const group = content?.querySelector(".nbchat-tools");
    expect([...(group?.children ?? [])].map((c) => c.classList[0])).toEqual(["nbchat-reasoning", "nbchat-tool"]);
    expect(content?.querySelectorAll(".nbchat-part")[0].textContent?.trim()).toBe("First part.");
    expect(msgEl("a1").querySelector(":scope > .nbchat-reasoning")).toBeNull();
  });
});

describe("context line", () => {
  it("draws one line above the first message sent, moving with the head", () => {
    const messages = [
      message("u1", "user", "a"),
      message("a1", "assistant", "b"),
      message("u2", "user", "c"),
      message("a2", "assistant", "d"),
    ];
    const { model } = mount(snapshot({ messages }));
    expect(el.querySelector(".nbchat-context-line")).toBeNull();
    model.set("head", { seq: 0, phase: "idle", notice: "", model: "m", endpoint: "", context_start: "u2" });
    const line = $(".nbchat-context-line");
    expect(line.nextElementSibling).toBe(msgEl("u2"));
    expect(line.textContent).toContain("not sent to the model");
    // A later render keeps message elements in place around the line.
    const u2 = msgEl("u2");
    model.setSnapshot(snapshot({ messages: [...messages, message("u3", "user", "e")] }));
    expect(msgEl("u2")).toBe(u2);
    expect(el.querySelectorAll(".nbchat-context-line").length).toBe(1);
    expect([...el.querySelectorAll(".nbchat-message")].map((m) => m.getAttribute("data-id"))).toEqual([
      "u1",
      "a1",
      "u2",
      "a2",
      "u3",
    ]);
    model.set("head", { seq: 0, phase: "idle", notice: "", model: "m", endpoint: "", context_start: "" });
    expect(el.querySelector(".nbchat-context-line")).toBeNull();
  });
});

describe("incremental updates", () => {
  it("renders a delta into the reply's open block, touching nothing else", () => {
    const { model } = mount(
      snapshot({
        phase: "streaming",
        messages: [message("u1", "user", "Hi"), message("a1", "assistant", "# Title\n\nHel", { status: "streaming" })],
      }),
    );
    const userEl = msgEl("u1");
    const userText = userEl.querySelector(".nbchat-content")?.firstChild;
    const heading = msgEl("a1").querySelector(".nbchat-blocks h1");
    expect(heading?.textContent).toBe("Title");
    model.custom(batch(1, [["a1", "lo"]]));
    expect(msgEl("u1")).toBe(userEl);
    expect(userEl.querySelector(".nbchat-content")?.firstChild).toBe(userText);
    // The finished heading was rendered once and kept; the open paragraph grew.
    expect(msgEl("a1").querySelector(".nbchat-blocks h1")).toBe(heading);
    expect(msgEl("a1").querySelector(".nbchat-tail p")?.textContent).toBe("Hello");
  });

  it("keeps elements of unchanged messages across snapshots", () => {
    const { model } = mount(snapshot({ messages: [message("u1", "user", "Hi"), message("a1", "assistant", "Hello")] }));
    const u1 = msgEl("u1");
    const a1Text = msgEl("a1").querySelector(".nbchat-content")?.firstChild;
    model.setSnapshot(
      snapshot({
        phase: "connecting",
        messages: [message("u1", "user", "Hi"), message("a1", "assistant", "Hello"), message("u2", "user", "More")],
      }),
    );
    expect(msgEl("u1")).toBe(u1);
    expect(msgEl("a1").querySelector(".nbchat-content")?.firstChild).toBe(a1Text);
    expect([...el.querySelectorAll(".nbchat-message")].map((m) => m.getAttribute("data-id"))).toEqual(["u1", "a1", "u2"]);
    model.setSnapshot(snapshot({ messages: [message("u2", "user", "More"), message("u1", "user", "Changed")] }));
    expect([...el.querySelectorAll(".nbchat-message")].map((m) => m.getAttribute("data-id"))).toEqual(["u2", "u1"]);
    expect(msgEl("u1").querySelector(".nbchat-content")?.textContent).toBe("Changed");
  });

  it("bounds text nodes over 10k deltas and keeps the text exact", () => {
    const { model } = mount(
      snapshot({ phase: "streaming", messages: [message("a1", "assistant", "", { status: "streaming", reasoning: "r" })] }),
    );
    let expected = "r";
    for (let seq = 1; seq <= 10_000; seq++) {
      const text = `tok${seq} `;
      expected += text;
      model.custom(ops(seq, [["reasoning", "a1", text]]));
    }
    const content = msgEl("a1").querySelector(".nbchat-reasoning-text");
    expect(content?.textContent).toBe(expected);
    const textNodes = [...(content?.childNodes ?? [])].filter((n) => n.nodeType === 3);
    expect(textNodes.length).toBeLessThanOrEqual(Math.ceil(expected.length / TEXT_CHUNK) + 1);
    expect(textNodes.length).toBeGreaterThan(1);
  });
});

describe("input", () => {
  it("flips the button between Send and Stop with the phase", () => {
    const { model } = mount(snapshot({ phase: "idle" }));
    expect(button().textContent).toBe("Send");
    expect(button().getAttribute("data-action")).toBe("send");
    expect(button().classList.contains("nbchat-stop")).toBe(false);
    for (const phase of /** @type {const} */ (["connecting", "streaming"])) {
      model.setSnapshot(snapshot({ phase }));
      expect(button().textContent).toBe("Stop");
      expect(button().getAttribute("data-action")).toBe("stop");
      expect(button().classList.contains("nbchat-stop")).toBe(true);
    }
    for (const phase of /** @type {const} */ (["done", "stopped", "error", "interrupted", "idle"])) {
      model.setSnapshot(snapshot({ phase }));
      expect(button().textContent).toBe("Send");
      expect(button().classList.contains("nbchat-stop")).toBe(false);
    }
  });

  it("sends on Enter and clears the input", () => {
    const { model } = mount(snapshot());
    type("Hello model");
    const event = press("Enter");
    expect(event.defaultPrevented).toBe(true);
    expect(model.sent).toEqual([{ type: "send", text: "Hello model" }]);
    expect(input().value).toBe("");
  });

  it("does not send on Shift+Enter or during IME composition", () => {
    const { model } = mount(snapshot());
    type("line one");
    expect(press("Enter", { shiftKey: true }).defaultPrevented).toBe(false);
    expect(press("Enter", { isComposing: true }).defaultPrevented).toBe(false);
    expect(press("Enter", { keyCode: 229 }).defaultPrevented).toBe(false);
    expect(model.sent).toEqual([]);
    expect(input().value).toBe("line one");
  });

  it("ignores blank input", () => {
    const { model } = mount(snapshot());
    type("  \n\t ");
    press("Enter");
    button().click();
    expect(model.sent).toEqual([]);
  });

  it("sends with the button, and Stop sends stop", () => {
    const { model } = mount(snapshot());
    type("via button");
    button().click();
    expect(model.sent).toEqual([{ type: "send", text: "via button" }]);
    model.setSnapshot(snapshot({ phase: "streaming" }));
    button().click();
    expect(model.sent).toEqual([{ type: "send", text: "via button" }, { type: "stop" }]);
  });

  it("queues a message sent while a turn is running, and sends it when the turn ends", () => {
    const { model } = mount(snapshot({ phase: "streaming" }));
    type("next question");
    const event = press("Enter");
    expect(event.defaultPrevented).toBe(true); // no newline either
    expect(model.sent).toEqual([]);
    expect(input().value).toBe("");
    const queued = /** @type {HTMLElement} */ (el.querySelector(".nbchat-queued"));
    expect(queued.hidden).toBe(false);
    expect(queued.textContent).toContain("Queued: next question");
    model.set("head", { phase: "done", seq: 0, notice: "", model: "m" });
    expect(model.sent).toEqual([{ type: "send", text: "next question" }]);
    expect(queued.hidden).toBe(true);
  });

  it("drops a queued message on its ×", () => {
    const { model } = mount(snapshot({ phase: "streaming" }));
    type("never mind");
    press("Enter");
    /** @type {HTMLButtonElement} */ (el.querySelector(".nbchat-unqueue")).click();
    model.set("head", { phase: "done", seq: 0, notice: "", model: "m" });
    expect(model.sent).toEqual([]);
    expect(/** @type {HTMLElement} */ (el.querySelector(".nbchat-queued")).hidden).toBe(true);
  });

  it("says when the kernel is gone, keeps the draft and sends nothing", () => {
    const { model } = mount(snapshot());
    type("my draft");
    // ipywidgets triggers comm_live_update with the model (comm_live false) as context
    for (const handler of model.handlersFor("comm_live_update")) {
      handler.callback.call({ comm_live: false });
    }
    const gone = /** @type {HTMLElement} */ (el.querySelector(".nbchat-gone"));
    expect(gone.hidden).toBe(false);
    expect(gone.textContent).toContain("kernel restarted");
    expect(gone.textContent).toContain("Re-run this cell");
    expect(input().value).toBe("my draft");
    expect(input().readOnly).toBe(true);
    press("Enter");
    button().click();
    expect(model.sent).toEqual([]);
  });

  it("takes a failing send as a dead kernel", () => {
    const { model } = mount(snapshot());
    model.send = () => {
      throw new Error("Cannot send");
    };
    type("hello");
    press("Enter");
    const gone = /** @type {HTMLElement} */ (el.querySelector(".nbchat-gone"));
    expect(gone.hidden).toBe(false);
    expect(gone.textContent).toContain("Cannot send");
  });

  it("does not send twice before the kernel answers", () => {
    const { model } = mount(snapshot());
    type("once");
    press("Enter");
    type("twice");
    press("Enter");
    expect(model.sent).toEqual([{ type: "send", text: "once" }]);
    expect(input().value).toBe("twice");
    model.setSnapshot(snapshot({ phase: "done", messages: [message("u1", "user", "once")] }));
    press("Enter");
    expect(model.sent).toEqual([{ type: "send", text: "once" }, { type: "send", text: "twice" }]);
  });

  it("keeps keystrokes from reaching notebook shortcuts", () => {
    mount(snapshot());
    /** @type {string[]} */
    const seen = [];
    /** @param {KeyboardEvent} e */
    const spy = (e) => seen.push(e.key);
    document.addEventListener("keydown", spy);
    try {
      for (const key of ["a", "b", "d", "d", "Enter"]) press(key);
      $(".nbchat-messages").dispatchEvent(new KeyboardEvent("keydown", { key: "a", bubbles: true }));
      expect(seen).toEqual([]);
      press("Escape");
      expect(seen).toEqual(["Escape"]);
    } finally {
      document.removeEventListener("keydown", spy);
    }
    expect($(".nbchat").hasAttribute("data-lm-suppress-shortcuts")).toBe(true);
  });
});

describe("auto-scroll", () => {
  /**
   * Give the transcript a fake layout: `height` px of content in a 100 px window.
   *
   * @param {HTMLElement} list
   */
  function fakeLayout(list) {
    const layout = { height: 1000, top: 0 };
    Object.defineProperty(list, "scrollHeight", { get: () => layout.height, configurable: true });
    Object.defineProperty(list, "clientHeight", { get: () => 100, configurable: true });
    Object.defineProperty(list, "scrollTop", {
      get: () => layout.top,
      set: (v) => {
        layout.top = Math.max(0, Math.min(v, layout.height - 100));
      },
      configurable: true,
    });
    return layout;
  }

  it("follows new text at the bottom, and offers a jump when scrolled up", () => {
    const { model } = mount(
      snapshot({ phase: "streaming", messages: [message("a1", "assistant", "", { status: "streaming" })] }),
    );
    const list = $(".nbchat-messages");
    const jump = $(".nbchat-jump");
    const layout = fakeLayout(list);
    model.custom(batch(1, [["a1", "a"]]));
    expect(layout.top).toBe(900);
    expect(jump.hidden).toBe(true);

    layout.height = 1100; // more text came before the event of nbchat's own scroll
    list.dispatchEvent(new Event("scroll"));
    model.custom(batch(2, [["a1", "b"]]));
    expect(layout.top).toBe(1000); // still following

    layout.top = 200; // the user scrolls up
    list.dispatchEvent(new Event("scroll"));
    layout.height = 1200;
    model.custom(batch(3, [["a1", "b"]]));
    expect(layout.top).toBe(200);
    expect(jump.hidden).toBe(false);
    expect(jump.textContent).toBe("↓ new messages");

    jump.click();
    expect(layout.top).toBe(1100);
    expect(jump.hidden).toBe(true);
    layout.height = 1500;
    model.custom(batch(4, [["a1", "c"]]));
    expect(layout.top).toBe(1400);
  });
});

describe("cleanup", () => {
  it("removes the DOM and stops listening to the store", () => {
    const { model, destroy } = mount(
      snapshot({ phase: "streaming", messages: [message("a1", "assistant", "", { status: "streaming" })] }),
    );
    destroy();
    expect(el.querySelector(".nbchat")).toBeNull();
    model.custom(batch(1, [["a1", "after"]]));
    model.setSnapshot(snapshot({ phase: "done" }));
    expect(el.childNodes.length).toBe(0);
  });
});

/** @param {string} id */
function reasoningEl(id) {
  return /** @type {HTMLDetailsElement | null} */ (msgEl(id).querySelector("details.nbchat-reasoning"));
}

/**
 * @param {string} messageId
 * @param {string} toolId
 */
function toolEl(messageId, toolId) {
  const found = msgEl(messageId).querySelector(`.nbchat-tools > details.nbchat-tool[data-id="${toolId}"]`);
  if (!(found instanceof HTMLDetailsElement)) throw new Error(`no tool ${toolId}`);
  return found;
}

/** @param {Element} tool */
function toolParts(tool) {
  const part = (/** @type {string} */ kind) => /** @type {HTMLElement} */ (tool.querySelector(`.nbchat-tool-part[data-part="${kind}"]`));
  return {
    name: tool.querySelector("summary .nbchat-tool-name")?.textContent,
    state: tool.querySelector("summary .nbchat-tool-state")?.textContent,
    args: tool.querySelector("pre.nbchat-tool-args")?.textContent,
    argsHidden: part("args").hidden,
    result: tool.querySelector("pre.nbchat-tool-result")?.textContent,
    resultHidden: part("result").hidden,
  };
}

describe("reasoning", () => {
  it("shows reasoning collapsed, apart from the reply, and streams it live", () => {
    const { model } = mount(
      snapshot({
        phase: "streaming",
        messages: [message("u1", "user", "q"), message("a1", "assistant", "", { status: "streaming", reasoning: "First," })],
      }),
    );
    const details = reasoningEl("a1");
    expect(details).not.toBeNull();
    expect(details?.open).toBe(false);
    expect(details?.querySelector("summary.nbchat-reasoning-summary")?.textContent).toBe("Reasoning");
    const text = () => details?.querySelector(".nbchat-reasoning-text")?.textContent;
    expect(text()).toBe("First,");
    model.custom(ops(1, [["reasoning", "a1", " second."], ["text", "a1", "Answer"]]));
    expect(text()).toBe("First, second.");
    expect(msgEl("a1").querySelector(".nbchat-content")?.textContent?.trim()).toBe("Answer");
    // Reasoning comes before the reply and is not part of it.
    const children = [...msgEl("a1").children].map((c) => c.classList[0]);
    expect(children.indexOf("nbchat-reasoning")).toBeLessThan(children.indexOf("nbchat-content"));
    expect(reasoningEl("u1")).toBeNull();
  });

  it("creates the block on the first reasoning delta", () => {
    const { model } = mount(
      snapshot({ phase: "streaming", messages: [message("a1", "assistant", "", { status: "streaming" })] }),
    );
    expect(reasoningEl("a1")).toBeNull();
    model.custom(ops(1, [["reasoning", "a1", "hmm"]]));
    expect(reasoningEl("a1")?.querySelector(".nbchat-reasoning-text")?.textContent).toBe("hmm");
    expect(reasoningEl("a1")?.hidden).toBe(false);
  });

  it("keeps the element, its text node and the user's open state across snapshots", () => {
    const streaming = (/** @type {string} */ reasoning, /** @type {any} */ extra = {}) =>
      snapshot({
        phase: "streaming",
        messages: [message("a1", "assistant", "", { status: "streaming", reasoning, ...extra })],
      });
    const { model } = mount(streaming("abc"));
    const details = reasoningEl("a1");
    const node = details?.querySelector(".nbchat-reasoning-text")?.firstChild;
    if (details) details.open = true; // the user expands it
    model.setSnapshot(streaming("abcdef"));
    model.setSnapshot(snapshot({ phase: "done", messages: [message("a1", "assistant", "Done.", { reasoning: "abcdef" })] }));
    expect(reasoningEl("a1")).toBe(details);
    expect(details?.open).toBe(true);
    expect(details?.querySelector(".nbchat-reasoning-text")?.firstChild).toBe(node);
    expect(node?.textContent).toBe("abcdef");
    model.setSnapshot(snapshot({ phase: "done", messages: [message("a1", "assistant", "Done.")] }));
    expect(details?.hidden).toBe(true);
  });

  it("ignores unknown ops without crashing", () => {
    const { model } = mount(
      snapshot({ phase: "streaming", messages: [message("a1", "assistant", "Hel", { status: "streaming" })] }),
    );
    model.custom(ops(1, [["sparkles", "a1", "<b>x</b>"], ["text", "a1", "lo"]]));
    model.custom(ops(2, [["sparkles", "nobody", "?"]]));
    model.custom(batch(3, [["a1", "!"]]));
    expect(msgEl("a1").querySelector(".nbchat-content")?.textContent?.trim()).toBe("Hello!");
    expect(model.sent).toEqual([]);
  });

  it("asks for a snapshot on a reasoning gap and renders it", () => {
    const { model } = mount(
      snapshot({ seq: 1, phase: "streaming", messages: [message("a1", "assistant", "", { status: "streaming" })] }),
    );
    model.custom(ops(3, [["reasoning", "a1", "lost"]]));
    expect(model.sent).toEqual([{ type: "sync" }]);
    expect(reasoningEl("a1")).toBeNull();
    model.setSnapshot(
      snapshot({
        seq: 3,
        phase: "streaming",
        messages: [message("a1", "assistant", "", { status: "streaming", reasoning: "xy lost" })],
      }),
    );
    model.custom(ops(4, [["reasoning", "a1", "!"]]));
    expect(reasoningEl("a1")?.querySelector(".nbchat-reasoning-text")?.textContent).toBe("xy lost!");
  });

  it("bounds reasoning text nodes over many deltas", () => {
    const { model } = mount(
      snapshot({ phase: "streaming", messages: [message("a1", "assistant", "", { status: "streaming" })] }),
    );
    let expected = "";
    for (let seq = 1; seq <= 5000; seq++) {
      const text = `thought${seq} `;
      expected += text;
      model.custom(ops(seq, [["reasoning", "a1", text]]));
    }
    const box = reasoningEl("a1")?.querySelector(".nbchat-reasoning-text");
    expect(box?.textContent).toBe(expected);
    expect(box?.childNodes.length).toBeLessThanOrEqual(Math.ceil(expected.length / TEXT_CHUNK) + 1);
  });
});

describe("refusal", () => {
  it("shows a refusal as its own block, text only", () => {
    const { model } = mount(
      snapshot({ phase: "done", messages: [message("a1", "assistant", "", { refusal: `No. ${HOSTILE}` })] }),
    );
    const refusal = msgEl("a1").querySelector(".nbchat-refusal");
    expect(refusal?.textContent).toBe(`No. ${HOSTILE}`);
    expect(el.querySelectorAll("img, script, b").length).toBe(0);
    model.setSnapshot(snapshot({ phase: "done", messages: [message("a1", "assistant", "ok")] }));
    expect(/** @type {HTMLElement} */ (msgEl("a1").querySelector(".nbchat-refusal")).hidden).toBe(true);
    mount(snapshot({ messages: [message("a2", "assistant", "fine")] }));
    expect(msgEl("a2").querySelector(".nbchat-refusal")).toBeNull();
  });
});

describe("tool calls", () => {
  it("renders a call from running to done, with duration and result", () => {
    const running = toolCall("t1", "get_weather", { arguments: '{"city": "Par' });
    const { model } = mount(
      snapshot({
        phase: "streaming",
        messages: [message("a1", "assistant", "", { status: "streaming", tool_calls: [running] })],
      }),
    );
    const tool = toolEl("a1", "t1");
    expect(tool.getAttribute("data-status")).toBe("running");
    expect(tool.open).toBe(false);
    expect(toolParts(tool)).toMatchObject({
      name: "get_weather",
      state: "running…",
      args: '{"city": "Par',
      argsHidden: false,
      resultHidden: true,
    });
    tool.open = true; // the user expands it while it runs

    const done = toolCall("t1", "get_weather", {
      arguments: '{"city": "Paris"}',
      input: { city: "Paris" },
      status: "done",
      duration_s: 0.4249,
      result: { temp_c: 21, sky: "clear" },
    });
    model.setSnapshot(
      snapshot({
        phase: "streaming",
        messages: [message("a1", "assistant", "It is sunny.", { status: "streaming", tool_calls: [done] })],
      }),
    );
    expect(toolEl("a1", "t1")).toBe(tool);
    expect(tool.open).toBe(true);
    expect(tool.getAttribute("data-status")).toBe("done");
    expect(toolParts(tool)).toMatchObject({
      state: "0.42 s",
      args: '{\n  "city": "Paris"\n}',
      result: '{\n  "temp_c": 21,\n  "sky": "clear"\n}',
      resultHidden: false,
    });
    // Tool calls come before the reply text.
    const children = [...msgEl("a1").children].map((c) => c.classList[0]);
    expect(children.indexOf("nbchat-tools")).toBeLessThan(children.indexOf("nbchat-content"));
  });

  it("shows raw arguments that are not JSON, text results as is, and done without a duration", () => {
    mount(
      snapshot({
        messages: [
          message("a1", "assistant", "", {
            tool_calls: [
              toolCall("t1", "run", { arguments: "not json", status: "done", result: "line 1\nline 2" }),
              toolCall("t2", "", { arguments: "", status: "done", result: null }),
            ],
          }),
        ],
      }),
    );
    expect(toolParts(toolEl("a1", "t1"))).toMatchObject({
      state: "done",
      args: "not json",
      result: "line 1\nline 2",
      resultHidden: false,
    });
    expect(toolParts(toolEl("a1", "t2"))).toMatchObject({ name: "tool", argsHidden: true, result: "null", resultHidden: false });
  });

  it("reconciles calls by id: order, additions, removals", () => {
    const { model } = mount(snapshot({ messages: [message("a1", "assistant", "", { tool_calls: [toolCall("t1", "a")] })] }));
    const t1 = toolEl("a1", "t1");
    model.setSnapshot(
      snapshot({ messages: [message("a1", "assistant", "", { tool_calls: [toolCall("t2", "b"), toolCall("t1", "a")] })] }),
    );
    expect(toolEl("a1", "t1")).toBe(t1);
    const ids = () => [...msgEl("a1").querySelectorAll(".nbchat-tool")].map((t) => t.getAttribute("data-id"));
    expect(ids()).toEqual(["t2", "t1"]);
    model.setSnapshot(snapshot({ messages: [message("a1", "assistant", "")] }));
    expect(ids()).toEqual([]);
    expect(/** @type {HTMLElement} */ (msgEl("a1").querySelector(".nbchat-tools")).hidden).toBe(true);
  });

  it("never turns tool names, arguments, results, reasoning or notices into HTML", () => {
    const { model } = mount(
      snapshot({
        phase: "streaming",
        notice: HOSTILE,
        messages: [
          message("a1", "assistant", "", {
            status: "streaming",
            reasoning: HOSTILE,
            tool_calls: [
              toolCall("t1", HOSTILE, { arguments: HOSTILE, status: "done", result: HOSTILE }),
              toolCall("t2", "x", { arguments: "{}", input: { html: HOSTILE }, status: "done", result: { html: HOSTILE } }),
            ],
          }),
        ],
      }),
    );
    model.custom(ops(1, [["reasoning", "a1", "<svg onload=alert(3)>"]]));
    expect(el.querySelectorAll("img, script, b, svg").length).toBe(0);
    expect(toolParts(toolEl("a1", "t1"))).toMatchObject({ name: HOSTILE, args: HOSTILE, result: HOSTILE });
    expect(toolParts(toolEl("a1", "t2")).result).toContain(JSON.stringify(HOSTILE));
    expect(reasoningEl("a1")?.querySelector(".nbchat-reasoning-text")?.textContent).toBe(`${HOSTILE}<svg onload=alert(3)>`);
    expect($(".nbchat-notice").textContent).toBe(HOSTILE);
  });
});

describe("reconnecting, notice, metrics", () => {
  it("shows Stop while reconnecting and blocks sending", () => {
    const { model } = mount(snapshot({ phase: "reconnecting" }));
    expect($(".nbchat").getAttribute("data-phase")).toBe("reconnecting");
    expect($(".nbchat-phase").textContent).toBe("reconnecting…");
    expect(button().textContent).toBe("Stop");
    expect(button().getAttribute("data-action")).toBe("stop");
    type("next");
    press("Enter");
    expect(model.sent).toEqual([]);
    button().click();
    expect(model.sent).toEqual([{ type: "stop" }]);
  });

  it("shows the notice while there is one", () => {
    const { model } = mount(snapshot({ phase: "idle" }));
    const notice = $(".nbchat-notice");
    expect(notice.hidden).toBe(true);
    const text = "rate limited by the server: retrying in 3 s (attempt 2 of 4)";
    model.setSnapshot(snapshot({ phase: "reconnecting", notice: text }));
    expect(notice.hidden).toBe(false);
    expect(notice.textContent).toBe(text);
    expect(notice.getAttribute("role")).toBe("status");
    model.setSnapshot(snapshot({ phase: "streaming", notice: "" }));
    expect(notice.hidden).toBe(true);
    model.setSnapshot(snapshot({ phase: "streaming", notice: "x" }));
    model.setSnapshot(snapshot({ phase: "done" }));
    expect(notice.hidden).toBe(true);
  });

  it("shows reconnects and retries in the metrics when there were any", () => {
    mount(
      snapshot({
        messages: [
          message("a1", "assistant", "x", { metrics: { duration_s: 2, reconnects: 1, retries: 2 } }),
          message("a2", "assistant", "y", { metrics: { reconnects: 3, retries: 1 } }),
          message("a3", "assistant", "z", { metrics: { output_tokens: 5, reconnects: 0, retries: 0 } }),
        ],
      }),
    );
    expect(msgEl("a1").querySelector(".nbchat-metrics")?.textContent).toBe("2.0 s · 1 reconnect · 2 retries");
    expect(msgEl("a2").querySelector(".nbchat-metrics")?.textContent).toBe("3 reconnects · 1 retry");
    expect(msgEl("a3").querySelector(".nbchat-metrics")?.textContent).toBe("5 tokens");
    expect(/** @type {HTMLElement} */ (msgEl("a1").querySelector(".nbchat-metrics")).title).toContain("resumed 1 time");
  });
});

describe("retry", () => {
  const retryButtons = () => /** @type {HTMLButtonElement[]} */ ([...el.querySelectorAll("button.nbchat-retry")]);

  /**
   * @param {import("../types.js").Phase} phase
   * @param {import("../types.js").MessageStatus} status
   */
  const ended = (phase, status) =>
    snapshot({
      phase,
      messages: [
        message("u0", "user", "first"),
        message("a0", "assistant", "old", { status: "error" }),
        message("u1", "user", "q"),
        message("a1", "assistant", "partial", { status }),
      ],
    });

  it("appears on the last reply when it ended interrupted, error or stopped", () => {
    for (const status of /** @type {const} */ (["interrupted", "error", "stopped"])) {
      const { destroy } = mount(ended(status, status));
      expect(retryButtons().length).toBe(1);
      const retry = retryButtons()[0];
      expect(retry.textContent).toBe("Retry");
      expect(retry.closest(".nbchat-message")?.getAttribute("data-id")).toBe("a1");
      expect(retry.disabled).toBe(false);
      destroy();
    }
  });

  it("says Regenerate on a finished reply; is absent while a turn runs and after a newer user message", () => {
    const { model } = mount(ended("done", "done"));
    expect(retryButtons().map((b) => b.textContent)).toEqual(["Regenerate"]);
    for (const phase of /** @type {const} */ (["connecting", "reconnecting", "streaming"])) {
      model.setSnapshot(ended(phase, "interrupted"));
      expect(retryButtons()).toEqual([]);
    }
    model.setSnapshot(
      snapshot({
        phase: "error",
        messages: [message("u1", "user", "q"), message("a1", "assistant", "x", { status: "error" }), message("u2", "user", "r")],
      }),
    );
    expect(retryButtons()).toEqual([]);
  });

  it("sends retry once and stays disabled until the next snapshot", () => {
    const { model } = mount(ended("interrupted", "interrupted"));
    const retry = retryButtons()[0];
    retry.click();
    expect(model.sent).toEqual([{ type: "retry" }]);
    expect(retry.disabled).toBe(true);
    retry.dispatchEvent(new MouseEvent("click", { bubbles: true })); // even if a click gets through
    type("a new question");
    press("Enter");
    expect(model.sent).toEqual([{ type: "retry" }]);

    // The kernel replaces the reply with a new streaming one: no Retry while it runs.
    model.setSnapshot(
      snapshot({
        phase: "streaming",
        messages: [message("u1", "user", "q"), message("a2", "assistant", "", { status: "streaming" })],
      }),
    );
    expect(retryButtons()).toEqual([]);
    model.setSnapshot(
      snapshot({
        phase: "stopped",
        messages: [message("u1", "user", "q"), message("a2", "assistant", "new", { status: "stopped" })],
      }),
    );
    expect(retryButtons().length).toBe(1);
    expect(retryButtons()[0].disabled).toBe(false);
    expect(retryButtons()[0].closest(".nbchat-message")?.getAttribute("data-id")).toBe("a2");
    retryButtons()[0].click();
    expect(model.sent).toEqual([{ type: "retry" }, { type: "retry" }]);
  });
});

describe("progress", () => {
  /**
   * @param {Partial<import("../types.js").ProgressInfo>} progress
   * @param {Partial<import("../types.js").MessageInfo>} [extra]
   * @param {import("../types.js").Phase} [phase]
   */
  const step = (progress, extra = {}, phase = "streaming") =>
    snapshot({
      phase,
      messages: [
        message("u1", "user", "Make me a plan"),
        message("a1", "assistant", "", { status: "streaming", progress: { stage: "", percent: null, message: "", eta_s: null, ...progress }, ...extra }),
      ],
    });

  const block = () => /** @type {HTMLElement} */ (msgEl("a1").querySelector(".nbchat-progress"));
  /** @param {string} part */
  const part = (part) => /** @type {HTMLElement} */ (block().querySelector(`.nbchat-progress-${part}`));
  const shown = (/** @type {string} */ name) => (part(name).hidden ? null : part(name).textContent);

  it("is created on the first snapshot with progress and updated in place", () => {
    const { model } = mount(snapshot({ phase: "streaming", messages: [message("a1", "assistant", "", { status: "streaming" })] }));
    expect(msgEl("a1").querySelector(".nbchat-progress")).toBeNull();

    model.setSnapshot(step({ stage: "started", percent: 5, message: "Setting up", eta_s: 12 }));
    const el0 = block();
    const bar = part("bar");
    const fill = part("fill");
    const stage = part("stage");
    const msg = part("message");
    expect(el0.getAttribute("data-status")).toBe("running");
    expect(el0.hasAttribute("data-indeterminate")).toBe(false);
    expect(shown("stage")).toBe("Started");
    expect(shown("percent")).toBe("5 %");
    expect(shown("eta")).toBe("about 12 s left");
    expect(shown("message")).toBe("Setting up");
    expect(fill.style.width).toBe("5%");
    expect(bar.getAttribute("role")).toBe("progressbar");
    expect([bar.getAttribute("aria-valuemin"), bar.getAttribute("aria-valuemax"), bar.getAttribute("aria-valuenow")]).toEqual(["0", "100", "5"]);
    expect(bar.getAttribute("aria-valuetext")).toBe("Started, 5 %");
    // Progress comes before the reply text.
    const children = [...msgEl("a1").children].map((c) => c.classList[0]);
    expect(children.indexOf("nbchat-progress")).toBeLessThan(children.indexOf("nbchat-content"));

    model.setSnapshot(step({ stage: "fetching-exercises", percent: 15.5, message: "Loading the library", eta_s: 130 }));
    expect(block()).toBe(el0);
    expect(part("bar")).toBe(bar);
    expect(part("fill")).toBe(fill);
    expect(part("stage")).toBe(stage);
    expect(part("message")).toBe(msg);
    expect(shown("stage")).toBe("Fetching exercises");
    expect(shown("percent")).toBe("15 %");
    expect(shown("eta")).toBe("about 2 min left");
    expect(shown("message")).toBe("Loading the library");
    expect(fill.style.width).toBe("15.5%");
    expect(bar.getAttribute("aria-valuenow")).toBe("15");
    expect(msgEl("a1").querySelectorAll(".nbchat-progress").length).toBe(1);
  });

  it("leaves unchanged parts untouched between snapshots", () => {
    const { model } = mount(step({ stage: "generating", percent: 40, message: "Writing", eta_s: 8 }));
    const stageText = part("stage").firstChild;
    const messageText = part("message").firstChild;
    model.setSnapshot(step({ stage: "generating", percent: 55, message: "Writing", eta_s: 5 }));
    expect(part("stage").firstChild).toBe(stageText);
    expect(part("message").firstChild).toBe(messageText);
    expect(shown("percent")).toBe("55 %");
  });

  it("is indeterminate while the percent is unknown, without valuenow", () => {
    const { model } = mount(step({ stage: "generating", percent: null, message: "Waiting for the model" }));
    expect(block().getAttribute("data-indeterminate")).toBe("true");
    expect(part("bar").hasAttribute("aria-valuenow")).toBe(false);
    expect(part("bar").getAttribute("aria-valuemin")).toBe("0");
    expect(part("bar").getAttribute("aria-valuemax")).toBe("100");
    expect(part("bar").getAttribute("aria-valuetext")).toBe("Generating");
    expect(part("fill").style.width).toBe("");
    expect(shown("percent")).toBeNull();
    expect(shown("eta")).toBeNull();

    model.setSnapshot(step({ stage: "validating", percent: 70 }));
    expect(block().hasAttribute("data-indeterminate")).toBe(false);
    expect(part("bar").getAttribute("aria-valuenow")).toBe("70");
    expect(part("fill").style.width).toBe("70%");
    expect(shown("message")).toBeNull();

    model.setSnapshot(step({ stage: "", percent: null }));
    expect(shown("stage")).toBeNull();
    expect(part("bar").hasAttribute("aria-valuetext")).toBe(false);
  });

  it("shows its final state once the message stops streaming", () => {
    const { model } = mount(step({ stage: "storing", percent: 85, message: "Saving", eta_s: 3 }));
    for (const status of /** @type {const} */ (["done", "stopped", "error", "interrupted"])) {
      model.setSnapshot(
        step({ stage: "storing", percent: 85, message: "Saving", eta_s: 3 }, { status }, status === "done" ? "done" : status),
      );
      expect(block().getAttribute("data-status")).toBe(status);
      expect(shown("eta")).toBeNull();
      expect(shown("percent")).toBe("85 %");
      expect(part("fill").style.width).toBe("85%");
      expect(part("bar").getAttribute("aria-valuenow")).toBe("85");
    }
    model.setSnapshot(step({ stage: "complete", percent: 100, eta_s: 0 }, { status: "done" }, "done"));
    expect(block().getAttribute("data-status")).toBe("done");
    expect(shown("stage")).toBe("Complete");
    expect(shown("percent")).toBe("100 %");
  });

  it("hides the block when a later snapshot has no progress, and never renders model text as HTML", () => {
    const { model } = mount(step({ stage: HOSTILE, percent: 10, message: HOSTILE }));
    expect(el.querySelectorAll("img, script, b").length).toBe(0);
    expect(shown("message")).toBe(HOSTILE);
    const el0 = block();
    model.setSnapshot(snapshot({ messages: [message("a1", "assistant", "ok")] }));
    expect(block()).toBe(el0);
    expect(el0.hidden).toBe(true);
    model.setSnapshot(step({ stage: "started", percent: 1 }));
    expect(block()).toBe(el0);
    expect(el0.hidden).toBe(false);
  });
});

describe("result", () => {
  /** @param {unknown} result */
  const withResult = (result) => snapshot({ phase: "done", messages: [message("a1", "assistant", "", { result })] });
  const resultEl = () => /** @type {HTMLDetailsElement | null} */ (msgEl("a1").querySelector("details.nbchat-result"));

  it("shows an object as pretty JSON, open, after the content", () => {
    mount(withResult({ exercises: [{ name: "squat", reps: 10 }] }));
    const details = resultEl();
    expect(details?.open).toBe(true);
    expect(details?.querySelector("summary.nbchat-result-summary")?.textContent).toBe("Result");
    expect(details?.querySelector("pre.nbchat-result-body")?.textContent).toBe(
      '{\n  "exercises": [\n    {\n      "name": "squat",\n      "reps": 10\n    }\n  ]\n}',
    );
    const children = [...msgEl("a1").children].map((c) => c.classList[0]);
    expect(children.indexOf("nbchat-content")).toBeLessThan(children.indexOf("nbchat-result"));
    expect(children.indexOf("nbchat-result")).toBeLessThan(children.indexOf("nbchat-footer"));
  });

  it("shows a string as is and null as null", () => {
    const { model } = mount(withResult("line 1\nline 2"));
    expect(resultEl()?.querySelector("pre")?.textContent).toBe("line 1\nline 2");
    model.setSnapshot(withResult(null));
    expect(resultEl()?.querySelector("pre")?.textContent).toBe("null");
    expect(resultEl()?.hidden).toBe(false);
  });

  it("keeps the element and the user's open state, and hides it when the result goes", () => {
    const { model } = mount(withResult({ a: 1 }));
    const details = /** @type {HTMLDetailsElement} */ (resultEl());
    details.open = false;
    model.setSnapshot(withResult({ a: 2 }));
    expect(resultEl()).toBe(details);
    expect(details.open).toBe(false);
    expect(details.querySelector("pre")?.textContent).toBe('{\n  "a": 2\n}');
    model.setSnapshot(snapshot({ messages: [message("a1", "assistant", "")] }));
    expect(details.hidden).toBe(true);
  });

  it("never turns keys or values into HTML", () => {
    mount(withResult({ [HOSTILE]: HOSTILE, list: [HOSTILE] }));
    expect(el.querySelectorAll("img, script, b").length).toBe(0);
    const text = resultEl()?.querySelector("pre")?.textContent ?? "";
    expect(JSON.parse(text)).toEqual({ [HOSTILE]: HOSTILE, list: [HOSTILE] });
    mount(snapshot({ messages: [message("a9", "assistant", "", { result: HOSTILE })] }));
    expect(el.querySelectorAll("img, script, b").length).toBe(0);
    expect(msgEl("a9").querySelector("pre.nbchat-result-body")?.textContent).toBe(HOSTILE);
  });
});

describe("finish reason", () => {
  /** @param {string} id */
  const markers = (id) =>
    [...msgEl(id).querySelectorAll(".nbchat-footer .nbchat-marker")].map((m) => [m.getAttribute("data-kind"), m.textContent]);

  it("marks a reply cut off by the token limit or the content filter", () => {
    const { model } = mount(
      snapshot({
        messages: [
          message("a1", "assistant", "Once upon a", { finish_reason: "length" }),
          message("a2", "assistant", "", { finish_reason: "content_filter" }),
          message("a3", "assistant", "partial", { status: "stopped", finish_reason: "length" }),
        ],
      }),
    );
    expect(markers("a1")).toEqual([["length", "Cut off: the model reached its token limit"]]);
    expect(markers("a2")).toEqual([["content_filter", "Stopped by the provider's content filter"]]);
    expect(markers("a3")).toEqual([
      ["stopped", "Stopped"],
      ["length", "Cut off: the model reached its token limit"],
    ]);
    expect(/** @type {HTMLElement} */ (msgEl("a1").querySelector(".nbchat-footer")).hidden).toBe(false);
    model.setSnapshot(snapshot({ messages: [message("a1", "assistant", "Once upon a time.", { finish_reason: "stop" })] }));
    expect(markers("a1")).toEqual([]);
  });

  it("marks a reply that a retry is answering again, until the snapshot says otherwise", () => {
    const { model } = mount(
      snapshot({
        messages: [message("a1", "assistant", "half", { status: "interrupted", superseded: true })],
      }),
    );
    expect(markers("a1")).toEqual([
      ["interrupted", "Interrupted"],
      ["superseded", "Being retried: kept until the new reply starts"],
    ]);
    expect(msgEl("a1").hasAttribute("data-superseded")).toBe(true);
    model.setSnapshot(snapshot({ messages: [message("a1", "assistant", "half", { status: "interrupted" })] }));
    expect(markers("a1")).toEqual([["interrupted", "Interrupted"]]);
    expect(msgEl("a1").hasAttribute("data-superseded")).toBe(false);
  });

  it("shows nothing for stop, tool_calls, refusal and error (errors keep their own marker)", () => {
    mount(
      snapshot({
        messages: [
          message("a1", "assistant", "ok", { finish_reason: "stop" }),
          message("a2", "assistant", "", { finish_reason: "tool_calls" }),
          message("a3", "assistant", "", { finish_reason: "refusal", refusal: "No." }),
          message("a4", "assistant", "", { status: "error", finish_reason: "error", error: { code: "x", message: "y" } }),
        ],
      }),
    );
    expect(markers("a1")).toEqual([]);
    expect(markers("a2")).toEqual([]);
    expect(markers("a3")).toEqual([]);
    expect(markers("a4")).toEqual([["error", "Error"]]);
  });
});

describe("message layout", () => {
  it("orders reasoning, tools, progress, content, result, refusal, footer, whatever arrives first", () => {
    const full = message("a1", "assistant", "text", {
      status: "stopped",
      reasoning: "r",
      tool_calls: [toolCall("t1", "x")],
      progress: { stage: "generating", percent: null },
      result: { ok: true },
      refusal: "no",
    });
    const expected = [
      "nbchat-role",
      "nbchat-copy",
      "nbchat-reasoning",
      "nbchat-tools",
      "nbchat-progress",
      "nbchat-content",
      "nbchat-result",
      "nbchat-refusal",
      "nbchat-footer",
      "nbchat-retry",
    ];
    mount(snapshot({ phase: "stopped", messages: [full] }));
    expect([...msgEl("a1").children].map((c) => c.classList[0])).toEqual(expected);
    // An unknown percent on a message that ended: indeterminate, but not running.
    const bar = msgEl("a1").querySelector(".nbchat-progress");
    expect([bar?.getAttribute("data-status"), bar?.getAttribute("data-indeterminate")]).toEqual(["stopped", "true"]);
    cleanups.splice(0).forEach((fn) => fn());

    const { model } = mount(
      snapshot({ phase: "stopped", messages: [message("a1", "assistant", "", { refusal: "no", result: 1 })] }),
    );
    model.setSnapshot(snapshot({ phase: "stopped", messages: [message("a1", "assistant", "", { progress: { percent: 3 } })] }));
    model.setSnapshot(snapshot({ phase: "stopped", messages: [message("a1", "assistant", "", { tool_calls: [toolCall("t1", "x")] })] }));
    model.setSnapshot(snapshot({ phase: "stopped", messages: [full] }));
    expect([...msgEl("a1").children].map((c) => c.classList[0])).toEqual(expected);
  });
});

describe("absent fields", () => {
  it("renders no progress, result or finish marker for a plain message", () => {
    mount(snapshot({ messages: [message("u1", "user", "Hi"), message("a1", "assistant", "Hello", { status: "streaming" })], phase: "streaming" }));
    expect(el.querySelector(".nbchat-progress, .nbchat-result, .nbchat-marker")).toBeNull();
    expect([...msgEl("a1").children].map((c) => c.classList[0])).toEqual(["nbchat-role", "nbchat-copy", "nbchat-content", "nbchat-footer"]);
  });
});

describe("long chats", () => {
  it("open on the last page; the older button asks for the page before, once", () => {
    const messages = Array.from({ length: 3 }, (_, i) => message(`m${i + 7}`, "user", `text ${i + 7}`));
    const { model } = mount(snapshot({ offset: 7, messages }));
    const older = /** @type {HTMLButtonElement} */ ($("button.nbchat-older"));
    expect(older.hidden).toBe(false);
    expect(older.textContent).toBe("Show 7 earlier messages");
    older.click();
    older.click(); // pending: not asked twice
    expect(model.sent.filter((m) => m.type === "page")).toEqual([{ type: "page", before: "m7" }]);
    model.custom({
      type: "page",
      before: "m7",
      offset: 0,
      messages: Array.from({ length: 7 }, (_, i) => message(`m${i}`, "user", `text ${i}`)),
    });
    const ids = [...el.querySelectorAll(".nbchat-message")].map((m) => m.getAttribute("data-id"));
    expect(ids).toEqual(["m0", "m1", "m2", "m3", "m4", "m5", "m6", "m7", "m8", "m9"]);
    expect(older.hidden).toBe(true);
  });

  it("stops loading at MAX_LOADED messages, saying where the rest is", () => {
    const messages = Array.from({ length: MAX_LOADED }, (_, i) => message(`m${i}`, "user", `t${i}`));
    const { model } = mount(snapshot({ offset: 9000, messages }));
    const older = /** @type {HTMLButtonElement} */ ($("button.nbchat-older"));
    expect(older.disabled).toBe(true);
    expect(older.textContent).toContain("9,000 earlier messages are not shown here");
    older.click();
    expect(model.sent.filter((m) => m.type === "page")).toEqual([]);
  });

  it("a head naming a batch the view never got asks for a sync", () => {
    const { model } = mount(snapshot({ seq: 2, phase: "streaming" }));
    model.set("head", { seq: 3, phase: "done", notice: "", model: "", endpoint: "" });
    expect(model.sent).toContainEqual({ type: "sync" });
    expect($("span.nbchat-phase").getAttribute("data-phase")).toBe("done");
  });
});
