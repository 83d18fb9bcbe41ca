// @ts-check
import { describe, expect, it } from "vitest";
import { createStore, isLive, retryTarget } from "../store.js";
import { batch, message, ops, snapshot, toolCall } from "./fakes.js";

/** @param {import("../store.js").Store} store */
function record(store) {
  /** @type {import("../store.js").Change[]} */
  const changes = [];
  store.subscribe((change) => changes.push(change));
  return changes;
}

function streamingStore() {
  const store = createStore();
  store.applySnapshot(
    snapshot({
      seq: 3,
      phase: "streaming",
      messages: [
        message("u1", "user", "Hi"),
        message("a1", "assistant", "Hel", { status: "streaming" }),
      ],
    }),
  );
  return store;
}

describe("applySnapshot", () => {
  it("starts empty", () => {
    const state = createStore().getState();
    expect(state).toMatchObject({ seq: 0, phase: "idle", messages: [], model: "", endpoint: "" });
  });

  it("hydrates every field and notifies", () => {
    const store = createStore();
    const changes = record(store);
    const snap = snapshot({
      seq: 7,
      version: 4,
      phase: "done",
      messages: [
        message("u1", "user", "Hi"),
        message("a1", "assistant", "Hello", {
          status: "error",
          error: { code: "http_error", message: "500 from server", hint: "retry" },
          metrics: { ttft_s: 0.2, output_tokens: 3 },
        }),
      ],
    });
    store.applySnapshot(snap);
    const state = store.getState();
    expect(state.seq).toBe(7);
    expect(state.version).toBe(4);
    expect(state.phase).toBe("done");
    expect(state.model).toBe("demo-model");
    expect(state.endpoint).toBe("http://127.0.0.1:8000/v1");
    expect(state.messages.map((m) => [m.id, m.role, m.content, m.status])).toEqual([
      ["u1", "user", "Hi", "done"],
      ["a1", "assistant", "Hello", "error"],
    ]);
    expect(state.messages[1].error).toEqual({ code: "http_error", message: "500 from server", hint: "retry" });
    expect(state.messages[1].metrics).toEqual({ ttft_s: 0.2, output_tokens: 3 });
    expect(changes).toEqual([{ kind: "snapshot" }]);
  });

  it("copies the trait value instead of mutating it", () => {
    const store = createStore();
    const snap = snapshot({ messages: [message("a1", "assistant", "Hel", { status: "streaming" })] });
    store.applySnapshot(snap);
    store.applyBatch(batch(1, [["a1", "lo"]]));
    expect(snap.messages[0].content).toBe("Hel");
    expect(store.getMessage("a1")?.content).toBe("Hello");
  });

  it("always replaces the state, batches included", () => {
    const store = streamingStore();
    store.applyBatch(batch(4, [["a1", "lo"]]));
    store.applySnapshot(snapshot({ seq: 2, messages: [message("x", "user", "other")] }));
    const state = store.getState();
    expect(state.seq).toBe(2);
    expect(state.messages.map((m) => m.content)).toEqual(["other"]);
    expect(store.getMessage("a1")).toBeUndefined();
  });

  it("tolerates a missing or malformed snapshot", () => {
    const store = createStore();
    store.applySnapshot(null);
    expect(store.getState()).toMatchObject({ seq: 0, phase: "idle", messages: [] });
    store.applySnapshot({ seq: "x", phase: "bogus", messages: [{ content: 5 }] });
    expect(store.getState().phase).toBe("idle");
    expect(store.getState().messages[0]).toMatchObject({ content: "", status: "done" });
  });
});

