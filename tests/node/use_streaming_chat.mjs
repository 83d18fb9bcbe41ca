// @ts-check
/**
 * Spec 000's `useStreamingChat` hook as its plan writes it (src/hooks/useStreamingChat.ts),
 * in plain JS. React's hooks and the app's two helpers (`useCreateCoachMessage`, the
 * `supabase` client) are handed in, so Node runs it against `nbchat serve` with nothing
 * else changed: the `fetchEventSource` call is the plan's, field by field, including its
 * `onerror` that returns (which the library takes as "retry").
 */
import { fetchEventSource } from "@microsoft/fetch-event-source";

/**
 * @param {{
 *   useState: <S>(initial: S) => [S, (value: S) => void],
 *   useRef: <R>(initial: R) => {current: R},
 *   useCallback: <F>(fn: F, deps?: unknown[]) => F,
 *   useEffect: (effect: () => unknown, deps?: unknown[]) => void,
 *   useCreateCoachMessage: () => {
 *     mutateAsync: (row: object) => Promise<unknown>,
 *     mutate: (row: object) => void,
 *   },
 *   supabase: {auth: {getSession: () => Promise<{data: {session: {access_token: string} | null}}>}},
 * }} deps
 */
export function makeUseStreamingChat(deps) {
  const { useState, useRef, useCallback, useEffect, useCreateCoachMessage, supabase } = deps;

  return function useStreamingChat() {
    const [streamingResponse, setStreamingResponse] = useState("");
    const [isStreaming, setIsStreaming] = useState(false);
    const [error, setError] = useState(/** @type {string | null} */ (null));
    const abortControllerRef = useRef(/** @type {AbortController | null} */ (null));
    const createMessage = useCreateCoachMessage();

    const sendMessage = useCallback(
      /** @param {string} message @param {unknown} patterns */
      async (message, patterns) => {
        if (!message.trim() || isStreaming) return;

        const abortController = new AbortController();
        abortControllerRef.current = abortController;
        setIsStreaming(true);
        setStreamingResponse("");
        setError(null);

        try {
          await createMessage.mutateAsync({
            role: "user",
            content: message,
            context: { patterns_data: patterns },
          });

          const {
            data: { session },
          } = await supabase.auth.getSession();
          if (!session) throw new Error("Not authenticated");

          let fullResponse = "";
          /** @type {string | null} */
          let streamError = null;

          await fetchEventSource("/functions/v1/openrouter-chat", {
            method: "POST",
            headers: {
              "Content-Type": "application/json",
              Authorization: `Bearer ${session.access_token}`,
            },
            body: JSON.stringify({ message, patterns_data: patterns }),
            signal: abortController.signal,
            onmessage(ev) {
              const data = JSON.parse(ev.data);
              if (data.content) {
                fullResponse += data.content;
                setStreamingResponse(fullResponse);
              }
              if (data.error) {
                streamError = data.error;
                setError(data.error);
              }
            },
            async onopen(response) {
              if (
                !response.ok ||
                response.headers.get("content-type") !== "text/event-stream"
              ) {
                throw new Error(`Failed to connect: ${response.status}`);
              }
            },
            onclose() {
              setIsStreaming(false);
              if (fullResponse && !streamError) {
                createMessage.mutate({ role: "assistant", content: fullResponse });
              }
            },
            onerror(err) {
              setIsStreaming(false);
              setError(err instanceof Error ? err.message : String(err));
              return; // the plan: "don't throw to prevent retry"
            },
          });
        } catch (err) {
          setError(err instanceof Error ? err.message : String(err));
          setIsStreaming(false);
        }
      },
      [isStreaming, createMessage],
    );

    const cleanup = useCallback(() => {
      abortControllerRef.current?.abort();
      abortControllerRef.current = null;
    }, []);

    useEffect(() => cleanup, [cleanup]);

    return { sendMessage, streamingResponse, isStreaming, error, cleanup };
  };
}
