"""``nbchat.Progress`` against a misbehaving spec 004 job server (tests/job_server.py).

The rule under test throughout: a job's POST starts work on the server, so nbchat
never sends it twice (not after a drop, a silence, a clean end without a result, an
error); a dropped stream with ids is re-opened only through a declared resume route.
"""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

import nbchat
import nbchat.job
from nbchat.errors import AuthenticationError, ServerError, StreamFailure, ValidationError
from nbchat.job_bar import Progress
from nbchat.server import ServerThread
from nbchat.wire import BAR_MESSAGE_CHARS, JobState
from tests.job_server import (
    ETA_STAGES,
    HTML_MESSAGE,
    LONG_MESSAGE,
    RESULT,
    STAGES,
    JobServer,
    RouteKind,
    create_job_server,
)

SPEC_STAGE_NAMES = [name for name, _ in STAGES]
SERVER_ETA = "the server's estimate"


class Jobs:
    """The job server of one test."""

    def __init__(self, origin: str, state: JobServer) -> None:
        self.origin = origin
        self.state = state

    def url(self, case: str) -> str:
        return f"{self.origin}/{case}/generate-stream"

    def resume_url(self, case: str) -> str:
        return f"{self.origin}/{case}/resume"

    def count(self, case: str, route: RouteKind = "stream") -> int:
        return self.state.count(case, route)


@pytest.fixture
def jobs() -> Iterator[Jobs]:
    app, state = create_job_server()
    thread = ServerThread(app)
    origin = thread.start()
    try:
        yield Jobs(origin, state)
    finally:
        thread.stop()


async def until(check: Callable[[], bool], what: str, within: float = 5.0) -> None:
    """Poll ``check`` (on the test's loop, where the job runs) until it holds."""
    deadline = time.monotonic() + within
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for: {what}")
        await asyncio.sleep(0.005)


def progress(jobs: Jobs, case: str, **kw: object) -> Progress:
    kw.setdefault("history", None)
    kw.setdefault("name", case)
    return Progress(jobs.url(case), json={"prompt": "A plan for a runner's knee"}, **kw)  # type: ignore[arg-type]


def message(p: Progress) -> str:
    assert p.error is not None, p.state
    return p.error["message"]


# -- 1. a clean stream -------------------------------------------------------------------


async def test_a_clean_stream_goes_through_its_stages_to_the_result(jobs: Jobs) -> None:
    p = progress(jobs, "clean")
    seen: list[tuple[str, float | None]] = []
    p.start()
    while p.state in (JobState.IDLE, JobState.CONNECTING, JobState.RUNNING):
        if p.stage and (not seen or seen[-1][0] != p.stage):
            seen.append((p.stage, p.percent))
        await asyncio.sleep(0.005)
    assert await p == RESULT
    assert p.state is JobState.DONE and p.error is None
    assert p.result == RESULT and p.percent == 100.0 and p.stage == "complete"
    # The stages were shown in order, each with its own percent (the client may see
    # two events of one chunk at once, so it is a subsequence).
    stages = [stage for stage, _ in seen]
    assert len(stages) >= 4 and stages == sorted(stages, key=SPEC_STAGE_NAMES.index)
    assert all(pct == float(dict(STAGES)[stage]) for stage, pct in seen), seen
    assert p.stages == SPEC_STAGE_NAMES
    assert p.eta is None and p.notice == "" and p.elapsed > 0.25
    assert jobs.count("clean") == 1
    assert jobs.state.log("clean").bodies == [{"prompt": "A plan for a runner's knee"}]


# -- 2-4. drops --------------------------------------------------------------------------


async def test_a_drop_without_ids_is_interrupted_and_never_reposted(jobs: Jobs) -> None:
    p = progress(jobs, "drop-no-ids")
    p.start()
    assert await p.wait() is JobState.INTERRUPTED
    assert p.error is not None and p.error["code"] == "INTERRUPTED"
    assert "closed mid-reply" in message(p) and "/drop-no-ids/generate-stream" in message(p)
    assert "not sent again" in message(p)
    assert p.stage == "fetching-exercises" and p.percent == 15.0  # what it reached stays
    with pytest.raises(StreamFailure) as caught:
        await p
    assert caught.value.code == "INTERRUPTED"
    await asyncio.sleep(2.0)
    assert jobs.count("drop-no-ids") == 1


