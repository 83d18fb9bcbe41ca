// @ts-check
/**
 * Test doubles: a Backbone-like widget model, anywidget 0.11's per-caller proxies of
 * it, and builders for wire shapes.
 *
 * @module
 */

/** @typedef {import("../types.js").MessageInfo} MessageInfo */
/** @typedef {import("../types.js").Snapshot} Snapshot */

/** @typedef {{name: string, callback: (...args: any[]) => void, context: unknown}} Handler */

/**
 * A fake of the model behind anywidget's proxies: attributes, `on/off` with an
 * optional context (Backbone semantics: `off(null, null, ctx)` drops every listener
 * of `ctx`), `send` recorded in `sent`, and helpers to play the kernel.
 *
 * @param {Record<string, any>} [attributes]
 */
export function createFakeModel(attributes = {}) {
  /** @type {Record<string, any>} */
  const attrs = { ...attributes };
  /** @type {Handler[]} */
  let handlers = [];
  /** @type {any[]} */
  const sent = [];

  /**
   * @param {string} name
   * @param {any[]} args
   */
  function emit(name, args) {
    for (const handler of [...handlers]) {
      if (handler.name === name && handlers.includes(handler)) handler.callback(...args);
    }
  }

  const model = {
    /** @param {string} key */
    get(key) {
      return attrs[key];
    },
    /**
     * @param {string} key
     * @param {any} value
     */
    set(key, value) {
      if (attrs[key] === value) return;
      attrs[key] = value;
      emit(`change:${key}`, [model, value]);
    },
    save_changes() {},
    /**
     * @param {string} name
     * @param {(...args: any[]) => void} callback
     * @param {unknown} [context]
     */
    on(name, callback, context) {
      handlers.push({ name, callback, context });
    },
    /**
     * @param {string | null} [name]
     * @param {((...args: any[]) => void) | null} [callback]
     * @param {unknown} [context]
     */
    off(name, callback, context) {
      handlers = handlers.filter(
        (h) =>
          !(
            (name == null || h.name === name) &&
            (callback == null || h.callback === callback) &&
            (context === undefined || h.context === context)
          ),
      );
    },
    /** @param {any} content */
    send(content) {
      sent.push(content);
    },
    widget_manager: { get_model: () => Promise.reject(new Error("not in tests")) },
    sent,
    /** @param {string} name */
    handlersFor(name) {
      return handlers.filter((h) => h.name === name);
    },
    /** @param {string} [name] */
    listenerCount(name) {
      return handlers.filter((h) => name === undefined || h.name === name).length;
    },
    /** Kernel side: a new snapshot trait value (always a new object, as from JSON). */
    /** @param {Snapshot} snapshot */
    setSnapshot(snapshot) {
      model.set("snapshot", structuredClone(snapshot));
    },
    /** Kernel side: a custom message. */
    /** @param {any} content */
    custom(content) {
      emit("msg:custom", [content, []]);
    },
  };
  return model;
}

/** @typedef {ReturnType<typeof createFakeModel>} FakeModel */

/**
 * What anywidget 0.11 hands `initialize` / `render`: a new object per call whose
 * `on/off` tag listeners with `context` (see `modelProxy` in anywidget's source).
 *
 * @param {FakeModel} model
 * @param {unknown} context
 */
export function proxy(model, context) {
  return {
    get: model.get.bind(model),
    set: model.set.bind(model),
    save_changes: model.save_changes.bind(model),
    send: model.send.bind(model),
    /**
     * @param {string} name
     * @param {(...args: any[]) => void} callback
     */
    on(name, callback) {
      model.on(name, callback, context);
    },
    /**
     * @param {string | null} [name]
     * @param {((...args: any[]) => void) | null} [callback]
     */
    off(name, callback) {
      model.off(name, callback, context);
    },
    widget_manager: model.widget_manager,
  };
}

/**
 * @param {string} id
 * @param {import("../types.js").Role} role
 * @param {string} content
 * @param {Partial<MessageInfo>} [extra]
 * @returns {MessageInfo}
 */
export function message(id, role, content, extra = {}) {
  return { id, role, content, status: "done", error: null, created_at: 0, metrics: {}, ...extra };
}

/**
 * @param {Partial<Snapshot>} [fields]
 * @returns {Snapshot}
 */
export function snapshot(fields = {}) {
  return {
    version: 1,
    seq: 0,
    phase: "idle",
    messages: [],
    model: "demo-model",
    endpoint: "http://127.0.0.1:8000/v1",
    ...fields,
  };
}

/**
 * @param {number} seq
 * @param {Array<[string, string]>} texts `[id, text]` pairs
 */
export function batch(seq, texts) {
  return { type: "batch", seq, ops: texts.map(([id, text]) => ({ op: "text", id, text })) };
}

/**
 * A batch of arbitrary ops, e.g. `ops(3, [["reasoning", "a1", "hmm"], ["text", "a1", "Hi"]])`.
 *
 * @param {number} seq
 * @param {Array<[string, string, string]>} list `[op, id, text]` triples
 */
export function ops(seq, list) {
  return { type: "batch", seq, ops: list.map(([op, id, text]) => ({ op, id, text })) };
}

/**
 * @param {string} id
 * @param {string} name
 * @param {Partial<import("../types.js").ToolCallInfo>} [extra]
 * @returns {import("../types.js").ToolCallInfo}
 */
export function toolCall(id, name, extra = {}) {
  return { id, name, arguments: "", input: null, status: "running", ...extra };
}
