// @ts-check
/**
 * The browser's copy of one chat transcript: pure state, no DOM, no widget model.
 *
 * Two inputs, both from `nbchat/wire.py`:
 *
 * - {@link Store.applySnapshot}: the `snapshot` trait. Authoritative: it always replaces
 *   the state. It is never older than the batches seen before it, because trait
 *   changes and custom messages travel in order on one channel.
 * - {@link Store.applyBatch}: a `{"type": "batch", seq, ops}` custom message of
 *   append-only text deltas. Applied only when `seq === state.seq + 1`; a smaller `seq`
 *   is already contained in the state ("stale"); a larger one, or an op naming a
 *   message the state does not have, is a "gap": the caller asks the kernel for a
 *   new snapshot and the state stays as it was until one arrives.
 *
 * Subscribers hear what changed, so a view can append a delta to one text node
 * instead of re-rendering the transcript. Appends mutate the message in place
 * (V8 concatenation is amortised O(delta)); nothing copies the transcript per batch.
 *
 * @module
 */

/** @typedef {import("./types.js").Phase} Phase */
/** @typedef {import("./types.js").Role} Role */
/** @typedef {import("./types.js").MessageStatus} MessageStatus */
/** @typedef {import("./types.js").ErrorInfo} ErrorInfo */
/** @typedef {import("./types.js").MetricsInfo} MetricsInfo */

/**
 * A message as the store keeps it: a private copy, never the trait's own object
 * (mutating the trait value would break Backbone's change detection).
 *
 * @typedef {object} StoreMessage
 * @property {string} id
 * @property {Role} role
 * @property {string} content
 * @property {MessageStatus} status
 * @property {ErrorInfo | null} error
 * @property {number} created_at
 * @property {MetricsInfo} metrics
 */

/**
 * @typedef {object} State
 * @property {number} seq Sequence number of the last batch the state contains.
 * @property {number} version
 * @property {Phase} phase
 * @property {StoreMessage[]} messages
 * @property {string} model
 * @property {string} endpoint
 */

/** @typedef {{id: string, text: string}} TextDelta */

/**
 * What changed: the whole state (a snapshot), or text appended to some messages.
 *
 * @typedef {{kind: "snapshot"} | {kind: "text", deltas: TextDelta[]}} Change
 */

/** @typedef {"applied" | "stale" | "gap"} BatchResult */

/**
 * @typedef {object} Store
 * @property {() => Readonly<State>} getState The live state: read it, never mutate it.
 * @property {(id: string) => StoreMessage | undefined} getMessage
 * @property {(snapshot: unknown) => void} applySnapshot
 * @property {(batch: unknown) => BatchResult} applyBatch
 * @property {(listener: (change: Change) => void) => () => void} subscribe
 *   Returns the unsubscribe function.
 */

const PHASES = new Set(["idle", "connecting", "streaming", "done", "stopped", "error", "interrupted"]);
const STATUSES = new Set(["streaming", "done", "stopped", "error", "interrupted"]);
const ROLES = new Set(["system", "user", "assistant"]);

/**
 * @param {unknown} value
 * @returns {value is Record<string, any>}
 */
