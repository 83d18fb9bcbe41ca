// @ts-check
/**
 * What `useChat` runs, without React: the AI SDK's `AbstractChat` over a plain state and
 * its `DefaultChatTransport`, against `nbchat serve`'s `/api/chat`. `@ai-sdk/react`'s
 * `Chat` is this class over React state. Prints one JSON line: the chat's status, error
 * and each message's role and text.
 *
 *   NBCHAT_URL=... NBCHAT_TOKEN=... node ai_sdk_chat.mjs reply "first" "second"
 *   ... node ai_sdk_chat.mjs stop "a long one" 40    # chat.stop() once 40 characters arrived
 */
import { AbstractChat, DefaultChatTransport } from "ai";

/** @typedef {import("ai").UIMessage} UIMessage */
/** @typedef {import("ai").ChatState<UIMessage>} ChatState */

/** @implements {ChatState} */
class PlainState {
  /** @type {import("ai").ChatStatus} */
  status = "ready";
  /** @type {Error | undefined} */
  error = undefined;
  /** @type {UIMessage[]} */
  messages = [];
  /** @param {UIMessage} message */
  pushMessage = (message) => void this.messages.push(message);
  popMessage = () => void this.messages.pop();
  /** @param {number} index @param {UIMessage} message */
  replaceMessage = (index, message) => void (this.messages[index] = message);
  /** @template T @param {T} thing @returns {T} */
  snapshot = (thing) => structuredClone(thing);
}

/** @extends {AbstractChat<UIMessage>} */
class NodeChat extends AbstractChat {
  constructor() {
    super({
      state: new PlainState(),
      transport: new DefaultChatTransport({
        api: `${process.env.NBCHAT_URL}/api/chat`,
        headers: { Authorization: `Bearer ${process.env.NBCHAT_TOKEN ?? "unused"}` },
      }),
    });
  }
}

/** @param {UIMessage} message */
const textOf = (message) =>
  message.parts.map((part) => (part.type === "text" ? part.text : "")).join("");

const [mode, ...rest] = process.argv.slice(2);
const chat = new NodeChat();
if (mode === "stop") {
  const [prompt, stopAt = "40"] = rest;
  const sending = chat.sendMessage({ text: prompt });
  const deadline = Date.now() + 20_000;
  const shown = () => (chat.lastMessage?.role === "assistant" ? textOf(chat.lastMessage) : "");
  while (shown().length < Number(stopAt) && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
  await chat.stop();
  await sending;
} else {
  for (const prompt of rest) await chat.sendMessage({ text: prompt });
}
console.log(
  JSON.stringify({
    status: chat.status,
    error: chat.error?.message ?? null,
    messages: chat.messages.map((m) => ({ role: m.role, text: textOf(m) })),
  }),
);