async def test_a_drop_with_ids_but_no_resume_route_is_interrupted(jobs: Jobs) -> None:
    p = progress(jobs, "drop-ids")
    p.start()
    assert await p.wait() is JobState.INTERRUPTED
    assert p.error is not None and p.error["code"] == "INTERRUPTED"
    assert "closed mid-reply" in message(p) and "not sent again" in message(p)
    await asyncio.sleep(0.5)  # longer than the server's retry: 100
    assert jobs.count("drop-ids") == 1
    assert jobs.count("drop-ids", "resume") == 0


async def test_a_drop_with_ids_resumes_through_the_resume_route(jobs: Jobs) -> None:
    p = progress(jobs, "resume", resume_url=jobs.resume_url("resume"), api_key="sk-test")
    notices: list[str] = []
    p.start()
    while p.state.busy:
        if p.notice and p.notice not in notices:
            notices.append(p.notice)
        await asyncio.sleep(0.005)
    assert await p == RESULT
    assert p.state is JobState.DONE and p.percent == 100.0 and p.stage == "complete"
    assert p.stages == SPEC_STAGE_NAMES and p.notice == ""
    assert any("resuming after event '2'" in notice for notice in notices), notices
    assert jobs.count("resume") == 1  # the POST: once
    resumed = jobs.state.log("resume", "resume")
    assert resumed.count >= 1
    assert resumed.headers[0]["last-event-id"] == "2"
    assert resumed.headers[0]["authorization"] == "Bearer sk-test"
    assert resumed.bodies[0] is None  # a GET: no body


async def test_a_drop_with_ids_resumes_a_job_declared_resumable(jobs: Jobs) -> None:
    p = progress(jobs, "resumable", resumable=True)
    p.start()
    assert await p == RESULT
    assert p.state is JobState.DONE and p.percent == 100.0
    seen = jobs.state.log("resumable")
    assert seen.count == 2  # declared safe: the same POST, after Last-Event-ID
    assert "last-event-id" not in seen.headers[0]
    assert seen.headers[1]["last-event-id"] == "2"
    assert seen.bodies[0] == seen.bodies[1]


# -- 5. stalls ---------------------------------------------------------------------------


