// @ts-check
/**
 * Knowing that a widget's kernel is gone (restarted, shut down, crashed, changed), so a
 * view can say so instead of looking alive. Measured in JupyterLab 4.6 and Notebook 7.6
 * (jupyterlab-manager 3.0.x, anywidget 0.11), four signals are needed together:
 *
 * - `comm_live_update` on the model: ipywidgets flips `comm_live` to false when the
 *   kernel restarts (4 ms) or crashes and is restarted (~1.6 s). anywidget's model proxy
 *   passes the event through; the listener's `this` is the Backbone view context, so
 *   `comm_live` is read from there when it can be.
 * - `comm:close`: Python closed the widget.
 * - the manager's kernel connection (`model.widget_manager.kernel`, Lab and Notebook 7):
 *   a shutdown or a kernel change leaves `comm_live` alone, but the connection's status
 *   turns `dead` or it is disposed (130-230 ms).
 * - `model.send()` throws "Cannot send" on a dead comm, also for a view made for a model
 *   that is already dead: callers report that through {@link KernelWatch.failed}.
 *
 * @module
 */

/**
 * @typedef {object} KernelSignal
 * @property {(slot: (sender: unknown, status: string) => void) => boolean} connect
 * @property {(slot: (sender: unknown, status: string) => void) => boolean} disconnect
 */

/**
 * @typedef {object} KernelConnection
 * @property {string} [status]
 * @property {boolean} [isDisposed]
 * @property {KernelSignal} [statusChanged]
 * @property {KernelSignal} [disposed]
 */

/**
 * @typedef {object} KernelWatch
 * @property {() => void} stop Stop listening.
 * @property {(error: unknown) => void} failed A send threw: the comm is dead.
 */

const GONE_STATUSES = new Set(["dead", "restarting", "autorestarting"]);

/**
 * Call `onGone(why)` once when the model's kernel is gone.
 *
 * @param {{on: Function, off: Function}} model anywidget's model (its `widget_manager`,
 *   where the front end has one, is read for the kernel connection)
 * @param {(why: string) => void} onGone
 * @returns {KernelWatch}
 */
export function watchKernel(model, onGone) {
  let gone = false;
  /** @param {string} why */
  const die = (why) => {
    if (gone) return;
    gone = true;
    onGone(why);
  };
  /** @this {{comm_live?: boolean, model?: {comm_live?: boolean}} | undefined} */
  function onLive() {
    // `this` is Backbone's context: the model, or the view anywidget registered with.
    // ipywidgets triggers the event when the comm goes down (it sets it live quietly).
    const live = this?.comm_live ?? this?.model?.comm_live;
    if (live !== true) die("the kernel restarted");
  }
  const onClose = () => die("the widget was closed");
  model.on("comm_live_update", onLive);
  model.on("comm:close", onClose);

  const manager = /** @type {{widget_manager?: {kernel?: KernelConnection}}} */ (model).widget_manager;
  const kernel = manager?.kernel;
  /** @param {unknown} _sender @param {string} status */
  const onStatus = (_sender, status) => {
    if (GONE_STATUSES.has(status)) die(status === "dead" ? "the kernel stopped" : "the kernel restarted");
  };
  const onDisposed = () => die("the kernel was shut down");
  if (kernel?.statusChanged && kernel.disposed) {
    kernel.statusChanged.connect(onStatus);
    kernel.disposed.connect(onDisposed);
    if (kernel.isDisposed || kernel.status === "dead") die("the kernel is not running");
  }
  return {
    stop() {
      model.off("comm_live_update", onLive);
      model.off("comm:close", onClose);
      kernel?.statusChanged?.disconnect(onStatus);
      kernel?.disposed?.disconnect(onDisposed);
    },
    failed(error) {
      die(`the kernel cannot be reached (${error instanceof Error ? error.message : String(error)})`);
    },
  };
}
