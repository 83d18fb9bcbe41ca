// @ts-nocheck
// In-page half of bench/render_stream.py: installs window.bench (stream, once).
/** Long tasks from now on: their durations, and the observer to disconnect. */
function longTasks() {
  const tasks = [];
  const observer = new PerformanceObserver((list) => {
    for (const e of list.getEntries()) tasks.push(e.duration);
  });
  observer.observe({ type: "longtask" });
  return { tasks, observer };
}

window.bench = {
  stream: async ([pieces, perBatch, batchMs]) => {
  const nb = window.nb;
  const id = "a1";
  nb.mount(nb.snapshot({ phase: "streaming", messages: [nb.message(id, "assistant", "", { status: "streaming" })] }));
  await nb.frame(); await nb.frame();  // the mount's own work is not the stream's
  const { tasks, observer } = longTasks();
  const frames = [];
  let last = performance.now();
  let running = true;
  const tick = (now) => { frames.push(now - last); last = now; if (running) requestAnimationFrame(tick); };
  requestAnimationFrame(tick);
  const started = performance.now();
  let seq = 0;
  for (let at = 0; at < pieces.length; at += perBatch) {
    seq += 1;
    nb.custom(nb.batch(seq, [[id, pieces.slice(at, at + perBatch).join("")]]));
    await new Promise((resolve) => setTimeout(resolve, batchMs));
  }
  nb.setSnapshot(nb.snapshot({ seq, phase: "done", messages: [nb.message(id, "assistant", pieces.join(""))] }));
  await nb.frame(); await nb.frame();
  running = false;
  await new Promise((resolve) => setTimeout(resolve, 100));
  observer.disconnect();
  const shown = document.querySelector('.nbchat-message[data-id="a1"] .nbchat-content').textContent.length;
  return { tasks, frames, elapsed: performance.now() - started, shown };
},
  // The baseline: the whole reply rendered in one go (a view opened on a reply whose
  // text is all there: the first render takes it all at once).
  once: async (text) => {
    const nb = window.nb;
    const { tasks, observer } = longTasks();
    const started = performance.now();
    nb.mount(nb.snapshot({ phase: "streaming", messages: [nb.message("a1", "assistant", text, { status: "streaming" })] }));
    await nb.frame();
    const elapsed = performance.now() - started;
    await new Promise((resolve) => setTimeout(resolve, 100));
    observer.disconnect();
    return { tasks, elapsed };
  },
  // The same reply as history (finished): rendered in slices until its last block shows.
  history: async (text) => {
    const nb = window.nb;
    const { tasks, observer } = longTasks();
    const started = performance.now();
    nb.mount(nb.snapshot({ phase: "done", messages: [nb.message("a1", "assistant", text)] }));
    const tail = () => document.querySelector('.nbchat-message[data-id="a1"] .nbchat-tail');
    while (!tail() || !tail().childElementCount) await nb.frame();
    const elapsed = performance.now() - started;
    await new Promise((resolve) => setTimeout(resolve, 100));
    observer.disconnect();
    return { tasks, elapsed };
  },
};