describe("applyBatch", () => {
  it("applies in-order batches and reports the deltas", () => {
    const store = streamingStore();
    const changes = record(store);
    expect(store.applyBatch(batch(4, [["a1", "lo"]]))).toBe("applied");
    expect(store.applyBatch(batch(5, [["a1", ", "], ["a1", "world"]]))).toBe("applied");
    expect(store.getMessage("a1")?.content).toBe("Hello, world");
    expect(store.getMessage("u1")?.content).toBe("Hi");
    expect(store.getState().seq).toBe(5);
    expect(changes).toEqual([
      { kind: "text", deltas: [{ id: "a1", part: "content", text: "lo" }] },
      { kind: "text", deltas: [{ id: "a1", part: "content", text: ", world" }] },
    ]);
  });

  it("ignores stale batches", () => {
    const store = streamingStore();
    const changes = record(store);
    expect(store.applyBatch(batch(3, [["a1", "XX"]]))).toBe("stale");
    expect(store.applyBatch(batch(1, [["a1", "YY"]]))).toBe("stale");
    expect(store.getMessage("a1")?.content).toBe("Hel");
    expect(store.getState().seq).toBe(3);
    expect(changes).toEqual([]);
  });

  it("reports a gap and changes nothing", () => {
    const store = streamingStore();
    const changes = record(store);
    expect(store.applyBatch(batch(5, [["a1", "XX"]]))).toBe("gap");
    expect(store.getMessage("a1")?.content).toBe("Hel");
    expect(store.getState().seq).toBe(3);
    expect(changes).toEqual([]);
    // The next in-order batch still applies.
    expect(store.applyBatch(batch(4, [["a1", "lo"]]))).toBe("applied");
    expect(store.getMessage("a1")?.content).toBe("Hello");
  });

  it("treats an op for an unknown message as a gap, applying none of the batch", () => {
    const store = streamingStore();
    const changes = record(store);
    expect(store.applyBatch(batch(4, [["a1", "lo"], ["a2", "new"]]))).toBe("gap");
    expect(store.getMessage("a1")?.content).toBe("Hel");
    expect(store.getState().seq).toBe(3);
    expect(changes).toEqual([]);
  });

  it("ignores unknown op kinds but still advances", () => {
    const store = streamingStore();
    const result = store.applyBatch({
      type: "batch",
      seq: 4,
      ops: [
        { op: "tool_progress", id: "nope", text: "?" },
        { op: "text", id: "a1", text: "lo" },
        { op: "toString", id: "a1", text: "?" },
        { id: "a1", text: "?" },
        null,
        42,
      ],
    });
    expect(result).toBe("applied");
    expect(store.getMessage("a1")?.content).toBe("Hello");
    expect(store.getState().seq).toBe(4);
  });

  it("drops a batch without a usable seq", () => {
    const store = streamingStore();
    expect(store.applyBatch({ type: "batch", ops: [] })).toBe("stale");
    expect(store.applyBatch(null)).toBe("stale");
    expect(store.applyBatch({ type: "batch", seq: 4.5, ops: [] })).toBe("stale");
    expect(store.getState().seq).toBe(3);
  });

  it("stops notifying after unsubscribe", () => {
    const store = streamingStore();
    let calls = 0;
    const unsubscribe = store.subscribe(() => calls++);
    store.applyBatch(batch(4, [["a1", "a"]]));
    unsubscribe();
    store.applyBatch(batch(5, [["a1", "b"]]));
    expect(calls).toBe(1);
  });
});

describe("cost", () => {
  const CHUNK = "0123456789abcdef0123456789abcdef";

  /** @param {number} n */
  function run(n) {
    const store = createStore();
    const messages = Array.from({ length: 1000 }, (_, i) => message(`m${i}`, "user", `old ${i}`));
    messages.push(message("a", "assistant", "", { status: "streaming" }));
    store.applySnapshot(snapshot({ messages }));
    const before = store.getState().messages;
    const first = before[0];
    let deltas = 0;
    store.subscribe((change) => {
      if (change.kind === "text") deltas += change.deltas.length;
    });
    const t0 = performance.now();
    for (let seq = 1; seq <= n; seq++) {
      store.applyBatch({ type: "batch", seq, ops: [{ op: "text", id: "a", text: CHUNK }] });
    }
    const length = store.getMessage("a")?.content.length; // includes flattening the text
    const elapsed = performance.now() - t0;
    expect(length).toBe(n * CHUNK.length);
    expect(deltas).toBe(n);
    // Nothing was copied per batch: same array, same untouched message objects.
    expect(store.getState().messages).toBe(before);
    expect(store.getState().messages[0]).toBe(first);
    return elapsed;
  }

  /** @param {number} n */
  function best(n) {
    return Math.min(run(n), run(n), run(n));
  }

  it("stays linear over 10k+ batches", () => {
    run(5000); // warm up the JIT
    const small = best(10_000);
    const large = best(40_000);
    // Linear is ~4x; copying the transcript per batch would be ~16x and seconds long.
    expect(large).toBeLessThan(small * 10 + 25);
    expect(large).toBeLessThan(2000);
  });
});

