// @ts-check
/**
 * The browser's copy of one chat transcript: pure state, no DOM, no widget model.
 *
 * Four inputs, all from `nbchat/wire.py`:
 *
 * - {@link Store.applySnapshot}: the `snapshot` trait: the last page of the transcript
 *   (`offset` older messages exist). Authoritative: it always replaces the state. It is
 *   never older than the batches seen before it, because trait changes and custom
 *   messages travel in order on one channel.
 * - {@link Store.applyBatch}: a `{"type": "batch", seq, ops}` custom message, ops in
 *   order: `upsert` (a new message, whole, added at the end), `patch` (every field of a
 *   message but its text), `remove`, and append-only text (`op: "text"` to a message's
 *   content, `op: "reasoning"` to its reasoning); unknown ops are ignored. Applied only
 *   when `seq === state.seq + 1`; a smaller `seq` is already contained in the state
 *   ("stale"); a larger one, or an op naming a message the state does not have, is a
 *   "gap": the caller asks the kernel for a new snapshot and the state stays as it was
 *   until one arrives.
 * - {@link Store.applyHead}: the `head` trait (phase, notice, model, endpoint, and the
 *   `seq` of the last batch sent before it): a `seq` ahead of the state's means a batch
 *   was lost on the way ("gap").
 * - {@link Store.applyPage}: a `{"type": "page", before, messages, offset}` custom
 *   message, older messages asked for; added at the top when `before` is the first
 *   message the state holds, else ignored.
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
/** @typedef {import("./types.js").ToolCallInfo} ToolCallInfo */

/**
 * A progress step with every key filled in: `percent` clamped to 0-100, `eta_s` not
 * negative; null where the kernel did not say.
 *
 * @typedef {object} StoreProgress
 * @property {string} stage "" when unknown.
 * @property {number | null} percent
 * @property {string} message "" when none.
 * @property {number | null} eta_s
 * @property {number} [at] The text's length when the progress started (shown after it).
 */

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
 * @property {string} reasoning "" when the message has none.
 * @property {number} [reasoning_at] The text's length when the reasoning started.
 * @property {string} refusal "" when the message has none.
 * @property {ToolCallInfo[]} tool_calls
 * @property {string} finish_reason "" when the kernel did not say.
 * @property {boolean} superseded A retry is answering again (kept until it has output).
 * @property {StoreProgress | null} progress null when the message has no progress.
 * @property {any} [result] The final result of a progress stream; absent when none
 *   (a JSON `null` result is present, as null).
 */

/**
 * @typedef {object} State
 * @property {number} seq Sequence number of the last batch the state contains.
 * @property {number} version
 * @property {number} offset How many older messages exist before `messages` (not loaded).
 * @property {Phase} phase
 * @property {StoreMessage[]} messages
 * @property {string} model
 * @property {string} endpoint
 * @property {string} notice A transient line about the running turn, or "".
 * @property {string} contextStart The first message the model is sent when older ones
 *   are left out (the chat's context limit), else "".
 * @property {string[]} models The models the user may pick from.
 * @property {string} conversation The conversation's name in the history.
 */

/**
 * Text appended to one part of one message.
 *
 * @typedef {{id: string, part: TextPart, text: string}} TextDelta
 */

/** @typedef {"content" | "reasoning"} TextPart */

/**
 * What changed: the whole state (a snapshot), text appended to some messages, messages
 * added, patched or removed, the head (phase, notice, model), or older messages loaded.
 *
 * @typedef {{kind: "snapshot"} | {kind: "text", deltas: TextDelta[]} | {kind: "messages"}
 *   | {kind: "head"} | {kind: "page"}} Change
 */

/** @typedef {"applied" | "stale" | "gap"} BatchResult */

/**
 * @typedef {object} Store
 * @property {() => Readonly<State>} getState The live state: read it, never mutate it.
 * @property {(id: string) => StoreMessage | undefined} getMessage
 * @property {(snapshot: unknown) => void} applySnapshot
 * @property {(batch: unknown) => BatchResult} applyBatch
 * @property {(head: unknown) => BatchResult} applyHead "gap" when a batch was lost.
 * @property {(page: unknown) => boolean} applyPage True when the page was added.
 * @property {(listener: (change: Change) => void) => () => void} subscribe
 *   Returns the unsubscribe function.
 */

const PHASES = new Set([
  "idle",
  "connecting",
  "reconnecting",
  "streaming",
  "done",
  "stopped",
  "error",
  "interrupted",
]);
const STATUSES = new Set(["streaming", "done", "stopped", "error", "interrupted"]);
const ROLES = new Set(["system", "user", "assistant", "note"]);
const TOOL_STATUSES = new Set(["queued", "waiting", "running", "done", "error", "denied", "cancelled"]);

/**
 * @param {unknown} value
 * @returns {value is Record<string, any>}
 */
