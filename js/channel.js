// @ts-check
/**
 * One widget model's connection: its store, its listeners, its requests to the kernel.
 *
 * A channel lives as long as the model (it is made in anywidget's `initialize`), not
 * as long as a view, so every view of one model renders the same store, a view
 * created later hydrates from it, and the draft in the input box survives the output
 * being re-rendered.
 *
 * Sync policy (see `nbchat/wire.py`):
 * - a batch gap, or a `head` trait naming a batch this store has not seen (a message
 *   Jupyter Server dropped), sends `{"type": "sync"}` once; further gaps are quiet
 *   until a snapshot arrives (or, should that request have been lost, until
 *   `syncRetryMs` has passed);
 * - the first view of a channel whose phase is connecting/streaming asks for a sync
 *   too: custom messages are not replayed, so after a reload mid-stream the batches
 *   sent before the model existed here are gone.
 *
 * @module
 */

import { watchKernel } from "./kernel_watch.js";
import { createStore, editTarget, isLive, retryTarget } from "./store.js";

/** @typedef {import("./types.js").ChatModel} ChatModel */
/** @typedef {import("./store.js").Store} Store */

/**
 * Per-model UI state that outlives views.
 *
 * @typedef {object} UiState
 * @property {string} draft Text typed in the input and not sent yet.
 * @property {boolean} focused Whether the input had focus when its view went away.
 * @property {string} queued A message typed while a reply streamed: sent when it ends.
 * @property {string} gone Why the kernel cannot be reached (restarted, shut down), or "".
 * @property {string} refused Why the kernel refused the last request (shown for a
 *   while), or "".
 */

/**
 * @typedef {object} Channel
 * @property {ChatModel} model The model object the channel listens on.
 * @property {Store} store
 * @property {UiState} ui
 * @property {() => void} connect Hydrate from the snapshot trait and start listening.
 * @property {() => void} disconnect Stop listening (idempotent).
 * @property {() => boolean} connected
 * @property {(text: string) => boolean} send
 *   Ask the kernel to send `text` (trimmed); false when it is blank, a turn is running,
 *   or a send is still waiting for the kernel's answer.
 * @property {() => void} stop Ask the kernel to stop the running turn.
 * @property {() => boolean} retry
 *   Ask the kernel to answer the last user message again; false when there is no
 *   reply to retry (see `retryTarget`) or a send/retry still waits for its answer.
 * @property {() => boolean} loadOlder Ask for the page of messages before the first one
 *   the store holds; false when there are none, a request is pending, or the store
 *   holds {@link MAX_LOADED} messages already.
 * @property {() => void} viewOpened Call when a view is created (may request a sync).
 * @property {() => boolean} syncPending
 * @property {(text: string) => boolean} queue Keep `text` to send when the running reply
 *   ends (replacing one queued before); false when it is blank.
 * @property {() => void} unqueue Drop the queued message.
 * @property {(listener: () => void) => () => void} subscribeUi Called when `ui.queued`,
 *   `ui.gone` or `ui.refused` changed; returns the unsubscribe function.
 * @property {(text: string) => boolean} edit Ask the kernel to replace the last user
 *   message with `text` and answer it anew; false when there is none to edit (see
 *   `editTarget`), `text` is blank, or a turn was asked for and not answered yet.
 * @property {(action: "new" | "clear" | "undo") => boolean} act Ask for `chat.new()`,
 *   `chat.clear()` or `chat.undo()`; false while a reply streams.
 * @property {(model: string) => boolean} pickModel Answer with `model` from the next turn.
 * @property {(name: string) => boolean} openConversation Show conversation `name` here.
 * @property {() => Promise<ConversationList>} listConversations The history's
 *   conversations (rejects with the kernel's reason, or when it does not answer).
 * @property {(name: string) => Promise<ConversationList>} deleteConversation Delete one
 *   and get the list without it.
 * @property {(format: string) => Promise<ExportFile>} exportAs The conversation as a file.
 * @property {(callId: string, approved: boolean) => void} decide Approve or deny a tool
 *   call that waits for it.
 */

/** @typedef {import("./types.js").ConversationList} ConversationList */
/** @typedef {import("./types.js").ExportFile} ExportFile */

/**
 * @typedef {object} ChannelOptions
 * @property {() => number} [now] Clock in ms (injected for tests).
 * @property {number} [syncRetryMs] After this long, a new gap may ask again.
 * @property {number} [sendLatchMs] How long a send or retry blocks another one while
 *   no snapshot has arrived (guards against a double Enter starting two turns).
 * @property {number} [answerMs] How long a request waits for the kernel's answer.
 * @property {number} [refusedMs] How long `ui.refused` stays.
 */

