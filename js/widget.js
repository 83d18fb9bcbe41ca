// @ts-check
/**
 * The anywidget entry point of nbchat's chat widget.
 *
 * One {@link Channel} (store + listeners + draft) per widget model, shared by all of
 * its views. Finding "the same model" is the subtle part: anywidget 0.11 hands
 * `initialize` and every `render` a *different* proxy object for one model
 * (`modelProxy(model, context)`, so it can drop each caller's listeners by context),
 * and does not expose the model id. What the proxies do share is the model's
 * attributes: `get("snapshot")` returns the very same object through every proxy of
 * one model, and distinct models never share it (each deserialises its own state).
 * So `render` looks its channel up by that object, falling back to object identity
 * (hosts or tests that pass one object), and to a channel of its own if a host never
 * called `initialize`.
 *
 * @module
 */

import "./theme.css";
import "./styles.css";
import "./controls.css";
import "./bar.css";
import "./markdown.css";
import { createChannel } from "./channel.js";
import { hideWhileLive } from "./dom.js";
import { createView } from "./view.js";

/** @typedef {import("./types.js").ChatModel} ChatModel */
/** @typedef {import("./channel.js").Channel} Channel */

/** Channels made by `initialize`, alive until the model (or this module) goes away. */
const channels = new Set();
/** @type {WeakMap<object, Channel>} */
const byModel = new WeakMap();
/** Channels made by `render` itself (no `initialize` ran), and how many views use each. */
/** @type {WeakMap<Channel, number>} */
const viewOwned = new WeakMap();

/**
 * @param {ChatModel} model
 * @returns {Channel | undefined}
 */
function findChannel(model) {
  const direct = byModel.get(model);
  if (direct) return direct;
  const snapshot = model.get("snapshot");
  if (typeof snapshot !== "object" || snapshot === null) return undefined;
  for (const channel of channels) {
    if (channel.model.get("snapshot") === snapshot) return channel;
  }
  return undefined;
}

/**
 * @param {{model: ChatModel}} props
 * @returns {() => void}
 */
function initialize({ model }) {
  const channel = createChannel(model);
  channels.add(channel);
  byModel.set(model, channel);
  channel.connect();
  return () => {
    channel.disconnect();
    channels.delete(channel);
    byModel.delete(model);
  };
}

/**
 * @param {{model: ChatModel, el: HTMLElement, signal?: AbortSignal}} props
 * @returns {() => void}
 */
function render({ model, el, signal }) {
  let channel = findChannel(model);
  if (!channel) {
    // No `initialize` ran for this model: its views own the channel, and the last
    // one to close disconnects it (the draft stays with it for the next view).
    channel = createChannel(model);
    byModel.set(model, channel);
    viewOwned.set(channel, 0);
  }
  const owned = channel;
  const own = viewOwned.has(owned);
  if (own) {
    viewOwned.set(owned, (viewOwned.get(owned) ?? 0) + 1);
    owned.connect();
  }
  const destroyView = createView(el, owned);
  const hider = hideWhileLive(el, "data-nbchat-transcript", model.get("transcript_id"));
  owned.viewOpened();

  let done = false;
  function cleanup() {
    if (done) return;
    done = true;
    signal?.removeEventListener("abort", cleanup);
    destroyView();
    hider?.remove();
    if (own) {
      const left = (viewOwned.get(owned) ?? 1) - 1;
      viewOwned.set(owned, left);
      if (left === 0) owned.disconnect();
    }
  }
  signal?.addEventListener("abort", cleanup);
  return cleanup;
}

/** @satisfies {import("@anywidget/types").AnyWidget} */
const widget = { initialize, render };
export default widget;
