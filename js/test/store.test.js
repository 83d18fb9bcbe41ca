// @ts-check
import { describe, expect, it } from "vitest";
import { createStore } from "../store.js";
import { batch, message, snapshot } from "./fakes.js";

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
      { kind: "text", deltas: [{ id: "a1", text: "lo" }] },
      { kind: "text", deltas: [{ id: "a1", text: ", world" }] },
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
      ops: [{ op: "reasoning", id: "nope", text: "?" }, { op: "text", id: "a1", text: "lo" }, null, 42],
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
