// @ts-check
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { createChannel } from "../channel.js";
import { editTarget, createStore } from "../store.js";
import { createView } from "../view.js";
import { createFakeModel, message, snapshot } from "./fakes.js";

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
  vi.useRealTimers();
});

const chatMessages = [
  message("u1", "user", "first question"),
  message("a1", "assistant", "first answer"),
  message("u2", "user", "second question"),
  message("a2", "assistant", "second answer"),
];

/**
 * @param {Partial<import("../types.js").Snapshot>} [fields]
 * @param {Record<string, any>} [head]
 * @param {import("../channel.js").ChannelOptions} [options]
 */
function mount(fields = {}, head = {}, options = {}) {
  const model = createFakeModel({
    snapshot: snapshot({ phase: "done", messages: chatMessages, ...fields }),
    head: { seq: 0, phase: fields.phase ?? "done", notice: "", model: "demo-model", endpoint: "", ...head },
  });
  const channel = createChannel(model, options);
  channel.connect();
  const destroy = createView(el, channel, { schedule: (fn) => fn(), renderSchedule: (fn) => fn() });
  cleanups.push(destroy, () => channel.disconnect());
  return { model, channel };
}

/** @param {string} selector */
function $(selector) {
  const found = el.querySelector(selector);
  if (!(found instanceof HTMLElement)) throw new Error(`no ${selector}`);
  return found;
}

/** @param {string} action */
function tool(action) {
  return /** @type {HTMLButtonElement} */ ($(`.nbchat-toolbar button[data-action="${action}"]`));
}

function input() {
  return /** @type {HTMLTextAreaElement} */ ($("textarea.nbchat-input"));
}

function pressEnter() {
  input().dispatchEvent(new KeyboardEvent("keydown", { key: "Enter", bubbles: true, cancelable: true }));
}

describe("toolbar", () => {
  it("sends new, clear and undo, and is off while a reply streams", () => {
    const { model } = mount();
    for (const action of ["new", "clear", "undo"]) tool(action).click();
    expect(model.sent).toEqual([{ type: "new" }, { type: "clear" }, { type: "undo" }]);
    model.set("head", { seq: 0, phase: "streaming", notice: "", model: "m", endpoint: "" });
    for (const action of ["new", "clear", "undo", "conversations", "export"]) {
      expect(tool(action).disabled).toBe(true);
    }
  });

  it("shows a model picker only for several models, and sends the pick", () => {
    const { model } = mount({}, { models: ["demo-model"] });
    const picker = /** @type {HTMLSelectElement} */ ($("select.nbchat-model-picker"));
    expect(picker.hidden).toBe(true);
    model.set("head", { seq: 0, phase: "done", notice: "", model: "small", endpoint: "", models: ["small", "large"] });
    expect(picker.hidden).toBe(false);
    expect([...picker.options].map((o) => o.value)).toEqual(["small", "large"]);
    expect(picker.value).toBe("small");
    expect($(".nbchat-model").hidden).toBe(true); // the picker names the model
    picker.value = "large";
    picker.dispatchEvent(new Event("change"));
    expect(model.sent).toEqual([{ type: "model", model: "large" }]);
  });

  it("downloads an export the kernel sends", async () => {
    const { model } = mount();
    const created = vi.fn(() => "blob:x");
    URL.createObjectURL = created;
    URL.revokeObjectURL = () => {};
    /** @type {string[]} */
    const clicked = [];
    const click = vi
      .spyOn(HTMLAnchorElement.prototype, "click")
      .mockImplementation(
        /** @this {HTMLAnchorElement} */ function () {
          clicked.push(this.download);
        },
      );
    tool("export").click();
    expect($(".nbchat-menu").hidden).toBe(false);
    $('.nbchat-menu [data-format="json"]').click();
    expect(model.sent).toEqual([{ type: "export", format: "json" }]);
    expect($(".nbchat-menu").hidden).toBe(true);
    model.custom({ type: "export", filename: "nb-chat.json", media_type: "application/json", text: "{}" });
    await Promise.resolve();
    expect(clicked).toEqual(["nb-chat.json"]);
    expect(created).toHaveBeenCalledOnce();
    click.mockRestore();
  });

  it("shows why the kernel refused, for a while", () => {
    vi.useFakeTimers();
    const { model } = mount({}, {}, { refusedMs: 1000 });
    model.custom({ type: "refused", message: "no conversation 'x' in the history" });
    const line = $(".nbchat-refused");
    expect(line.hidden).toBe(false);
    expect(line.textContent).toBe("Not done: no conversation 'x' in the history");
    vi.advanceTimersByTime(1001);
    expect(line.hidden).toBe(true);
  });

  it("says so when the kernel does not answer a request", async () => {
    vi.useFakeTimers();
    const { channel } = mount({}, {}, { answerMs: 500 });
    const asked = channel.listConversations();
    vi.advanceTimersByTime(501);
    await expect(asked).rejects.toThrow("the kernel did not answer");
    expect($(".nbchat-refused").textContent).toContain("the kernel did not answer");
  });
});