describe("reasoning, refusal, tool calls, notice", () => {
  it("hydrates the new fields and defaults them when absent", () => {
    const store = createStore();
    store.applySnapshot(
      snapshot({
        phase: "reconnecting",
        notice: "connection dropped: resuming (1 of 5)",
        messages: [
          message("u1", "user", "Hi"),
          message("a1", "assistant", "", {
            status: "streaming",
            reasoning: "Let me think.",
            refusal: "I can't help with that.",
            tool_calls: [
              toolCall("t1", "search", { arguments: '{"q":"x"}', input: { q: "x" }, status: "done", result: [1], duration_s: 0.42 }),
              toolCall("t2", "fetch", { arguments: '{"url":' }),
            ],
            metrics: { reconnects: 1, retries: 2 },
          }),
        ],
      }),
    );
    const state = store.getState();
    expect(state.phase).toBe("reconnecting");
    expect(state.notice).toBe("connection dropped: resuming (1 of 5)");
    const a1 = store.getMessage("a1");
    expect(a1?.reasoning).toBe("Let me think.");
    expect(a1?.refusal).toBe("I can't help with that.");
    expect(a1?.metrics).toEqual({ reconnects: 1, retries: 2 });
    expect(a1?.tool_calls).toEqual([
      { id: "t1", name: "search", arguments: '{"q":"x"}', input: { q: "x" }, status: "done", result: [1], duration_s: 0.42 },
      { id: "t2", name: "fetch", arguments: '{"url":', input: null, status: "running" },
    ]);
    const u1 = store.getMessage("u1");
    expect([u1?.reasoning, u1?.refusal, u1?.tool_calls]).toEqual(["", "", []]);

    store.applySnapshot(snapshot());
    expect(store.getState().notice).toBe("");
  });

  it("tolerates malformed tool calls", () => {
    const store = createStore();
    store.applySnapshot({
      messages: [{ id: "a1", role: "assistant", tool_calls: [null, { name: 5, input: [1], status: "bogus", duration_s: "x" }] }],
    });
    expect(store.getMessage("a1")?.tool_calls).toEqual([
      { id: "#0", name: "", arguments: "", input: null, status: "done" },
      { id: "#1", name: "", arguments: "", input: null, status: "done" },
    ]);
  });

  it("appends reasoning ops to the reasoning, text ops to the content", () => {
    const store = streamingStore();
    const changes = record(store);
    const result = store.applyBatch(
      ops(4, [
        ["reasoning", "a1", "Think"],
        ["reasoning", "a1", "ing."],
        ["text", "a1", "lo"],
        ["reasoning", "a1", " More."],
      ]),
    );
    expect(result).toBe("applied");
    expect(store.getMessage("a1")?.reasoning).toBe("Thinking. More.");
    expect(store.getMessage("a1")?.content).toBe("Hello");
    expect(changes).toEqual([
      {
        kind: "text",
        deltas: [
          { id: "a1", part: "reasoning", text: "Thinking." },
          { id: "a1", part: "content", text: "lo" },
          { id: "a1", part: "reasoning", text: " More." },
        ],
      },
    ]);
  });

  it("sequences reasoning ops like text ops: stale, gap, unknown message", () => {
    const store = streamingStore();
    const changes = record(store);
    expect(store.applyBatch(ops(3, [["reasoning", "a1", "old"]]))).toBe("stale");
    expect(store.applyBatch(ops(5, [["reasoning", "a1", "ahead"]]))).toBe("gap");
    expect(store.applyBatch(ops(4, [["text", "a1", "lo"], ["reasoning", "zz", "?"]]))).toBe("gap");
    expect(store.getMessage("a1")).toMatchObject({ content: "Hel", reasoning: "" });
    expect(store.getState().seq).toBe(3);
    expect(changes).toEqual([]);
    expect(store.applyBatch(ops(4, [["reasoning", "a1", "ok"]]))).toBe("applied");
    expect(store.getMessage("a1")?.reasoning).toBe("ok");
  });

  it("ignores a batch of only unknown ops but advances", () => {
    const store = streamingStore();
    const changes = record(store);
    expect(store.applyBatch(ops(4, [["tool_delta", "a1", "{}"]]))).toBe("applied");
    expect(store.getState().seq).toBe(4);
    expect(changes).toEqual([]);
  });
});