function isObject(value) {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/**
 * @param {unknown} value
 * @param {number} fallback
 */
function int(value, fallback) {
  return typeof value === "number" && Number.isFinite(value) ? value : fallback;
}

/**
 * @param {unknown} value
 * @returns {ErrorInfo | null}
 */
function copyError(value) {
  if (!isObject(value)) return null;
  /** @type {ErrorInfo} */
  const error = { code: String(value.code ?? "error"), message: String(value.message ?? "") };
  if (typeof value.hint === "string" && value.hint) error.hint = value.hint;
  return error;
}

/**
 * @param {unknown} value
 * @returns {MetricsInfo}
 */
function copyMetrics(value) {
  /** @type {MetricsInfo} */
  const metrics = {};
  if (!isObject(value)) return metrics;
  for (const key of /** @type {const} */ ([
    "ttft_s",
    "tokens_per_s",
    "duration_s",
    "output_tokens",
    "input_tokens",
  ])) {
    const v = value[key];
    if (typeof v === "number" && Number.isFinite(v)) metrics[key] = v;
  }
  return metrics;
}

/**
 * @param {unknown} value
 * @param {number} index
 * @returns {StoreMessage}
 */
function copyMessage(value, index) {
  const m = isObject(value) ? value : {};
  return {
    id: typeof m.id === "string" && m.id ? m.id : `#${index}`,
    role: ROLES.has(m.role) ? m.role : "assistant",
    content: typeof m.content === "string" ? m.content : "",
    status: STATUSES.has(m.status) ? m.status : "done",
    error: copyError(m.error),
    created_at: int(m.created_at, 0),
    metrics: copyMetrics(m.metrics),
  };
}

/** @returns {State} */
function emptyState() {
  return { seq: 0, version: 0, phase: "idle", messages: [], model: "", endpoint: "" };
}

/**
 * Create an empty store (seq 0, phase "idle", no messages).
 *
 * @returns {Store}
 */
export function createStore() {
  let state = emptyState();
  /** @type {Map<string, StoreMessage>} */
  let byId = new Map();
  /** @type {Set<(change: Change) => void>} */
  const listeners = new Set();

  /** @param {Change} change */
  function emit(change) {
    for (const listener of [...listeners]) listener(change);
  }

  /** @param {unknown} snapshot */
  function applySnapshot(snapshot) {
    const s = isObject(snapshot) ? snapshot : {};
    const messages = Array.isArray(s.messages) ? s.messages.map(copyMessage) : [];
    state = {
      seq: int(s.seq, 0),
      version: int(s.version, 0),
      phase: PHASES.has(s.phase) ? s.phase : "idle",
      messages,
      model: typeof s.model === "string" ? s.model : "",
      endpoint: typeof s.endpoint === "string" ? s.endpoint : "",
    };
    byId = new Map(messages.map((m) => [m.id, m]));
    emit({ kind: "snapshot" });
  }

  /**
   * @param {unknown} batch
   * @returns {BatchResult}
   */
  function applyBatch(batch) {
    // A batch we cannot place in the sequence is dropped: it cannot be applied, and
    // asking for a snapshot would not make it placeable either.
    if (!isObject(batch) || typeof batch.seq !== "number" || !Number.isInteger(batch.seq)) {
      return "stale";
    }
    if (batch.seq <= state.seq) return "stale";
    if (batch.seq !== state.seq + 1) return "gap";
    const ops = Array.isArray(batch.ops) ? batch.ops : [];
    // Check every op before touching anything, so a gap leaves the state unchanged.
    /** @type {{message: StoreMessage, text: string}[]} */
    const appends = [];
    for (const op of ops) {
      if (!isObject(op) || op.op !== "text") continue; // unknown kinds: ignore safely
      if (typeof op.text !== "string") continue;
      const message = typeof op.id === "string" ? byId.get(op.id) : undefined;
      if (!message) return "gap";
      if (op.text) appends.push({ message, text: op.text });
    }
    state.seq = batch.seq;
    /** @type {TextDelta[]} */
    const deltas = [];
    for (const { message, text } of appends) {
      message.content += text;
      const last = deltas[deltas.length - 1];
      // Coalesce consecutive deltas of one message: one DOM append instead of many.
      if (last && last.id === message.id) last.text += text;
      else deltas.push({ id: message.id, text });
    }
    if (deltas.length) emit({ kind: "text", deltas });
    return "applied";
  }

  return {
    getState: () => state,
    getMessage: (id) => byId.get(id),
    applySnapshot,
    applyBatch,
    subscribe(listener) {
      listeners.add(listener);
      return () => {
        listeners.delete(listener);
      };
    },
  };
}

/**
 * Whether a phase means a turn is running (the button is Stop, Enter does not send).
 *
 * @param {Phase} phase
 */
export function isLive(phase) {
  return phase === "connecting" || phase === "streaming";
}