describe("conversations panel", () => {
  const listing = {
    type: "conversations",
    more: 3,
    items: [
      { name: "nb.ipynb#cell=a", title: "<b>this one</b>", notebook: "dir/nb.ipynb", last_activity: 1.7e9, messages: 4 },
      { name: "other", title: "", notebook: "", last_activity: 1.6e9, messages: 1 },
    ],
  };

  it("lists, marks the chat's own, opens another and closes", async () => {
    const { model } = mount({}, { conversation: "nb.ipynb#cell=a" });
    tool("conversations").click();
    const panel = $(".nbchat-panel");
    expect(panel.hidden).toBe(false);
    expect($(".nbchat-panel-status").textContent).toBe("Loading…");
    expect(model.sent).toEqual([{ type: "conversations" }]);
    model.custom(listing);
    await Promise.resolve();
    const rows = [...el.querySelectorAll(".nbchat-conversation")];
    expect(rows.map((r) => r.querySelector(".nbchat-conversation-title")?.textContent)).toEqual([
      "<b>this one</b>", // text, never HTML
      "(no message yet)",
    ]);
    expect(el.querySelector(".nbchat-conversation b")).toBeNull();
    expect(rows[0].hasAttribute("data-current")).toBe(true);
    expect(rows[0].querySelector(".nbchat-conversation-meta")?.textContent).toMatch(/^nb\.ipynb · 4 messages · /);
    expect(/** @type {HTMLButtonElement} */ (rows[0].querySelector(".nbchat-conversation-open")).disabled).toBe(true);
    expect($(".nbchat-panel-more").textContent).toContain("3 older conversations");
    /** @type {HTMLButtonElement} */ (rows[1].querySelector(".nbchat-conversation-open")).click();
    expect(model.sent.at(-1)).toEqual({ type: "open", name: "other" });
    expect(panel.hidden).toBe(true);
  });

  it("deletes only on a second click, and shows the list without it", async () => {
    const { model } = mount({}, { conversation: "nb.ipynb#cell=a" });
    tool("conversations").click();
    model.custom(listing);
    await Promise.resolve();
    const remove = /** @type {HTMLButtonElement} */ (
      el.querySelector('[data-name="other"] .nbchat-conversation-delete')
    );
    remove.click();
    expect(remove.textContent).toBe("Delete for good?");
    expect(model.sent).toEqual([{ type: "conversations" }]);
    remove.click();
    expect(model.sent.at(-1)).toEqual({ type: "delete", name: "other" });
    model.custom({ ...listing, items: [listing.items[0]], more: 0 });
    await Promise.resolve();
    expect(el.querySelectorAll(".nbchat-conversation").length).toBe(1);
    expect($(".nbchat-panel-more").hidden).toBe(true);
  });
});