/**
 * The most messages a store loads by paging back: what is on screen stays bounded.
 * Older ones are in the kernel's history (and `chat.messages`).
 */
export const MAX_LOADED = 1000;

/**
 * @param {ChatModel} model
 * @param {ChannelOptions} [options]
 * @returns {Channel}
 */
export function createChannel(model, options = {}) {
  const now = options.now ?? (() => Date.now());
  const syncRetryMs = options.syncRetryMs ?? 5000;
  const sendLatchMs = options.sendLatchMs ?? 5000;
  const answerMs = options.answerMs ?? 15000;
  const refusedMs = options.refusedMs ?? 8000;
  const store = createStore();
  /** @type {UiState} */
  const ui = { draft: "", focused: false, queued: "", gone: "", refused: "" };
  /**
   * Requests waiting for the kernel's answer, by the type of the answer.
   *
   * @type {Map<string, Array<{resolve: (value: any) => void, reject: (error: Error) => void}>>}
   */
  const waiting = new Map();
  /** @type {ReturnType<typeof setTimeout> | undefined} */
  let refusedTimer;
  /** @type {Set<() => void>} */
  const uiListeners = new Set();
  /** @type {import("./kernel_watch.js").KernelWatch | null} */
  let watch = null;
  let isConnected = false;
  /** @type {number | null} */
  let syncRequestedAt = null;
  /** @type {number | null} */
  let sendRequestedAt = null;
  let openedOnce = false;
  /** @type {string | null} the message a page request was sent before */
  let pageRequested = null;
  /** @type {number} when it was sent (a lost answer may be asked for again later) */
  let pageRequestedAt = 0;

  function onSnapshot() {
    syncRequestedAt = null;
    sendRequestedAt = null;
    pageRequested = null;
    store.applySnapshot(model.get("snapshot"));
  }

  function onHead() {
    // A phase change answers a send or retry (the turn started, or was refused).
    sendRequestedAt = null;
    if (store.applyHead(model.get("head")) === "gap") requestSync();
    sendQueued();
  }

  function uiChanged() {
    for (const listener of [...uiListeners]) listener();
  }

  /** @param {string} why */
  function markGone(why) {
    if (ui.gone) return;
    ui.gone = why;
    uiChanged();
  }

  /**
   * Send to the kernel; false (and the channel marked gone) when the comm is dead.
   *
   * @param {import("./types.js").ViewRequest} content
   */
  function post(content) {
    if (ui.gone) return false;
    try {
      model.send(content);
      return true;
    } catch (error) {
      if (watch) watch.failed(error);
      else markGone("the kernel cannot be reached");
      return false;
    }
  }

  /** The reply ended: the message queued meanwhile goes now. */
  function sendQueued() {
    if (!ui.queued || isLive(store.getState().phase) || turnRequested()) return;
    const text = ui.queued;
    ui.queued = "";
    sendRequestedAt = now();
    post({ type: "send", text });
    uiChanged();
  }

  /** Whether a send or retry was requested and no snapshot has answered it yet. */
  function turnRequested() {
    return sendRequestedAt !== null && now() - sendRequestedAt < sendLatchMs;
  }

  /** @param {unknown} msg */
  function onCustom(msg) {
    if (typeof msg !== "object" || msg === null) return;
    const type = /** @type {{type?: unknown}} */ (msg).type;
    if (type === "batch") {
      if (store.applyBatch(msg) === "gap") requestSync();
    } else if (type === "page") {
      pageRequested = null;
      store.applyPage(msg);
    } else if (type === "conversations" || type === "export") {
      waiting.get(type)?.shift()?.resolve(msg);
    } else if (type === "refused") {
      const message = String(/** @type {{message?: unknown}} */ (msg).message ?? "");
      sendRequestedAt = null;
      settleAll(new Error(message));
      refuse(message);
    }
  }

  /** @param {string} message Show why a request was not done, for a while. */
  function refuse(message) {
    ui.refused = message;
    clearTimeout(refusedTimer);
    refusedTimer = setTimeout(() => {
      ui.refused = "";
      uiChanged();
    }, refusedMs);
    uiChanged();
  }

  /** @param {Error} error Reject every request still waiting. */
  function settleAll(error) {
    for (const list of waiting.values()) for (const entry of list.splice(0)) entry.reject(error);
  }

  /**
   * Post `content` and wait for the kernel's answer of type `answer`.
   *
   * @template T
   * @param {import("./types.js").ViewRequest} content
   * @param {string} answer
   * @returns {Promise<T>}
   */
  function ask(content, answer) {
    return new Promise((resolve, reject) => {
      const list = waiting.get(answer) ?? [];
      waiting.set(answer, list);
      const entry = {
        /** @param {any} value */
        resolve(value) {
          clearTimeout(timer);
          resolve(value);
        },
        /** @param {Error} error */
        reject(error) {
          clearTimeout(timer);
          reject(error);
        },
      };
      const timer = setTimeout(() => {
        const at = list.indexOf(entry);
        if (at >= 0) list.splice(at, 1);
        refuse("the kernel did not answer");
        reject(new Error("the kernel did not answer"));
      }, answerMs);
      list.push(entry);
      if (!post(content)) {
        list.splice(list.indexOf(entry), 1);
        entry.reject(new Error(ui.gone || "the kernel cannot be reached"));
      }
    });
  }

  function requestSync() {
    const t = now();
    if (syncRequestedAt !== null && t - syncRequestedAt < syncRetryMs) return;
    syncRequestedAt = t;
    post({ type: "sync" });
  }

  return {
    model,
    store,
    ui,
    connect() {
      if (isConnected) return;
      isConnected = true;
      // Batches sent while nobody listened are gone: the next view checks the phase.
      openedOnce = false;
      model.on("change:snapshot", onSnapshot);
      model.on("change:head", onHead);
      model.on("msg:custom", onCustom);
      watch = watchKernel(model, markGone);
      store.applySnapshot(model.get("snapshot"));
      if (store.applyHead(model.get("head")) === "gap") requestSync();
    },
    disconnect() {
      if (!isConnected) return;
      isConnected = false;
      model.off("change:snapshot", onSnapshot);
      model.off("change:head", onHead);
      model.off("msg:custom", onCustom);
      watch?.stop();
      watch = null;
      settleAll(new Error("the widget was closed"));
      clearTimeout(refusedTimer);
    },
    connected: () => isConnected,
    send(text) {
      const trimmed = text.trim();
      if (!trimmed || isLive(store.getState().phase)) return false;
      if (turnRequested()) return false;
      sendRequestedAt = now();
      return post({ type: "send", text: trimmed });
    },
    retry() {
      if (!retryTarget(store.getState()) || turnRequested()) return false;
      sendRequestedAt = now();
      return post({ type: "retry" });
    },
    stop() {
      post({ type: "stop" });
    },
    loadOlder() {
      const { messages, offset } = store.getState();
      const first = messages[0];
      if (!first || offset === 0 || messages.length >= MAX_LOADED) return false;
      if (pageRequested === first.id && now() - pageRequestedAt < syncRetryMs) return false;
      pageRequested = first.id;
      pageRequestedAt = now();
      return post({ type: "page", before: first.id });
    },
    viewOpened() {
      if (openedOnce) return;
      openedOnce = true;
      if (isLive(store.getState().phase)) requestSync();
    },
    syncPending: () => syncRequestedAt !== null,
    queue(text) {
      const trimmed = text.trim();
      if (!trimmed || ui.gone) return false;
      ui.queued = trimmed;
      uiChanged();
      sendQueued(); // the reply may have ended meanwhile
      return true;
    },
    unqueue() {
      if (!ui.queued) return;
      ui.queued = "";
      uiChanged();
    },
    edit(text) {
      const trimmed = text.trim();
      if (!trimmed || !editTarget(store.getState()) || turnRequested()) return false;
      sendRequestedAt = now();
      return post({ type: "edit", text: trimmed });
    },
    act(action) {
      if (isLive(store.getState().phase)) return false;
      return post({ type: action });
    },
    pickModel(name) {
      return post({ type: "model", model: name });
    },
    openConversation(name) {
      if (isLive(store.getState().phase)) return false;
      return post({ type: "open", name });
    },
    listConversations() {
      return ask({ type: "conversations" }, "conversations");
    },
    deleteConversation(name) {
      return ask({ type: "delete", name }, "conversations");
    },
    exportAs(format) {
      return ask({ type: "export", format }, "export");
    },
    decide(callId, approved) {
      post({ type: "approve", id: callId, approved });
    },
    subscribeUi(listener) {
      uiListeners.add(listener);
      return () => {
        uiListeners.delete(listener);
      };
    },
  };
}