describe("isLive and retryTarget", () => {
  it("counts reconnecting as a running turn", () => {
    expect(["connecting", "reconnecting", "streaming"].every((p) => isLive(/** @type {any} */ (p)))).toBe(true);
    expect(["idle", "done", "stopped", "error", "interrupted"].some((p) => isLive(/** @type {any} */ (p)))).toBe(false);
  });

  /**
   * @param {string} phase
   * @param {import("../types.js").MessageInfo[]} messages
   */
  function target(phase, messages) {
    const store = createStore();
    store.applySnapshot(snapshot({ phase: /** @type {any} */ (phase), messages }));
    return retryTarget(store.getState())?.id;
  }

  it("offers the last assistant reply that has ended, when no turn runs", () => {
    for (const status of /** @type {const} */ (["interrupted", "error", "stopped", "done"])) {
      expect(target(status, [message("u1", "user", "q"), message("a1", "assistant", "x", { status })])).toBe("a1");
    }
    const bad = message("a1", "assistant", "x", { status: "interrupted" });
    expect(target("done", [message("u1", "user", "q"), message("a1", "assistant", "x", { status: "streaming" })])).toBeUndefined();
    // A note (the context was cleared) after the reply: nothing to regenerate.
    expect(target("done", [message("u1", "user", "q"), bad, message("n1", "note", "cleared")])).toBeUndefined();
    for (const phase of ["connecting", "reconnecting", "streaming"]) {
      expect(target(phase, [message("u1", "user", "q"), bad])).toBeUndefined();
    }
    // Only the last reply; a newer user message means there is nothing to replace.
    expect(
      target("done", [message("u1", "user", "q"), bad, message("u2", "user", "r"), message("a2", "assistant", "y")]),
    ).toBe("a2");
    expect(target("error", [message("u1", "user", "q"), bad, message("u2", "user", "r")])).toBeUndefined();
    expect(target("stopped", [message("u1", "user", "q"), bad, message("s1", "system", "note")])).toBe("a1");
    expect(target("idle", [])).toBeUndefined();
  });
});

describe("progress, result, finish reason", () => {
  it("hydrates them and defaults them when absent", () => {
    const store = createStore();
    const result = { exercises: [{ name: "squat", reps: 10 }] };
    store.applySnapshot(
      snapshot({
        messages: [
          message("a1", "assistant", "", {
            status: "streaming",
            progress: { stage: "generating", percent: 40, message: "Thinking", eta_s: 12 },
            result,
            finish_reason: "length",
          }),
          message("a2", "assistant", "", { result: null, progress: {} }),
          message("a3", "assistant", "plain"),
        ],
      }),
    );
    const a1 = store.getMessage("a1");
    expect(a1?.progress).toEqual({ stage: "generating", percent: 40, message: "Thinking", eta_s: 12 });
    expect(a1?.result).toEqual(result);
    expect(a1?.finish_reason).toBe("length");
    const a2 = store.getMessage("a2");
    expect(a2?.progress).toEqual({ stage: "", percent: null, message: "", eta_s: null });
    expect(a2 && "result" in a2).toBe(true);
    expect(a2?.result).toBeNull();
    const a3 = store.getMessage("a3");
    expect(a3?.progress).toBeNull();
    expect(a3 && "result" in a3).toBe(false);
    expect(a3?.finish_reason).toBe("");
  });

  it("tolerates malformed progress: clamps percent, drops bad values", () => {
    const store = createStore();
    store.applySnapshot({
      messages: [
        { id: "a1", progress: { stage: 3, percent: 140, message: null, eta_s: -4 } },
        { id: "a2", progress: { percent: "50", eta_s: Number.NaN }, finish_reason: 7 },
        { id: "a3", progress: [1, 2] },
      ],
    });
    expect(store.getMessage("a1")?.progress).toEqual({ stage: "", percent: 100, message: "", eta_s: 0 });
    expect(store.getMessage("a2")?.progress).toEqual({ stage: "", percent: null, message: "", eta_s: null });
    expect(store.getMessage("a2")?.finish_reason).toBe("");
    expect(store.getMessage("a3")?.progress).toBeNull();
  });
});

