"""Loop bar benchmark: ``nbchat.progress`` against a bare loop and tqdm.notebook, in a
real Jupyter kernel.

A fresh ``python3`` kernel (``NBCHAT_DATA_DIR`` in a temporary folder, so the user's
history is untouched) runs every variant in an execute request of its own; this
process is the kernel's client and reads what the kernel publishes on iopub while
the cell runs, as a browser would. In the same run:

* per-step cost of a tight loop of 1,000,000 steps whose body is ``pass``: the bare
  loop (the baseline), ``for x in nbchat.progress(range(N))``, ``for x in
  tqdm.notebook.tqdm(range(N))``, and the ``update()`` form of each (``with ... as
  bar: for _ in range(N): bar.update()``). Each loop is a function defined in the
  kernel (so the loop variable is a local), timed from making the bar to its end:
  the bar's creation and display are in the figure. The least of 5 rounds, the
  variants interleaved in a rotating order, ``gc.collect()`` before each;
* the widget messages each bar makes the kernel send: ``comm_msg`` (state updates)
  and ``comm_open`` (new widget models) on iopub, counted and sized (the JSON of the
  content plus any binary buffers), for the tight loops and for a slow loop (2,000
  steps of ``time.sleep(0.001)``, about 2.3 s) where messages per second mean
  something;
* that updates are live: in the slow loop, the client must receive a mid-loop update
  (0 < n < total) before the loop ends in the kernel, and the last nbchat update
  must say ``done`` with n == total.

How to read it: "over bare" is the bar's own cost per step (ns); "nbchat/tqdm" below
1.0 means nbchat's loop bar costs less than tqdm's notebook bar (the goal). "msgs/s"
and "KB" are what the bar puts on the wire to the browser; both bars redraw about 10
times a second (0.1 s), but a tqdm redraw sets several widgets, a message each. The
live check prints the first and last update's arrival relative to the loop's start
and to the execute_reply. Exit status 1 means a real failure (an error in the kernel,
a timeout, no live update, a wrong final state), not a missed goal. Run:
``.venv/bin/python bench/progress_loop.py``.
"""

from __future__ import annotations

import ast
import json
import os
import queue
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import zmq
from jupyter_client.blocking.client import BlockingKernelClient
from jupyter_client.manager import KernelManager, start_new_kernel

REPO = Path(__file__).resolve().parents[1]
N = 1_000_000
ROUNDS = 5
SLOW_N = 2_000
SLOW_SLEEP_S = 0.001
CELL_TIMEOUT_S = 60.0

TIGHT = ["bare", "nbchat_iter", "tqdm_iter", "nbchat_update", "tqdm_update"]
SLOW = ["nbchat_slow", "tqdm_slow"]
LABELS = {
    "bare": "bare for loop",
    "nbchat_iter": "nbchat.progress(it)",
    "tqdm_iter": "tqdm.notebook(it)",
    "nbchat_update": "nbchat bar.update()",
    "tqdm_update": "tqdm pbar.update()",
    "nbchat_slow": "nbchat.progress(it)",
    "tqdm_slow": "tqdm.notebook(it)",
}

# Defined once in the kernel; each variant returns (ns for the loop, bar.updates).
KERNEL_SETUP = f"""
import gc, sys, time
sys.path.insert(0, {str(REPO)!r})
import nbchat
from tqdm.notebook import tqdm as tqdm_notebook

def bare(n):
    t = time.perf_counter_ns()
    for x in range(n):
        pass
    return time.perf_counter_ns() - t, None

def nbchat_iter(n):
    t = time.perf_counter_ns()
    bar = nbchat.progress(range(n))
    for x in bar:
        pass
    return time.perf_counter_ns() - t, bar.updates

def tqdm_iter(n):
    t = time.perf_counter_ns()
    for x in tqdm_notebook(range(n)):
        pass
    return time.perf_counter_ns() - t, None

def nbchat_update(n):
    t = time.perf_counter_ns()
    with nbchat.progress(total=n) as bar:
        for _ in range(n):
            bar.update()
    return time.perf_counter_ns() - t, bar.updates

def tqdm_update(n):
    t = time.perf_counter_ns()
    with tqdm_notebook(total=n) as pbar:
        for _ in range(n):
            pbar.update()
    return time.perf_counter_ns() - t, None

def nbchat_slow(n):
    t = time.perf_counter_ns()
    bar = nbchat.progress(range(n))
    for x in bar:
        time.sleep({SLOW_SLEEP_S})
    return time.perf_counter_ns() - t, bar.updates

def tqdm_slow(n):
    t = time.perf_counter_ns()
    for x in tqdm_notebook(range(n)):
        time.sleep({SLOW_SLEEP_S})
    return time.perf_counter_ns() - t, None

def run(variant, n):
    gc.collect()
    start = time.time()
    ns, updates = globals()[variant](n)
    return {{"ns": ns, "start": start, "end": time.time(), "updates": updates}}

_result = None
"""


