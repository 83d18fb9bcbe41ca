// @ts-check
/**
 * Stick a scroll container to its bottom while content grows, unless the user
 * scrolled up; then offer a "new messages" button instead of yanking them down.
 *
 * Layout is read and written at most once per animation frame, however many
 * deltas arrive in it. Only the user unsticks it (a wheel, a touch, a key, the
 * scrollbar): a scroll the layout causes (content above settling its size) does not.
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

/** Input that scrolls: a scroll within this long after it is the user's. */
const USER_EVENTS = ["wheel", "touchmove", "keydown"];
const USER_SCROLL_MS = 600;

/** @param {() => void} callback */
function defaultSchedule(callback) {
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
  const schedule = options.schedule ?? defaultSchedule;
  const threshold = options.threshold ?? 16;
  let isStuck = true;
  let scheduled = false;
  let destroyed = false;
  let userUntil = 0; // a scroll before this time is the user's
  let pointerHeld = false;

  function userActs() {
    userUntil = Date.now() + USER_SCROLL_MS;
  }
  function pointerDown() {
    pointerHeld = true;
    userActs();
  }
  function pointerUp() {
    pointerHeld = false;
  }

  function atBottom() {
    return container.scrollHeight - container.scrollTop - container.clientHeight <= threshold;
  }

  function onScroll() {
    if (atBottom()) {
      isStuck = true;
      jump.hidden = true;
    } else if (pointerHeld || Date.now() < userUntil) {
      isStuck = false;
    } else if (isStuck) {
      schedule(flush); // the layout moved under us: back to the bottom next frame
    }
  }

  function scrollToBottom() {
    isStuck = true;
    jump.hidden = true;
    container.scrollTop = container.scrollHeight;
  }

  function flush() {
    scheduled = false;
    if (destroyed) return;
    if (isStuck) container.scrollTop = container.scrollHeight;
    else if (!atBottom()) jump.hidden = false;
  }

  function onJump() {
    scrollToBottom();
  }

  container.addEventListener("scroll", onScroll, { passive: true });
  for (const name of USER_EVENTS) container.addEventListener(name, userActs, { passive: true });
  container.addEventListener("pointerdown", pointerDown, { passive: true });
  container.ownerDocument.addEventListener("pointerup", pointerUp, { passive: true });
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
      for (const name of USER_EVENTS) container.removeEventListener(name, userActs);
      container.removeEventListener("pointerdown", pointerDown);
      container.ownerDocument.removeEventListener("pointerup", pointerUp);
      jump.removeEventListener("click", onJump);
    },
  };
}
