// @ts-check
/**
 * Stick a scroll container to its bottom while content grows, unless the user
 * scrolled up; then offer a "new messages" button instead of yanking them down.
 *
 * Layout is read and written at most once per animation frame, however many
 * deltas arrive in it.
 *
 * @module
 */

/**
 * @typedef {object} AutoScroll
 * @property {() => void} contentChanged Call after content was added or changed.
 * @property {() => void} scrollToBottom Scroll down and stick again.
 * @property {() => boolean} stuck
 * @property {() => void} destroy
 */

/**
 * @typedef {object} AutoScrollOptions
 * @property {(callback: () => void) => void} [schedule] Run a callback before the next
 *   paint (default requestAnimationFrame; tests pass a synchronous one).
 * @property {number} [threshold] Distance in px from the bottom that still counts as
 *   "at the bottom".
 */

/**
 * Run `callback` before the next paint (a timer where there are no animation frames).
 *
 * @param {() => void} callback
 */
export function nextFrame(callback) {
  if (typeof requestAnimationFrame === "function") requestAnimationFrame(() => callback());
  else setTimeout(callback, 16);
}

/**
 * @param {HTMLElement} container The scrolling element.
 * @param {HTMLElement} jump The button shown while the user is scrolled up and
 *   new content has arrived; hidden with the `hidden` attribute otherwise.
 * @param {AutoScrollOptions} [options]
 * @returns {AutoScroll}
 */
export function createAutoScroll(container, jump, options = {}) {
  const schedule = options.schedule ?? nextFrame;
  const threshold = options.threshold ?? 16;
  let isStuck = true;
  let scheduled = false;
  let destroyed = false;
  // Where nbchat itself last scrolled to. Its scroll event comes a frame later, when
  // more text may have made the content taller: that event is not the user leaving.
  let ownTop = -1;

  function atBottom() {
    return container.scrollHeight - container.scrollTop - container.clientHeight <= threshold;
  }

  function onScroll() {
    if (container.scrollTop === ownTop) return;
    isStuck = atBottom();
    if (isStuck) jump.hidden = true;
  }

  function scrollToBottom() {
    isStuck = true;
    jump.hidden = true;
    container.scrollTop = container.scrollHeight;
    ownTop = container.scrollTop;
  }

  function flush() {
    scheduled = false;
    if (destroyed) return;
    if (isStuck) {
      container.scrollTop = container.scrollHeight;
      ownTop = container.scrollTop;
    } else if (!atBottom()) jump.hidden = false;
  }

  function onJump() {
    scrollToBottom();
  }

  container.addEventListener("scroll", onScroll, { passive: true });
  jump.addEventListener("click", onJump);

  return {
    contentChanged() {
      if (scheduled || destroyed) return;
      scheduled = true;
      schedule(flush);
    },
    scrollToBottom,
    stuck: () => isStuck,
    destroy() {
      destroyed = true;
      container.removeEventListener("scroll", onScroll);
      jump.removeEventListener("click", onJump);
    },
  };
}