async def test_keepalives_are_not_a_stall(jobs: Jobs, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(nbchat.job, "QUIET_AFTER_S", 1.0)  # 5 s in use; the rule is the same
    # A read timeout shorter than the 3 s without a step: the comments keep it alive.
    p = progress(jobs, "keepalive", timeouts=nbchat.Timeouts(read=1.0))
    p.start()
    await until(lambda: p.notice.startswith("no update for"), "the quiet notice")
    assert p.state is JobState.RUNNING and p.stage == "started" and p.error is None
    quiet = p.notice.removeprefix("no update for ").removesuffix(" s")
    assert quiet.isdigit() and int(quiet) >= 1, p.notice
    assert p._info()["notice"] == p.notice
    # The next step clears it (the job still running).
    await until(lambda: p.stage != "started", "the next step")
    assert p.state is JobState.RUNNING and p.notice == ""
    assert await p.wait() is JobState.DONE
    assert p.result == RESULT and p.notice == ""
    assert jobs.count("keepalive") == 1


@pytest.mark.parametrize(
    ("case", "state", "code", "says"),
    [
        # No byte at all, not even the response headers.
        ("silent-headers", JobState.ERROR, "STALLED", "sent no response within 0.5 s"),
        # One step, then silence.
        ("silent-mid", JobState.INTERRUPTED, "INTERRUPTED", "sent nothing for 0.5 s"),
    ],
)
async def test_a_silent_connection_ends_at_the_read_timeout(
    jobs: Jobs, case: str, state: JobState, code: str, says: str
) -> None:
    p = progress(jobs, case, timeouts=nbchat.Timeouts(read=0.5))
    started = time.monotonic()
    p.start()
    assert await p.wait() is state
    took = time.monotonic() - started
    assert p.error is not None and p.error["code"] == code
    assert says in message(p)
    if state is JobState.INTERRUPTED:
        assert "not sent again" in message(p)
    assert took < 1.4, took  # ended at the read timeout, not by the server (1.5 s)
    await asyncio.sleep(0.3)
    assert jobs.count(case) == 1


# -- 6. clean ends -----------------------------------------------------------------------


async def test_a_clean_end_after_complete_is_done_without_result(jobs: Jobs) -> None:
    p = progress(jobs, "complete-no-result")
    p.start()
    assert await p is None
    assert p.state is JobState.DONE and p.error is None and p.percent == 100.0
    assert jobs.count("complete-no-result") == 1


async def test_a_clean_end_before_complete_is_interrupted(jobs: Jobs) -> None:
    p = progress(jobs, "early-end")
    p.start()
    assert await p.wait() is JobState.INTERRUPTED
    assert p.error is not None and p.error["code"] == "INTERRUPTED"
    assert "ended before" in message(p) and '"result"' in message(p)
    assert p.percent == 40.0 and p.result is None
    await asyncio.sleep(0.3)
    assert jobs.count("early-end") == 1


# -- 7. cancel ---------------------------------------------------------------------------


async def test_cancel_ends_the_job_and_the_server_sees_the_disconnect(
    jobs: Jobs, tmp_path: Path
) -> None:
    history = tmp_path / "runs.sqlite3"
    done = Progress(jobs.url("clean"), history=history, name="job")
    done.start()
    await done
    p = Progress(jobs.url("slow"), history=history, name="job")
    p.start()
    await until(lambda: p.state is JobState.RUNNING and p.stage == "fetching-exercises", "running")
    started = time.monotonic()
    p.cancel()
    state = await asyncio.wait_for(p.wait(), 1.0)
    took = time.monotonic() - started
    assert state is JobState.CANCELLED and took < 1.0, took
    assert await p is None
    assert p.error is None and p.eta is None
    await until(lambda: jobs.state.disconnected("slow"), "the server to see the disconnect", 3.0)
    assert jobs.state.completed.get("slow", 0) == 0
    assert jobs.count("slow") == 1
    store = p.store
    assert store.run_outcomes("job") == ["done", "cancelled"]
    runs = store.stage_runs("job")
    assert len(runs) == 1 and [stage for stage, _ in runs[0]] == SPEC_STAGE_NAMES


async def test_cancel_from_another_thread(jobs: Jobs) -> None:
    p = progress(jobs, "slow")
    p.start()
    await until(lambda: p.state is JobState.RUNNING, "running")
    started = time.monotonic()
    await asyncio.to_thread(p.cancel)
    assert await asyncio.wait_for(p.wait(), 1.0) is JobState.CANCELLED
    assert time.monotonic() - started < 1.0
    await until(lambda: jobs.state.disconnected("slow"), "the server to see the disconnect", 3.0)


async def test_cancel_before_the_task_runs_sends_nothing(jobs: Jobs) -> None:
    p = progress(jobs, "slow")
    p.start()
    p.cancel()
    assert await p.wait() is JobState.CANCELLED
    assert await p is None
    await asyncio.sleep(0.2)
    assert jobs.count("slow") == 0
    assert p.store.run_outcomes("slow") == ["cancelled"]


async def test_cancelling_the_waiter_cancels_the_job(jobs: Jobs) -> None:
    p = progress(jobs, "slow")
    p.start()
    await until(lambda: p.state is JobState.RUNNING, "running")
    waiter = asyncio.ensure_future(p.wait())
    await asyncio.sleep(0.05)
    waiter.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiter
    await until(lambda: not p.state.busy, "the job's end", 1.0)
    assert p.state is JobState.CANCELLED
    # Later waiters get the final state, as for any other end (no CancelledError).
    assert await p.wait() is JobState.CANCELLED
    assert await p is None
    await until(lambda: jobs.state.disconnected("slow"), "the server to see the disconnect", 3.0)
    assert jobs.count("slow") == 1


# -- 8. errors ---------------------------------------------------------------------------


async def test_a_server_error_event_fails_the_job_with_its_code(jobs: Jobs) -> None:
    p = progress(jobs, "error-event")
    p.start()
    assert await p.wait() is JobState.ERROR
    assert p.error is not None and p.error["code"] == "OPENAI_API_ERROR"
    assert "The model is overloaded" in message(p) and "generating" in message(p)
    assert p.result is None  # the result after the error is ignored
    with pytest.raises(StreamFailure) as caught:
        await p
    assert caught.value.code == "OPENAI_API_ERROR"
    assert "The model is overloaded" in str(caught.value)
    assert jobs.count("error-event") == 1


async def test_http_401_is_an_authentication_error(jobs: Jobs) -> None:
    p = progress(jobs, "status-401")
    p.start()
    with pytest.raises(AuthenticationError):
        await p
    assert p.state is JobState.ERROR
    assert p.error is not None and p.error["code"] == "AUTHENTICATION_ERROR"
    assert "HTTP 401" in message(p) and p.error["hint"]
    assert jobs.count("status-401") == 1


async def test_http_400_is_a_validation_error(jobs: Jobs) -> None:
    p = progress(jobs, "status-400")
    p.start()
    with pytest.raises(ValidationError):
        await p
    assert p.state is JobState.ERROR
    assert p.error is not None and p.error["code"] == "VALIDATION_ERROR"
    assert "HTTP 400" in message(p) and "VALIDATION_ERROR" in message(p)
    assert jobs.count("status-400") == 1


async def test_connection_refused_fails_at_once_without_retrying() -> None:
    with socket.socket() as sock:  # a port nobody listens on once closed
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    p = Progress(f"http://127.0.0.1:{port}/api/generate-stream", history=None)
    started = time.monotonic()
    p.start()
    assert await p.wait() is JobState.ERROR
    assert time.monotonic() - started < 1.0  # no backoff, no retry
    assert p.error is not None and p.error["code"] == "CONNECTION_ERROR"
    assert "could not connect" in message(p) and str(port) in message(p)
    assert p.notice == ""


# -- 9. classic mode ---------------------------------------------------------------------


async def test_classic_mode_posts_once_to_the_classic_url(jobs: Jobs) -> None:
    p = progress(jobs, "classic", streaming=False)
    p.start()
    await until(lambda: p.state is JobState.RUNNING, "running")
    assert p.percent is None and p.stage == "" and p.stages == []
    assert p._info()["classic"] is True
    assert await p == RESULT
    assert p.state is JobState.DONE and p.result == RESULT and p.percent is None
    assert jobs.count("classic", "classic") == 1
    assert jobs.count("classic", "stream") == 0
    assert jobs.state.log("classic", "classic").bodies == [{"prompt": "A plan for a runner's knee"}]


async def test_a_classic_500_fails_naming_the_status_and_is_not_retried(jobs: Jobs) -> None:
    p = progress(jobs, "classic-500", streaming=False)
    p.start()
    with pytest.raises(ServerError):
        await p
    assert p.state is JobState.ERROR
    assert p.error is not None and p.error["code"] == "SERVER_ERROR"
    assert "HTTP 500" in message(p)
    await asyncio.sleep(0.3)
    assert jobs.count("classic-500", "classic") == 1
    assert jobs.count("classic-500", "stream") == 0


# -- 10. weird values --------------------------------------------------------------------


async def test_weird_values_never_move_the_bar_back_or_reach_the_eta(jobs: Jobs) -> None:
    case = "weird"
    p = progress(jobs, case)
    p.start()

    async def next_event(text: str) -> None:
        jobs.state.release(case)
        await until(lambda: p.message == text, f"the message {text[:20]!r}")
        assert p.state is JobState.RUNNING
        assert p.eta_source != SERVER_ETA
        assert p.eta is None or p.eta < 1000

    await next_event("negative")  # progress -10, estimatedTimeRemaining 1e12
    assert p.percent == 0.0 and p.stage == "started" and p.eta is None
    await next_event("forty")  # estimatedTimeRemaining -5
    assert p.percent == 40.0 and p.stage == "generating"
    assert p.eta_source == "from the progress so far"
    await next_event("backwards")  # 25 after 40, estimatedTimeRemaining "soon"
    assert p.percent == 40.0
    await next_event(HTML_MESSAGE)  # progress null
    assert p.percent == 40.0 and p.message == HTML_MESSAGE  # text, verbatim
    await next_event(LONG_MESSAGE)  # progress "75"
    assert p.percent == 40.0 and len(p.message) == 5000
    info = p._info()
    assert info["message"] == LONG_MESSAGE[:BAR_MESSAGE_CHARS]
    assert len(info["message"]) == BAR_MESSAGE_CHARS < 5000
    # A sane estimate (3000 ms) is the server's: the nonsense ones above were not.
    jobs.state.release(case)
    await until(lambda: p.message == "sane", "the sane estimate")
    assert p.percent == 50.0 and p.stage == "validating"
    assert p.eta_source == SERVER_ETA and p.eta == pytest.approx(3.0)
    jobs.state.release(case)
    await until(lambda: p.message == "over", "progress 150")
    assert p.percent == 100.0  # clamped
    jobs.state.release(case)
    assert await p == {"weird": True}
    assert p.state is JobState.DONE and p.percent == 100.0
    assert jobs.count(case) == 1


async def test_a_data_line_that_is_not_json_is_a_protocol_error(jobs: Jobs) -> None:
    p = progress(jobs, "not-json")
    p.start()
    assert await p.wait() is JobState.ERROR
    assert p.error is not None and p.error["code"] == "PROTOCOL_ERROR"
    assert "<html>oops</html>" in message(p)
    assert p.result is None  # the result after it is not taken
    await asyncio.sleep(0.2)
    assert jobs.count("not-json") == 1


# -- 11. the ETA learns from finished runs -----------------------------------------------


async def test_the_eta_is_learned_from_finished_runs_only(jobs: Jobs, tmp_path: Path) -> None:
    history = tmp_path / "eta.sqlite3"
    name = "eta job"

    def job(case: str) -> Progress:
        return Progress(jobs.url(case), json={"prompt": "x" * 20}, history=history, name=name)

    for _ in range(3):
        p = job("eta")
        p.start()
        assert await p == RESULT
    store = p.store
    learned = store.stage_runs(name)
    assert len(learned) == 3
    assert [stage for stage, _ in learned[0]] == [*[s for s, _, _ in ETA_STAGES], "complete"]
    # A failed and a cancelled run are recorded as such, and teach nothing.
    failed = job("eta-fail")
    failed.start()
    assert await failed.wait() is JobState.ERROR
    cancelled = job("slow")
    cancelled.start()
    await until(lambda: cancelled.state is JobState.RUNNING, "running")
    cancelled.cancel()
    assert await cancelled.wait() is JobState.CANCELLED
    assert store.stage_runs(name) == learned
    assert store.run_outcomes(name) == ["done", "done", "done", "error", "cancelled"]

    # The fourth finished run: at each stage, the ETA is the time that was really left.
    p = job("eta")
    seen: list[tuple[str, float | None, str, float]] = []
    p.start()
    while p.state.busy or p.state is JobState.IDLE:
        if p.stage and (not seen or seen[-1][0] != p.stage):
            seen.append((p.stage, p.eta, p.eta_source, time.monotonic()))
        await asyncio.sleep(0.002)
    ended = time.monotonic()
    assert p.state is JobState.DONE
    stages = [stage for stage, *_ in seen]
    assert stages[:3] == ["started", "generating", "storing"], seen
    for stage, eta, source, at in seen:
        assert source == "learned from 3 earlier runs", (stage, source)
        assert eta is not None
        assert abs(eta - (ended - at)) < 0.15, (stage, eta, ended - at)
    assert len(store.stage_runs(name)) == 4


# -- 12. run() and start() ---------------------------------------------------------------


def test_run_blocks_and_returns_the_result(jobs: Jobs) -> None:
    p = progress(jobs, "clean")
    assert p.run() == RESULT
    assert p.state is JobState.DONE
    assert jobs.count("clean") == 1


def test_run_raises_the_jobs_error(jobs: Jobs) -> None:
    p = progress(jobs, "error-event")
    with pytest.raises(StreamFailure) as caught:
        p.run()
    assert caught.value.code == "OPENAI_API_ERROR"
    assert jobs.count("error-event") == 1


def test_run_while_the_job_runs_sends_no_second_post(jobs: Jobs) -> None:
    # The job started on a loop of its own thread (as a kernel's), then p.run().
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    p = progress(jobs, "slow")

    async def start() -> None:
        p.start()

    async def end() -> JobState:
        p.cancel()
        state = await p.wait()
        await loop.shutdown_asyncgens()  # the loop's pooled HTTP client
        return state

    try:
        asyncio.run_coroutine_threadsafe(start(), loop).result(5)
        deadline = time.monotonic() + 5
        while p.state is not JobState.RUNNING and time.monotonic() < deadline:
            time.sleep(0.01)
        assert p.state is JobState.RUNNING
        with pytest.raises(nbchat.ConfigurationError, match="already running"):
            p.run()
        assert jobs.count("slow") == 1
        # The running job is still the one cancel() reaches.
        assert asyncio.run_coroutine_threadsafe(end(), loop).result(5) is JobState.CANCELLED
    finally:
        loop.call_soon_threadsafe(loop.stop)
        thread.join(5)
        loop.close()
    assert jobs.count("slow") == 1


def test_start_needs_a_running_loop(jobs: Jobs) -> None:
    p = progress(jobs, "clean")
    with pytest.raises(nbchat.ConfigurationError, match="running event loop"):
        p.start()
    assert jobs.count("clean") == 0


async def test_a_second_start_while_running_sends_no_second_post(jobs: Jobs) -> None:
    p = progress(jobs, "clean.twice")
    p.start()
    first = p._job
    p.start()
    await until(lambda: p.state is JobState.RUNNING, "running")
    p.start()
    assert p._job is first
    assert await p == RESULT
    assert jobs.count("clean.twice") == 1
    # Once it ended, start() runs it again (the bar's Retry): a second POST.
    p.start()
    assert await p == RESULT
    assert jobs.count("clean.twice") == 2
