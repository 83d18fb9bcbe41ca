// @ts-check
/**
 * Runs spec 000's hook (use_streaming_chat.mjs) in Node against `nbchat serve` as a page
 * at NBCHAT_URL would, and prints one JSON line: what the hook showed and what the app
 * saved on its side.
 *
 *   NBCHAT_URL=http://127.0.0.1:PORT NBCHAT_TOKEN=... node spec000_hook.mjs reply "How do I read a CSV file?"
 *   ... node spec000_hook.mjs stop "..." 40     # Stop (cleanup) once 40 characters have arrived
 *   ... node spec000_hook.mjs hide "..." 40     # the tab hidden for 1 s once 40 have arrived
 */
import { page } from "./browser_shim.mjs";
import { renderHook } from "./react_shim.mjs";
import { makeUseStreamingChat } from "./use_streaming_chat.mjs";

const [mode = "reply", message = "Hello", stopAt = "40"] = process.argv.slice(2);

/** @type {object[]} */
const appSaved = [];
const useCreateCoachMessage = () => ({
  mutateAsync: async (/** @type {object} */ row) => void appSaved.push(row),
  mutate: (/** @type {object} */ row) => void appSaved.push(row),
});
const supabase = {
  auth: {
    getSession: async () => ({
      data: { session: { access_token: process.env.NBCHAT_TOKEN ?? "" } },
    }),
  },
};

const hook = renderHook((react) =>
  makeUseStreamingChat({ ...react, useCreateCoachMessage, supabase })(),
);
const sending = hook.current.sendMessage(message, { streak: 3, mood: "curious" });
/** @param {number} ms */
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
let stoppedAt = null;
if (mode === "stop" || mode === "hide") {
  const deadline = Date.now() + 20_000;
  while (hook.current.streamingResponse.length < Number(stopAt) && Date.now() < deadline) {
    await sleep(5);
  }
  stoppedAt = hook.current.streamingResponse;
  if (mode === "stop") {
    hook.current.cleanup();
  } else {
    page.setHidden(true); // the library closes the request while the page is hidden
    await sleep(1000);
    page.setHidden(false); // ...and opens it again, with Last-Event-ID
  }
}
await sending;
const { streamingResponse, isStreaming, error } = hook.current;
console.log(JSON.stringify({ streamingResponse, isStreaming, error, appSaved, stoppedAt }));
