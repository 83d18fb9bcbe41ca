// @ts-check
/**
 * Just enough of React's hooks to run a hook outside a component: state slots in call
 * order, a re-render on every state change, `result.current` holding the latest return
 * value. Effects are not run (the hooks under test only clean up in theirs).
 */

/**
 * @template T
 * @param {(react: {
 *   useState: <S>(initial: S) => [S, (value: S | ((prev: S) => S)) => void],
 *   useRef: <R>(initial: R) => {current: R},
 *   useCallback: <F>(fn: F, deps?: unknown[]) => F,
 *   useEffect: (effect: () => unknown, deps?: unknown[]) => void,
 * }) => T} hook
 * @returns {{current: T}}
 */
export function renderHook(hook) {
  /** @type {unknown[]} */
  const slots = [];
  let index = 0;
  /** @type {{current: T}} */
  const result = /** @type {any} */ ({ current: undefined });
  const react = {
    /** @template S @param {S} initial @returns {[S, (value: S | ((prev: S) => S)) => void]} */
    useState(initial) {
      const i = index++;
      if (!(i in slots)) slots[i] = initial;
      const set = (/** @type {any} */ value) => {
        slots[i] = typeof value === "function" ? value(slots[i]) : value;
        render();
      };
      return [/** @type {S} */ (slots[i]), set];
    },
    /** @template R @param {R} initial @returns {{current: R}} */
    useRef(initial) {
      const i = index++;
      if (!(i in slots)) slots[i] = { current: initial };
      return /** @type {{current: R}} */ (slots[i]);
    },
    /** @template F @param {F} fn @returns {F} */
    useCallback(fn) {
      index++;
      return fn;
    },
    useEffect() {
      index++;
    },
  };
  function render() {
    index = 0;
    result.current = hook(react);
  }
  render();
  return result;
}
