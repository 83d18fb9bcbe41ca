// @ts-check
/**
 * JSDoc mirrors of the wire shapes defined in `nbchat/wire.py` (the source of truth).
 *
 * Kernel -> browser: the `snapshot` trait ({@link Snapshot}) and custom messages
 * ({@link Batch}). Browser -> kernel: {@link ViewRequest}.
 *
 * @module
 */

/**
 * `reconnecting`: the kernel is re-opening a dropped stream (Last-Event-ID) or waiting
 * to re-send a request before any byte arrived (e.g. 429 Retry-After). Busy, like
 * `connecting` and `streaming`.
 *
 * @typedef {"idle" | "connecting" | "reconnecting" | "streaming" | "done" | "stopped" | "error" | "interrupted"} Phase
 */
/** @typedef {"streaming" | "done" | "stopped" | "error" | "interrupted"} MessageStatus */
/** @typedef {"system" | "user" | "assistant"} Role */

/**
 * @typedef {object} ErrorInfo
 * @property {string} code
 * @property {string} message
 * @property {string} [hint]
 */

/**
 * @typedef {object} MetricsInfo
 * @property {number} [ttft_s]
 * @property {number} [tokens_per_s]
 * @property {number} [duration_s]
 * @property {number} [output_tokens]
 * @property {number} [input_tokens]
 * @property {number} [reconnects] Times the stream was re-opened with Last-Event-ID.
 * @property {number} [retries] Times the request was re-sent before any byte arrived.
 */

/** @typedef {"running" | "done"} ToolCallStatus */

/**
 * One tool call of an assistant message.
 *
 * @typedef {object} ToolCallInfo
 * @property {string} id
 * @property {string} name
 * @property {string} arguments The raw JSON text as streamed.
 * @property {Record<string, any> | null} input The parsed arguments once complete (null
 *   before, or when the text is not valid JSON).
 * @property {ToolCallStatus} status
 * @property {any} [result] The tool's output, when the stream reports it.
 * @property {number} [duration_s]
 */

/**
 * The latest step of a progress stream (spec 004). Every key may be missing.
 *
 * @typedef {object} ProgressInfo
 * @property {string} [stage] e.g. "started", "fetching-exercises", "complete".
 * @property {number | null} [percent] 0-100, or null when unknown (indeterminate).
 * @property {string} [message] A human-readable status line.
 * @property {number | null} [eta_s] Estimated seconds left, or null when unknown.
 */

/**
 * @typedef {object} MessageInfo
 * @property {string} id
 * @property {Role} role
 * @property {string} content
 * @property {MessageStatus} status
 * @property {ErrorInfo | null} error
 * @property {number} created_at
 * @property {MetricsInfo} metrics
 * @property {string} [reasoning] The model's reasoning ("thinking"), shown apart.
 * @property {string} [refusal] A refusal streamed instead of an answer.
 * @property {ToolCallInfo[]} [tool_calls]
 * @property {string} [finish_reason] How the model ended the reply when it said: stop,
 *   length, tool_calls, content_filter, refusal, error.
 * @property {ProgressInfo} [progress] The latest step of a progress stream, while and
 *   after it runs.
 * @property {any} [result] The final result of a progress stream (any JSON).
 * @property {boolean} [superseded] A retry is answering again: the reply stays (marked)
 *   until the new one has output, then goes.
 */

/**
 * @typedef {object} Snapshot
 * @property {number} version
 * @property {number} seq
 * @property {Phase} phase
 * @property {MessageInfo[]} messages
 * @property {string} model
 * @property {string} endpoint
 * @property {string} [notice] A transient line about the running turn, or "".
 */

/**
 * Append `text` to the content (`"text"`) or the reasoning (`"reasoning"`) of message
 * `id`. Other `op` values may appear in later versions: a view ignores them.
 *
 * @typedef {object} TextOp
 * @property {"text" | "reasoning"} op
 * @property {string} id
 * @property {string} text
 */

/**
 * @typedef {object} Batch
 * @property {"batch"} type
 * @property {number} seq
 * @property {TextOp[]} ops
 */

/**
 * `retry` answers the last user message again, replacing a reply that ended
 * `interrupted`, `error` or `stopped`.
 *
 * @typedef {{type: "send", text: string} | {type: "stop"} | {type: "sync"} | {type: "retry"}} ViewRequest
 */

/**
 * The part of anywidget's `AnyModel` that nbchat uses (see `@anywidget/types`).
 *
 * @typedef {object} ChatModel
 * @property {(key: string) => any} get
 * @property {(key: string, value: any) => void} set
 * @property {() => void} save_changes
 * @property {(name: string, callback: (...args: any[]) => void) => void} on
 * @property {(name?: string | null, callback?: ((...args: any[]) => void) | null) => void} off
 * @property {(content: ViewRequest) => void} send
 */

export {};