class BenchError(Exception):
    """A real failure: the kernel erred, timed out, or a bar misbehaved."""


@dataclass
class Received:
    at: float  # time.time() when this client received it
    msg_type: str
    content: dict[str, Any]
    size: int  # bytes: the content's JSON plus binary buffers


@dataclass
class Cell:
    result: dict[str, Any]
    messages: list[Received]
    sent_at: float
    reply_at: float
    stderr: str

    def of(self, msg_type: str) -> list[Received]:
        return [m for m in self.messages if m.msg_type == msg_type]


@dataclass
class Runs:
    """One variant's runs: times and the widget traffic of each."""

    ns: list[int] = field(default_factory=list)
    cells: list[Cell] = field(default_factory=list)

    @property
    def best_ns(self) -> int:
        return min(self.ns)

    def median(self, msg_type: str, what: str) -> float:
        values = [
            len(c.of(msg_type)) if what == "count" else sum(m.size for m in c.of(msg_type))
            for c in self.cells
        ]
        return statistics.median(values)


class Kernel:
    """The client side of a kernel: run a cell, collect its iopub traffic and reply."""

    def __init__(self, client: BlockingKernelClient) -> None:
        self.client = client
        self.poller = zmq.Poller()
        self.iopub = client.iopub_channel
        self.shell = client.shell_channel
        self.poller.register(self.iopub.socket, zmq.POLLIN)
        self.poller.register(self.shell.socket, zmq.POLLIN)

    def run(self, code: str, timeout: float = CELL_TIMEOUT_S) -> Cell:
        msg_id = self.client.execute(code, store_history=False, user_expressions={"r": "_result"})
        sent_at = time.time()
        messages: list[Received] = []
        stderr: list[str] = []
        reply: dict[str, Any] | None = None
        reply_at = 0.0
        idle = False
        deadline = time.monotonic() + timeout
        while reply is None or not idle:
            left = deadline - time.monotonic()
            if left <= 0:
                raise BenchError(f"no reply within {timeout:.0f} s to:\n{code}")
            ready = dict(self.poller.poll(max(1, int(left * 1000))))
            if self.iopub.socket in ready:
                while True:
                    try:
                        msg = self.iopub.get_msg(timeout=0)
                    except queue.Empty:
                        break
                    at = time.time()
                    if msg["parent_header"].get("msg_id") != msg_id:
                        continue
                    kind, content = msg["msg_type"], msg["content"]
                    if kind == "status" and content.get("execution_state") == "idle":
                        idle = True
                    elif kind == "stream" and content.get("name") == "stderr":
                        stderr.append(content.get("text", ""))
                    messages.append(Received(at, kind, content, _size(msg)))
            if self.shell.socket in ready:
                try:
                    msg = self.shell.get_msg(timeout=0)
                except queue.Empty:
                    continue
                if msg["parent_header"].get("msg_id") == msg_id:
                    reply, reply_at = msg, time.time()
        content = reply["content"]
        if content["status"] != "ok":
            trace = "\n".join(content.get("traceback", []))
            raise BenchError(
                f"kernel error {content.get('ename')}: {content.get('evalue')}\n{trace}"
            )
        expression = content.get("user_expressions", {}).get("r", {})
        if expression.get("status") != "ok":
            raise BenchError(f"could not read the cell's result: {expression}")
        result = ast.literal_eval(expression["data"]["text/plain"])
        return Cell(result or {}, messages, sent_at, reply_at, "".join(stderr))

    def variant(self, name: str, n: int) -> Cell:
        cell = self.run(f"_result = run({name!r}, {n})")
        if cell.stderr.strip():
            print(f"  [{name}] stderr in the kernel: {cell.stderr.strip()[:500]}")
        return cell


def _size(msg: dict[str, Any]) -> int:
    text = json.dumps(msg["content"], ensure_ascii=False, default=str)
    return len(text.encode()) + sum(memoryview(b).nbytes for b in msg.get("buffers") or [])


