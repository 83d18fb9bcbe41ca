// @ts-check
/**
 * JSDoc mirrors of the wire shapes defined in `nbchat/wire.py` (the source of truth).
 *
 * Kernel -> browser: the `snapshot` and `head` traits ({@link Snapshot}, {@link Head})
 * and custom messages ({@link Batch}, {@link Page}). Browser -> kernel:
 * {@link ViewRequest}.
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
/**
 * `note`: a line nbchat wrote in the transcript, never sent to the model: the context
 * was cleared there (`chat.clear()`).
 *
 * @typedef {"system" | "user" | "assistant" | "note"} Role
 */

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

/**
 * `running` / `done` for every call; a call the kernel runs (one of the chat's tools)
 * also goes through `queued` (its round's earlier calls run first) and `waiting` (for
 * the user's approval) and may end `error`, `denied` or `cancelled`.
 *
 * @typedef {"queued" | "waiting" | "running" | "done" | "error" | "denied" | "cancelled"} ToolCallStatus
 */

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
 * @property {number} [at] The length of the reply's text when the call started: the
 *   row is shown after that text (absent or 0: above the text).
 * @property {number} [round] A call the kernel ran: the request round it came in.
 */

/**
 * The latest step of a progress stream (spec 004). Every key may be missing.
 *
 * @typedef {object} ProgressInfo
 * @property {string} [stage] e.g. "started", "fetching-exercises", "complete".
 * @property {number | null} [percent] 0-100, or null when unknown (indeterminate).
 * @property {string} [message] A human-readable status line.
 * @property {number | null} [eta_s] Estimated seconds left, or null when unknown.
 * @property {number} [at] The length of the reply's text when the progress started: the
 *   block is shown after that text (absent or 0: above the text).
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
 * @property {number} [reasoning_at] The length of the text when the reasoning started:
 *   its block is shown after that text (absent or 0: above the text).
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
 * @property {MessageInfo[]} messages The last page of the transcript.
 * @property {number} [offset] How many older messages exist before `messages`.
 * @property {string} model
 * @property {string} endpoint
 * @property {string} [notice] A transient line about the running turn, or "".
 */

/**
 * Small, set on every phase, notice or model change, after the pending batch: `seq` is
 * the last batch sent before it (a view behind it lost a batch and asks for a sync).
 *
 * @typedef {object} Head
 * @property {number} seq
 * @property {Phase} phase
 * @property {string} notice
 * @property {string} model
 * @property {string} endpoint
 * @property {string} [context_start] The first message sent when older ones are left out.
 * @property {string[]} [models] The models the user may pick from (a picker when several).
 * @property {string} [conversation] The conversation's name in the history.
 */

/**
 * One conversation of the history (`wire.ConversationRow`).
 *
 * @typedef {object} ConversationRow
 * @property {string} name
 * @property {string} title The first line of its first message, or "".
 * @property {string} notebook Where it was started, or "".
 * @property {number} last_activity Seconds since the epoch.
 * @property {number} messages
 */

/**
 * @typedef {object} ConversationList
 * @property {"conversations"} type
 * @property {ConversationRow[]} items The newest first.
 * @property {number} more How many more the history holds.
 */

/**
 * A file for the browser to save (`wire.ExportFile`).
 *
 * @typedef {object} ExportFile
 * @property {"export"} type
 * @property {string} filename
 * @property {string} media_type
 * @property {string} text
 */

/**
 * @typedef {object} Page
 * @property {"page"} type
 * @property {string} before The message the page ends just before.
 * @property {MessageInfo[]} messages
 * @property {number} offset How many older messages exist before these.
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
 * A message new to the transcript (added at its end), whole.
 *
 * @typedef {{op: "upsert", message: MessageInfo}} UpsertOp
 */

/**
 * Every field of message `id` but its text (status, error, metrics, tool calls...).
 *
 * @typedef {{op: "patch", id: string, fields: Partial<MessageInfo>}} PatchOp
 */

/** @typedef {{op: "remove", id: string}} RemoveOp */

/**
 * Ops apply in order; unknown `op` values (a newer kernel) are ignored.
 *
 * @typedef {object} Batch
 * @property {"batch"} type
 * @property {number} seq
 * @property {Array<TextOp | UpsertOp | PatchOp | RemoveOp>} ops
 */

/**
 * `retry` answers the last user message again, replacing a reply that ended
 * `interrupted`, `error` or `stopped`.
 *
 * `page` asks for the older messages before message `before`. `edit` replaces the last
 * user message; `new`, `clear`, `undo`, `open`, `delete` do what the chat's methods of
 * those names do; `conversations` asks for the list; `model` picks one of `Head.models`;
 * `export` asks for the conversation as a file. `approve` answers a tool call waiting
 * for the user's approval. A request the kernel cannot carry out
 * is answered `{type: "refused", message}`.
 *
 * @typedef {{type: "send", text: string} | {type: "stop"} | {type: "sync"} | {type: "retry"}
 *   | {type: "page", before: string} | {type: "edit", text: string}
 *   | {type: "new" | "clear" | "undo" | "conversations"}
 *   | {type: "open" | "delete", name: string} | {type: "model", model: string}
 *   | {type: "export", format: string}
 *   | {type: "approve", id: string, approved: boolean}} ViewRequest
 */

/**
 * What a progress bar's job is doing (`wire.JobState`); a chat reply's progress uses
 * the message status words instead (`streaming`, `stopped`...).
 *
 * @typedef {"idle" | "connecting" | "running" | "done" | "cancelled" | "error" | "interrupted"} JobState
 */

/**
 * One known stage of a job (`wire.StageInfo`).
 *
 * @typedef {object} StageInfo
 * @property {string} name
 * @property {"done" | "current" | "ahead"} state
 */

/**
 * Everything one progress bar shows (`wire.BarInfo`, the bar widget's `bar` trait).
 * `elapsed_s` and `eta_s` are as of sending: the view counts them on.
 *
 * @typedef {object} BarInfo
 * @property {JobState | MessageStatus} state
 * @property {string} title
 * @property {number | null} percent
 * @property {string} stage
 * @property {string} message
 * @property {StageInfo[]} stages
 * @property {number | null} elapsed_s
 * @property {number | null} eta_s
 * @property {string} eta_note
 * @property {string} notice
 * @property {ErrorInfo | null} error
 * @property {string | null} result
 * @property {boolean} classic
 * @property {Array<"cancel" | "retry" | "mode">} controls
 * @property {{n: number, total: number | null, rate: number | null} | null} count
 * @property {BarInfo[]} children
 */

/** @typedef {{type: "cancel"} | {type: "retry"} | {type: "mode"}} BarRequest */

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
