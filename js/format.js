// @ts-check
/**
 * Words the chat shows for states and measurements. Pure functions, no DOM.
 *
 * @module
 */

/** @typedef {import("./types.js").Phase} Phase */
/** @typedef {import("./types.js").MessageStatus} MessageStatus */
/** @typedef {import("./types.js").Role} Role */
/** @typedef {import("./types.js").MetricsInfo} MetricsInfo */
/** @typedef {import("./types.js").ErrorInfo} ErrorInfo */
/** @typedef {import("./types.js").ToolCallInfo} ToolCallInfo */

/** @type {Record<Phase, string>} */
const PHASE_LABELS = {
  idle: "ready",
  connecting: "connecting…",
  reconnecting: "reconnecting…",
  streaming: "streaming",
  done: "done",
  stopped: "stopped",
  error: "error",
  interrupted: "interrupted",
};

/** @type {Partial<Record<MessageStatus, string>>} */
const MARKERS = { stopped: "Stopped", interrupted: "Interrupted", error: "Error" };

/** @type {Record<Role, string>} */
const ROLE_LABELS = { user: "You", assistant: "Assistant", system: "System", note: "Note" };

/** @param {Phase} phase */
export function phaseLabel(phase) {
  return PHASE_LABELS[phase] ?? String(phase);
}

/**
 * The badge text of a message that ended badly, or "" for streaming / done.
 *
 * @param {MessageStatus} status
 */
export function markerLabel(status) {
  return MARKERS[status] ?? "";
}

/** @param {Role} role */
export function roleLabel(role) {
  return ROLE_LABELS[role] ?? String(role);
}

/**
 * `code: message` (the hint is shown on its own line by the view).
 *
 * @param {ErrorInfo} error
 */
export function errorText(error) {
  return error.message ? `${error.code}: ${error.message}` : error.code;
}

/**
 * @param {number} n
 * @param {string} one
 * @param {string} many
 */
function count(n, one, many) {
  const k = Math.round(n);
  return `${k} ${k === 1 ? one : many}`;
}

/**
 * "TTFT 0.21 s · 45.3 tok/s · 3.1 s · 120 tokens · 1 reconnect · 2 retries"; values
 * not measured (and zero reconnects / retries) are left out.
 *
 * @param {MetricsInfo} metrics
 * @returns {string} "" when nothing was measured.
 */
export function metricsText(metrics) {
  /** @type {string[]} */
  const parts = [];
  if (metrics.ttft_s !== undefined) parts.push(`TTFT ${metrics.ttft_s.toFixed(2)} s`);
  if (metrics.tokens_per_s !== undefined) parts.push(`${metrics.tokens_per_s.toFixed(1)} tok/s`);
  if (metrics.duration_s !== undefined) parts.push(`${metrics.duration_s.toFixed(1)} s`);
  if (metrics.output_tokens !== undefined) parts.push(count(metrics.output_tokens, "token", "tokens"));
  if (metrics.reconnects) parts.push(count(metrics.reconnects, "reconnect", "reconnects"));
  if (metrics.retries) parts.push(count(metrics.retries, "retry", "retries"));
  return parts.join(" · ");
}

/**
 * Longer wording for the metrics tooltip, including the prompt size.
 *
 * @param {MetricsInfo} metrics
 */
export function metricsTitle(metrics) {
  /** @type {string[]} */
  const parts = [];
  if (metrics.ttft_s !== undefined) parts.push(`time to first token ${metrics.ttft_s.toFixed(3)} s`);
  if (metrics.tokens_per_s !== undefined) parts.push(`${metrics.tokens_per_s.toFixed(1)} tokens per second`);
  if (metrics.duration_s !== undefined) parts.push(`total ${metrics.duration_s.toFixed(2)} s`);
  if (metrics.output_tokens !== undefined) parts.push(`${metrics.output_tokens} output tokens`);
  if (metrics.input_tokens !== undefined) parts.push(`${metrics.input_tokens} input tokens`);
  if (metrics.reconnects) {
    parts.push(`stream resumed ${count(metrics.reconnects, "time", "times")} after a drop`);
  }
  if (metrics.retries) parts.push(`request re-sent ${count(metrics.retries, "time", "times")}`);
  return parts.join(", ");
}

/**
 * What the header of a tool call says about its progress: "running…", "0.42 s", "done".
 *
 * @param {ToolCallInfo} call
 */
export function toolStateText(call) {
  const took = call.duration_s !== undefined ? ` · ${call.duration_s.toFixed(2)} s` : "";
  switch (call.status) {
    case "running":
      return "running…";
    case "waiting":
      return "waiting for your approval";
    case "queued":
      return "queued";
    case "error":
      return `error${took}`;
    case "denied":
      return "declined";
    case "cancelled":
      return `stopped${took}`;
    default:
      return call.duration_s !== undefined ? `${call.duration_s.toFixed(2)} s` : "done";
  }
}