def progress_of(message: Received) -> tuple[float, str] | None:
    """(steps done, state) that a comm_msg carries, when it carries a bar's progress:
    nbchat's ``bar`` trait, or the ``value`` of tqdm's progress widget."""
    state = message.content.get("data", {}).get("state", {})
    bar = state.get("bar")
    if isinstance(bar, dict) and isinstance(bar.get("count"), dict):
        return float(bar["count"]["n"]), str(bar.get("state"))
    value = state.get("value")
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value), ""
    return None


def check_final(name: str, cell: Cell, n: int) -> list[str]:
    """Problems with an nbchat bar's traffic: its last update must say done, n == total;
    every trait set the bar counted must have been sent."""
    problems = []
    updates = [(m, p) for m in cell.of("comm_msg") if (p := progress_of(m))]
    if not updates:
        return [f"{name}: no bar update on iopub at all"]
    done, state = updates[-1][1]
    if state != "done" or done != n:
        problems.append(f"{name}: last update says state={state!r} n={done:g}, not done {n}")
    if cell.result.get("updates") is not None and cell.result["updates"] < len(updates):
        problems.append(
            f"{name}: {len(updates)} bar updates on iopub, but bar.updates = "
            f"{cell.result['updates']}"
        )
    return problems


def liveness(name: str, cell: Cell, n: int) -> tuple[str, bool]:
    """When the mid-loop updates arrived, against the loop's start/end and the reply."""
    start, end = cell.result["start"], cell.result["end"]
    mids = [m for m in cell.of("comm_msg") if (p := progress_of(m)) and 0 < p[0] < n]
    if not mids:
        return f"  {LABELS[name]:<22} no mid-loop update arrived at all", False
    first, last = mids[0].at, mids[-1].at
    live = first < end and first < cell.reply_at
    return (
        f"  {LABELS[name]:<22} loop {end - start:4.2f} s; {len(mids):3d} mid-loop updates, "
        f"first at +{first - start:5.3f} s, last at +{last - start:5.3f} s "
        f"({cell.reply_at - last:5.3f} s before the execute_reply) -> "
        + ("live" if live else "NOT live: nothing before the loop ended"),
        live,
    )


def traffic_row(label: str, runs: Runs, seconds: float) -> str:
    msgs = runs.median("comm_msg", "count")
    msg_kb = runs.median("comm_msg", "bytes") / 1000
    opens = runs.median("comm_open", "count")
    open_kb = runs.median("comm_open", "bytes") / 1000
    rate = msgs / seconds if seconds > 0 else 0.0
    return (
        f"  {label:<22} {msgs:6.0f} {rate:8.1f} {msg_kb:8.1f} "
        f"{msg_kb * 1000 / msgs if msgs else 0:8.0f} {opens:6.0f} {open_kb:8.1f}"
    )