describe("message ops, head and pages", () => {
  it("applies upsert, patch and remove in order, text after its upsert", () => {
    const store = streamingStore();
    const changes = record(store);
    const result = store.applyBatch({
      type: "batch",
      seq: 4,
      ops: [
        { op: "patch", id: "a1", fields: { role: "assistant", status: "done", metrics: { ttft_s: 0.1 } } },
        { op: "upsert", message: message("u2", "user", "More?") },
        { op: "upsert", message: message("a2", "assistant", "", { status: "streaming" }) },
        { op: "text", id: "a2", text: "Sure" },
        { op: "remove", id: "u1" },
      ],
    });
    expect(result).toBe("applied");
    const state = store.getState();
    expect(state.messages.map((m) => [m.id, m.status, m.content])).toEqual([
      ["a1", "done", "Hel"], // a patch never touches the text
      ["u2", "done", "More?"],
      ["a2", "streaming", "Sure"],
    ]);
    expect(store.getMessage("a1")?.metrics).toEqual({ ttft_s: 0.1 });
    expect(store.getMessage("u1")).toBeUndefined();
    expect(changes.map((c) => c.kind)).toEqual(["text", "messages"]);
  });

  it("a patch or text for an unknown message is a gap that changes nothing", () => {
    const store = streamingStore();
    const before = JSON.stringify(store.getState());
    for (const op of [
      { op: "patch", id: "zz", fields: { status: "done" } },
      { op: "remove", id: "zz" },
      { op: "text", id: "u9", text: "x" },
    ]) {
      expect(store.applyBatch({ type: "batch", seq: 4, ops: [{ op: "text", id: "a1", text: "lo" }, op] })).toBe("gap");
      expect(JSON.stringify(store.getState())).toBe(before);
    }
    // removed earlier in the same batch: unknown after
    expect(store.applyBatch({ type: "batch", seq: 4, ops: [{ op: "remove", id: "a1" }, { op: "text", id: "a1", text: "x" }] })).toBe("gap");
  });

  it("head sets phase, notice and model, and names a lost batch", () => {
    const store = streamingStore(); // seq 3
    const changes = record(store);
    expect(store.applyHead({ seq: 3, phase: "done", notice: "", model: "m2", endpoint: "e" })).toBe("applied");
    expect(store.getState().phase).toBe("done");
    expect(store.getState().model).toBe("m2");
    expect(store.applyHead({ seq: 5, phase: "done", notice: "", model: "m2", endpoint: "e" })).toBe("gap");
    expect(changes.map((c) => c.kind)).toEqual(["head", "head"]);
  });

  it("a page of older messages goes on top, once, when it fits", () => {
    const store = createStore();
    store.applySnapshot(snapshot({ offset: 4, messages: [message("m4", "user", "4"), message("m5", "user", "5")] }));
    expect(store.getState().offset).toBe(4);
    const older = [message("m2", "user", "2"), message("m3", "user", "3")];
    expect(store.applyPage({ type: "page", before: "m3", messages: older, offset: 2 })).toBe(false);
    expect(store.applyPage({ type: "page", before: "m4", messages: older, offset: 2 })).toBe(true);
    expect(store.getState().messages.map((m) => m.id)).toEqual(["m2", "m3", "m4", "m5"]);
    expect(store.getState().offset).toBe(2);
    expect(store.getMessage("m2")?.content).toBe("2");
  });
});