/**
 * A tool call's arguments for reading: pretty JSON of the parsed `input`, else the raw
 * text as streamed (partial, or not valid JSON).
 *
 * @param {ToolCallInfo} call
 */
export function toolArgumentsText(call) {
  return call.input !== null ? prettyJson(call.input) : call.arguments;
}

/**
 * A tool result for reading: text as is, anything else as pretty JSON.
 *
 * @param {unknown} value
 */
export function prettyJson(value) {
  if (typeof value === "string") return value;
  try {
    return JSON.stringify(value, null, 2) ?? String(value);
  } catch {
    return String(value);
  }
}

/** Finish reasons worth a marker, and what it says. */
/** @type {Record<string, string>} */
const FINISH_MARKERS = {
  length: "Cut off: the model reached its token limit",
  content_filter: "Stopped by the provider's content filter",
};

/**
 * The marker text for how the model ended a reply, or "" (stop, tool_calls, error,
 * refusal and unknown reasons have none: errors and refusals show on their own).
 *
 * @param {string} reason
 */
export function finishReasonLabel(reason) {
  return Object.prototype.hasOwnProperty.call(FINISH_MARKERS, reason) ? FINISH_MARKERS[reason] : "";
}

/**
 * A progress stage for reading: "fetching-exercises" -> "Fetching exercises".
 *
 * @param {string} stage
 */
export function stageLabel(stage) {
  const words = stage.replace(/[-_\s]+/g, " ").trim();
  return words ? words.charAt(0).toUpperCase() + words.slice(1) : "";
}

/**
 * The whole percent a progress bar has reached, rounded down so that "100 %" means
 * done: 99.6 -> 99.
 *
 * @param {number} percent 0-100
 */
export function wholePercent(percent) {
  return Math.floor(Math.min(100, Math.max(0, percent)));
}

/**
 * "40 %".
 *
 * @param {number} percent 0-100
 */
export function percentText(percent) {
  return `${wholePercent(percent)} %`;
}

/**
 * Time left for reading: "less than 1 s left", "about 12 s left", "about 2 min left",
 * "about 1.5 h left"; "" for zero, negative or not a number.
 *
 * @param {number} seconds
 */
export function etaText(seconds) {
  if (!Number.isFinite(seconds) || seconds <= 0) return "";
  if (seconds < 1) return "less than 1 s left";
  const s = Math.round(seconds);
  if (s < 60) return `about ${s} s left`;
  const min = Math.round(s / 60);
  if (min < 60) return `about ${min} min left`;
  return `about ${Math.round(s / 360) / 10} h left`;
}

/**
 * A duration for reading: "0.4 s", "12 s", "1 min 05 s", "2 h 03 min"; "" for a
 * negative or not-a-number value.
 *
 * @param {number} seconds
 */
export function durationText(seconds) {
  if (!Number.isFinite(seconds) || seconds < 0) return "";
  if (seconds < 10) return `${(Math.floor(seconds * 10) / 10).toFixed(1)} s`;
  const s = Math.floor(seconds);
  if (s < 60) return `${s} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min ${String(s % 60).padStart(2, "0")} s`;
  return `${Math.floor(s / 3600)} h ${String(Math.floor((s % 3600) / 60)).padStart(2, "0")} min`;
}

/**
 * A loop's count: "1,234 / 10,000 · 2,345/s"; the total and rate left out when unknown.
 *
 * @param {{n: number, total: number | null, rate: number | null}} count
 */
export function countText(count) {
  const number = (/** @type {number} */ n) => Math.round(n).toLocaleString("en-US");
  const done = count.total === null ? number(count.n) : `${number(count.n)} / ${number(count.total)}`;
  if (count.rate === null || !Number.isFinite(count.rate) || count.rate <= 0) return done;
  const rate = count.rate >= 10 ? number(count.rate) : count.rate.toFixed(count.rate >= 1 ? 1 : 2);
  return `${done} · ${rate}/s`;
}

/**
 * When a message was written, for reading: "14:05" (its short form), the full local
 * date and time (for a tooltip) and ISO 8601; null for no time (0 or not a number).
 *
 * @param {number} unixSeconds
 * @returns {{short: string, long: string, iso: string} | null}
 */
export function timeText(unixSeconds) {
  if (!Number.isFinite(unixSeconds) || unixSeconds <= 0) return null;
  const date = new Date(unixSeconds * 1000);
  const pad = (/** @type {number} */ n) => String(n).padStart(2, "0");
  return {
    short: `${pad(date.getHours())}:${pad(date.getMinutes())}`,
    long: date.toLocaleString(),
    iso: date.toISOString(),
  };
}