def measure(kernel: Kernel) -> int:
    kernel.run(KERNEL_SETUP)
    for name in TIGHT + SLOW:  # imports, first widgets, caches: not in the figures
        kernel.variant(name, 200 if name in SLOW else 1000)

    tight = {name: Runs() for name in TIGHT}
    for r in range(ROUNDS):
        order = TIGHT[r % len(TIGHT) :] + TIGHT[: r % len(TIGHT)]
        for name in order:
            cell = kernel.variant(name, N)
            tight[name].ns.append(cell.result["ns"])
            tight[name].cells.append(cell)
    slow = {name: Runs() for name in SLOW}
    for name in SLOW:
        cell = kernel.variant(name, SLOW_N)
        slow[name].ns.append(cell.result["ns"])
        slow[name].cells.append(cell)

    problems: list[str] = []
    for name in ("nbchat_iter", "nbchat_update"):
        for cell in tight[name].cells:
            problems += check_final(name, cell, N)
    problems += check_final("nbchat_slow", slow["nbchat_slow"].cells[0], SLOW_N)

    bare = tight["bare"].best_ns / N
    print(f"loop bars in a Jupyter kernel, {N:,} steps of `pass` (least of {ROUNDS} rounds)")
    print(f"  {'variant':<22} {'ns/step':>8} {'over bare':>10}")
    over: dict[str, float] = {}
    for name in TIGHT:
        per = tight[name].best_ns / N
        over[name] = per - bare
        extra = "" if name == "bare" else f"{over[name]:+10.1f}"
        print(f"  {LABELS[name]:<22} {per:8.1f} {extra:>10}")
    ratios = {}
    for form in ("iter", "update"):
        nb, tq = over[f"nbchat_{form}"], over[f"tqdm_{form}"]
        ratios[form] = max(nb, 0.0) / tq if tq > 0 else float("nan")
        whole = tight[f"nbchat_{form}"].best_ns / tight[f"tqdm_{form}"].best_ns
        print(
            f"  nbchat/tqdm, {form + ' form:':<13} overhead {ratios[form]:5.2f}   "
            f"whole loop {whole:5.2f}   (goal: overhead < 1.0)"
        )

    head = f"  {'variant':<22} {'msgs':>6} {'msgs/s':>8} {'msg KB':>8} {'B/msg':>8} "
    head += f"{'opens':>6} {'open KB':>8}"
    print(f"\nwidget traffic on iopub per run (median), tight loop of {N:,} steps")
    print(head)
    for name in TIGHT[1:]:
        seconds = statistics.median(tight[name].ns) / 1e9
        print(traffic_row(LABELS[name], tight[name], seconds))
    seconds = {name: slow[name].ns[0] / 1e9 for name in SLOW}
    print(f"\nwidget traffic, slow loop of {SLOW_N:,} steps of sleep({SLOW_SLEEP_S})")
    print(head)
    for name in SLOW:
        print(traffic_row(LABELS[name], slow[name], seconds[name]))
    nb_rate = slow["nbchat_slow"].median("comm_msg", "count") / seconds["nbchat_slow"]
    tq_rate = slow["tqdm_slow"].median("comm_msg", "count") / seconds["tqdm_slow"]
    nb_bytes = slow["nbchat_slow"].median("comm_msg", "bytes")
    tq_bytes = slow["tqdm_slow"].median("comm_msg", "bytes")
    print(
        f"  nbchat/tqdm: msgs/s {nb_rate / tq_rate if tq_rate else float('nan'):5.2f}   "
        f"msg bytes {nb_bytes / tq_bytes if tq_bytes else float('nan'):5.2f}"
    )
    nb_cell = slow["nbchat_slow"].cells[0]
    print(
        f"  nbchat's own count: bar.updates = {nb_cell.result['updates']}, "
        f"comm_msg on iopub = {len(nb_cell.of('comm_msg'))}"
    )

    print("\nlive updates while the cell runs (arrival at this client, slow loop)")
    live_ok = True
    for name in SLOW:
        line, live = liveness(name, slow[name].cells[0], SLOW_N)
        print(line)
        if name.startswith("nbchat") and not live:
            live_ok = False
            problems.append(f"{name}: no update reached the client while the loop ran")

    for problem in problems:
        print(f"FAILURE: {problem}")
    goals = ratios["iter"] < 1.0 and ratios["update"] < 1.0
    print(
        f"\nverdict: overhead nbchat/tqdm iter {ratios['iter']:.2f}, update "
        f"{ratios['update']:.2f} ({'goal met' if goals else 'goal MISSED'}: < 1.0); "
        f"{nb_rate:.1f} vs {tq_rate:.1f} msgs/s; updates "
        f"{'live during the cell' if live_ok else 'NOT live'}; "
        f"{'no failures' if not problems else f'{len(problems)} failure(s)'}"
    )
    return 1 if problems else 0


def main() -> int:
    with tempfile.TemporaryDirectory(prefix="nbchat-bench-") as data_dir:
        env = {**os.environ, "NBCHAT_DATA_DIR": data_dir, "PYDEVD_DISABLE_FILE_VALIDATION": "1"}
        log_path = Path(data_dir) / "kernel.log"  # the kernel's own stderr
        km: KernelManager | None = None
        client: BlockingKernelClient | None = None
        with log_path.open("w") as log:
            try:
                km, client = start_new_kernel(
                    kernel_name="python3", env=env, cwd=str(REPO), stderr=log
                )
                return measure(Kernel(client))
            except (BenchError, RuntimeError) as exc:
                print(f"FAILURE: {exc}", file=sys.stderr)
                tail = log_path.read_text()[-2000:].strip()
                if tail:
                    print(f"kernel stderr (tail):\n{tail}", file=sys.stderr)
                return 1
            finally:
                if client is not None:
                    client.stop_channels()
                if km is not None:
                    km.shutdown_kernel(now=True)


if __name__ == "__main__":
    sys.exit(main())