describe("edit", () => {
  it("targets the last user message, not past a note, not while streaming", () => {
    const store = createStore();
    store.applySnapshot(snapshot({ phase: "done", messages: chatMessages }));
    expect(editTarget(store.getState())?.id).toBe("u2");
    store.applySnapshot(snapshot({ phase: "done", messages: [...chatMessages, message("n", "note", "cleared")] }));
    expect(editTarget(store.getState())).toBeUndefined();
    store.applySnapshot(snapshot({ phase: "streaming", messages: chatMessages }));
    expect(editTarget(store.getState())).toBeUndefined();
  });

  it("puts the last question in the box; Enter resends it as an edit; the draft comes back", () => {
    const { model } = mount();
    input().value = "a draft";
    input().dispatchEvent(new Event("input"));
    const edit = /** @type {HTMLButtonElement} */ ($(".nbchat-message[data-id='u2'] .nbchat-edit"));
    expect(el.querySelectorAll(".nbchat-edit").length).toBe(1);
    edit.click();
    expect(input().value).toBe("second question");
    expect($(".nbchat-editing").hidden).toBe(false);
    expect($("button.nbchat-send").textContent).toBe("Resend");
    input().value = "second question, fixed";
    pressEnter();
    expect(model.sent).toEqual([{ type: "edit", text: "second question, fixed" }]);
    expect($(".nbchat-editing").hidden).toBe(true);
    expect(input().value).toBe("a draft");
  });

  it("Escape cancels the edit and restores the draft", () => {
    const { model } = mount();
    input().value = "mine";
    input().dispatchEvent(new Event("input"));
    $(".nbchat-edit").click();
    input().dispatchEvent(new KeyboardEvent("keydown", { key: "Escape", bubbles: true }));
    expect(input().value).toBe("mine");
    expect($(".nbchat-editing").hidden).toBe(true);
    expect(model.sent).toEqual([]);
  });

  it("shows a note as a line and offers no Regenerate or Edit above it", () => {
    mount({ messages: [...chatMessages, message("n1", "note", "Context cleared: the model is not sent the messages above.")] });
    const note = $(".nbchat-message[data-id='n1']");
    expect(note.getAttribute("data-role")).toBe("note");
    expect(note.textContent).toContain("Context cleared");
    expect(el.querySelector(".nbchat-retry")).toBeNull();
    expect(el.querySelector(".nbchat-edit")).toBeNull();
  });
});

describe("tool approval", () => {
  /** @param {import("../types.js").ToolCallStatus} status */
  const withCall = (status) => [
    message("u1", "user", "weather?"),
    message("a1", "assistant", "", {
      status: "streaming",
      tool_calls: [{ id: "call_1", name: "get_weather", arguments: '{"city":"Paris"}', input: { city: "Paris" }, status, round: 1 }],
    }),
  ];

  it("shows Approve and Deny on a waiting call, opened, and sends the answer once", () => {
    const { model } = mount({ phase: "streaming", messages: withCall("waiting") }, { phase: "streaming" });
    const row = /** @type {HTMLDetailsElement} */ ($(".nbchat-tool[data-id='call_1']"));
    expect(row.open).toBe(true);
    expect(row.querySelector(".nbchat-tool-state")?.textContent).toBe("waiting for your approval");
    const approve = /** @type {HTMLButtonElement} */ (row.querySelector(".nbchat-approve"));
    const deny = /** @type {HTMLButtonElement} */ (row.querySelector(".nbchat-deny"));
    expect(/** @type {HTMLElement} */ (row.querySelector(".nbchat-tool-approval")).hidden).toBe(false);
    deny.click();
    expect(model.sent).toEqual([{ type: "approve", id: "call_1", approved: false }]);
    expect(approve.disabled && deny.disabled).toBe(true);
    approve.click();
    expect(model.sent.length).toBe(1);
  });

  it("hides the buttons once the call moves on, and names how it ended", () => {
    const { model } = mount({ phase: "streaming", messages: withCall("waiting") }, { phase: "streaming" });
    for (const [status, text] of /** @type {const} */ ([
      ["queued", "queued"],
      ["running", "running…"],
      ["denied", "declined"],
      ["error", "error"],
      ["cancelled", "stopped"],
    ])) {
      model.setSnapshot(snapshot({ phase: "streaming", messages: withCall(status) }));
      const row = $(".nbchat-tool[data-id='call_1']");
      expect(row.getAttribute("data-status")).toBe(status);
      expect(row.querySelector(".nbchat-tool-state")?.textContent).toBe(text);
      expect(/** @type {HTMLElement} */ (row.querySelector(".nbchat-tool-approval")).hidden).toBe(true);
    }
  });
});
