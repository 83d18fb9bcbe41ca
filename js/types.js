// @ts-check
/**
 * JSDoc mirrors of the wire shapes defined in `nbchat/wire.py` (the source of truth).
 *
 * Kernel -> browser: the `snapshot` trait ({@link Snapshot}) and custom messages
 * ({@link Batch}). Browser -> kernel: {@link ViewRequest}.
 *
 * @module
 */

/** @typedef {"idle" | "connecting" | "streaming" | "done" | "stopped" | "error" | "interrupted"} Phase */
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
 */

/**
 * @typedef {object} Snapshot
 * @property {number} version
 * @property {number} seq
 * @property {Phase} phase
 * @property {MessageInfo[]} messages
 * @property {string} model
 * @property {string} endpoint
 */

/**
 * @typedef {object} TextOp
 * @property {"text"} op
 * @property {string} id
 * @property {string} text
 */

/**
 * @typedef {object} Batch
 * @property {"batch"} type
 * @property {number} seq
 * @property {TextOp[]} ops
 */

/** @typedef {{type: "send", text: string} | {type: "stop"} | {type: "sync"}} ViewRequest */

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