function isObject(value) {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** Batch ops the store applies, and the message field each one appends to. */
/** @type {Map<unknown, TextPart>} */
const OP_PARTS = new Map([
  ["text", "content"],
  ["reasoning", "reasoning"],
]);

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
    "reconnects",
    "retries",
  ])) {
    const v = value[key];
    if (typeof v === "number" && Number.isFinite(v)) metrics[key] = v;
  }
  return metrics;
}

/**
 * A text offset from the wire (where a tool call, progress or reasoning started): a
 * positive integer, else 0.
 *
 * @param {unknown} value
 * @returns {number}
 */
function offset(value) {
  return typeof value === "number" && Number.isInteger(value) && value > 0 ? value : 0;
}

/**
 * @param {unknown} value
 * @param {number} index
 * @returns {ToolCallInfo}
 */
function copyToolCall(value, index) {
  const c = isObject(value) ? value : {};
  /** @type {ToolCallInfo} */
  const call = {
    id: typeof c.id === "string" && c.id ? c.id : `#${index}`,
    name: typeof c.name === "string" ? c.name : "",
    arguments: typeof c.arguments === "string" ? c.arguments : "",
    // Never mutated here or in the view, so sharing the trait's object is safe.
    input: isObject(c.input) ? c.input : null,
    status: TOOL_STATUSES.has(c.status) ? c.status : "done",
  };
  if (typeof c.round === "number" && Number.isInteger(c.round) && c.round > 0) call.round = c.round;
  if ("result" in c && c.result !== undefined) call.result = c.result;
  if (typeof c.duration_s === "number" && Number.isFinite(c.duration_s)) call.duration_s = c.duration_s;
  const at = offset(c.at);
  if (at) call.at = at;
  return call;
}

/**
 * @param {unknown} value
 * @returns {number | null}
 */
function finite(value) {
  return typeof value === "number" && Number.isFinite(value) ? value : null;
}

/**
 * @param {unknown} value
 * @returns {StoreProgress | null}
 */
function copyProgress(value) {
  if (!isObject(value)) return null;
  const percent = finite(value.percent);
  const eta = finite(value.eta_s);
  /** @type {StoreProgress} */
  const progress = {
    stage: typeof value.stage === "string" ? value.stage : "",
    percent: percent === null ? null : Math.min(100, Math.max(0, percent)),
    message: typeof value.message === "string" ? value.message : "",
    eta_s: eta === null ? null : Math.max(0, eta),
  };
  const at = offset(value.at);
  if (at) progress.at = at;
  return progress;
}

/**
 * @param {unknown} value
 * @param {number} index
 * @returns {StoreMessage}
 */
function copyMessage(value, index) {
  const m = isObject(value) ? value : {};
  /** @type {StoreMessage} */
  const message = {
    id: typeof m.id === "string" && m.id ? m.id : `#${index}`,
    role: ROLES.has(m.role) ? m.role : "assistant",
    content: typeof m.content === "string" ? m.content : "",
    status: STATUSES.has(m.status) ? m.status : "done",
    error: copyError(m.error),
    created_at: int(m.created_at, 0),
    metrics: copyMetrics(m.metrics),
    reasoning: typeof m.reasoning === "string" ? m.reasoning : "",
    refusal: typeof m.refusal === "string" ? m.refusal : "",
    tool_calls: Array.isArray(m.tool_calls) ? m.tool_calls.map(copyToolCall) : [],
    finish_reason: typeof m.finish_reason === "string" ? m.finish_reason : "",
    superseded: m.superseded === true,
    progress: copyProgress(m.progress),
  };
  const reasoningAt = offset(m.reasoning_at);
  if (reasoningAt) message.reasoning_at = reasoningAt;
  // Never mutated here or in the view, so sharing the trait's object is safe.
  if ("result" in m && m.result !== undefined) message.result = m.result;
  return message;
}

