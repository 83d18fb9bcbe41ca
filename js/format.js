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

/** @type {Record<Phase, string>} */
const PHASE_LABELS = {
  idle: "ready",
  connecting: "connecting…",
  streaming: "streaming",
  done: "done",
  stopped: "stopped",
  error: "error",
  interrupted: "interrupted",
};

/** @type {Partial<Record<MessageStatus, string>>} */
const MARKERS = { stopped: "Stopped", interrupted: "Interrupted", error: "Error" };

/** @type {Record<Role, string>} */
const ROLE_LABELS = { user: "You", assistant: "Assistant", system: "System" };

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
 * "TTFT 0.21 s · 45.3 tok/s · 3.1 s · 120 tokens"; values not measured are left out.
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
  if (metrics.output_tokens !== undefined) {
    const n = Math.round(metrics.output_tokens);
    parts.push(`${n} ${n === 1 ? "token" : "tokens"}`);
  }
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
  return parts.join(", ");
}