/** @returns {State} */
function emptyState() {
  return {
    seq: 0,
    version: 0,
    offset: 0,
    phase: "idle",
    messages: [],
    model: "",
    endpoint: "",
    notice: "",
    contextStart: "",
    models: [],
    conversation: "",
  };
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
      offset: Math.max(0, int(s.offset, 0)),
      phase: PHASES.has(s.phase) ? s.phase : "idle",
      messages,
      model: typeof s.model === "string" ? s.model : "",
      endpoint: typeof s.endpoint === "string" ? s.endpoint : "",
      notice: typeof s.notice === "string" ? s.notice : "",
      // the head that follows every snapshot says these
      contextStart: state.contextStart,
      models: state.models,
      conversation: state.conversation,
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
    // Check every op before touching anything, so a gap leaves the state unchanged;
    // ids added or removed by earlier ops of this batch count (no copy of the index).
    /** @type {Set<string>} */
    const added = new Set();
    /** @type {Set<string>} */
    const removed = new Set();
    for (const op of ops) {
      if (!isObject(op)) continue;
      if (op.op === "upsert") {
        if (isObject(op.message) && typeof op.message.id === "string") {
          added.add(op.message.id);
          removed.delete(op.message.id);
        }
        continue;
      }
      const part = OP_PARTS.get(op.op);
      if (!part && op.op !== "patch" && op.op !== "remove") continue; // unknown: ignore
      if (part && typeof op.text !== "string") continue;
      const id = op.id;
      const known = typeof id === "string" && (added.has(id) || (byId.has(id) && !removed.has(id)));
      if (!known) return "gap";
      if (op.op === "remove") {
        added.delete(id);
        removed.add(id);
      }
    }
    state.seq = batch.seq;
    /** @type {TextDelta[]} */
    const deltas = [];
    let structure = false;
    for (const op of ops) {
      if (!isObject(op)) continue;
      const part = OP_PARTS.get(op.op);
      if (part && typeof op.text === "string" && op.text) {
        const message = /** @type {StoreMessage} */ (byId.get(op.id));
        message[part] += op.text;
        const last = deltas[deltas.length - 1];
        // Coalesce consecutive deltas of one part: one DOM append instead of many.
        if (last && last.id === message.id && last.part === part) last.text += op.text;
        else deltas.push({ id: message.id, part, text: op.text });
      } else if (op.op === "upsert" && isObject(op.message)) {
        structure = true;
        const message = copyMessage(op.message, state.offset + state.messages.length);
        const old = byId.get(message.id);
        if (old) state.messages[state.messages.indexOf(old)] = message;
        else state.messages.push(message);
        byId.set(message.id, message);
      } else if (op.op === "patch" && isObject(op.fields)) {
        structure = true;
        const old = /** @type {StoreMessage} */ (byId.get(op.id));
        const message = copyMessage(
          { ...op.fields, id: old.id, content: old.content, reasoning: old.reasoning },
          0,
        );
        state.messages[state.messages.indexOf(old)] = message;
        byId.set(message.id, message);
      } else if (op.op === "remove" && typeof op.id === "string") {
        structure = true;
        const old = byId.get(op.id);
        if (old) state.messages.splice(state.messages.indexOf(old), 1);
        byId.delete(op.id);
      }
    }
    // Text first: a view appends it to the records it has, then reconciles the rest.
    if (deltas.length) emit({ kind: "text", deltas });
    if (structure) emit({ kind: "messages" });
    return "applied";
  }

  /**
   * @param {unknown} head
   * @returns {BatchResult}
   */
  function applyHead(head) {
    if (!isObject(head)) return "stale";
    if (PHASES.has(head.phase)) state.phase = head.phase;
    if (typeof head.notice === "string") state.notice = head.notice;
    if (typeof head.model === "string") state.model = head.model;
    if (typeof head.endpoint === "string") state.endpoint = head.endpoint;
    if (typeof head.context_start === "string") state.contextStart = head.context_start;
    if (Array.isArray(head.models)) {
      state.models = head.models.filter((m) => typeof m === "string" && m);
    }
    if (typeof head.conversation === "string") state.conversation = head.conversation;
    emit({ kind: "head" });
    return int(head.seq, 0) > state.seq ? "gap" : "applied";
  }

  /**
   * @param {unknown} page
   * @returns {boolean}
   */
  function applyPage(page) {
    if (!isObject(page) || !Array.isArray(page.messages)) return false;
    const first = state.messages[0];
    if (!first || page.before !== first.id) return false;
    const offset = Math.max(0, int(page.offset, 0));
    const older = page.messages.map((m, i) => copyMessage(m, offset + i)).filter((m) => !byId.has(m.id));
    state.messages.unshift(...older);
    for (const message of older) byId.set(message.id, message);
    state.offset = offset;
    emit({ kind: "page" });
    return true;
  }

  return {
    getState: () => state,
    getMessage: (id) => byId.get(id),
    applySnapshot,
    applyBatch,
    applyHead,
    applyPage,
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
  return phase === "connecting" || phase === "reconnecting" || phase === "streaming";
}

/** Message statuses a Retry can replace; a reply that ended `done` is regenerated. */
const RETRYABLE = new Set(["interrupted", "error", "stopped", "done"]);

/**
 * The message a Retry (or Regenerate) would replace, if any: the transcript's last
 * message (system messages aside) when it is an assistant reply that has ended, and no
 * turn is running. A reply followed by a newer user message, or by a note (the context
 * was cleared), is not offered: the kernel retries the last user message.
 *
 * @param {Readonly<State>} state
 * @returns {StoreMessage | undefined}
 */
export function retryTarget(state) {
  if (isLive(state.phase)) return undefined;
  for (let i = state.messages.length - 1; i >= 0; i--) {
    const message = state.messages[i];
    if (message.role === "system") continue;
    return message.role === "assistant" && RETRYABLE.has(message.status) ? message : undefined;
  }
  return undefined;
}

/**
 * The user message an Edit would replace, if any: the last user message, when only
 * replies follow it and no turn is running.
 *
 * @param {Readonly<State>} state
 * @returns {StoreMessage | undefined}
 */
export function editTarget(state) {
  if (isLive(state.phase)) return undefined;
  for (let i = state.messages.length - 1; i >= 0; i--) {
    const message = state.messages[i];
    if (message.role === "user") return message;
    if (message.role === "note") return undefined;
  }
  return undefined;
}
