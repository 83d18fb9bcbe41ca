// @ts-check
import { afterEach, describe, expect, it } from "vitest";
import { barBusy, barInfo, createBar, specStages, tickBar, updateBar } from "../bar.js";
import { countText, durationText } from "../format.js";

/** @typedef {import("../types.js").BarInfo} BarInfo */

/**
 * @param {Partial<BarInfo>} fields
 * @returns {BarInfo}
 */
function info(fields) {
  return /** @type {BarInfo} */ (barInfo({ state: "running", ...fields }));
}

afterEach(() => {
  document.body.textContent = "";
});

/** @param {(request: import("../types.js").BarRequest) => void} [act] */
function mount(act) {
  const record = createBar(document, act);
  document.body.append(record.el);
  return record;
}

/**
 * @param {HTMLElement} root
 * @param {string} part
 */
function shown(root, part) {
  const el = /** @type {HTMLElement | null} */ (root.querySelector(`.nbchat-progress-${part}`));
  return el && !el.hidden ? el.textContent : null;
}

describe("bar", () => {
  it("shows percent, stage, stage dots, elapsed time and an ETA that says where it comes from", () => {
    const record = mount();
    updateBar(
      record,
      info({
        title: "job",
        percent: 40,
        stage: "generating",
        stages: specStages("generating", false),
        elapsed_s: 2.5,
        eta_s: 12,
        eta_note: "learned from 3 earlier runs",
      }),
      1000,
    );
    const el = record.el;
    expect(el.dataset.status).toBe("running");
    expect(shown(el, "title")).toBe("job");
    expect(shown(el, "stage")).toBe("Generating");
    expect(shown(el, "percent")).toBe("40 %");
    expect(record.fill.style.width).toBe("40%");
    expect(record.bar.getAttribute("aria-valuenow")).toBe("40");
    const dots = Array.from(el.querySelectorAll("li.nbchat-progress-dot"));
    expect(dots.map((d) => /** @type {HTMLElement} */ (d).dataset.state)).toEqual([
      "done", "done", "current", "ahead", "ahead", "ahead",
    ]);
    expect(dots[2].getAttribute("aria-current")).toBe("step");
    expect(shown(el, "elapsed")).toBe("2.5 s");
    expect(shown(el, "eta")).toBe("about 12 s left");
    expect(record.eta.title).toBe("Estimate learned from 3 earlier runs");
    // Between updates the view counts on.
    tickBar(record, 4000);
    expect(shown(el, "elapsed")).toBe("5.5 s");
    expect(shown(el, "eta")).toBe("about 9 s left");
    tickBar(record, 20000);
    expect(shown(el, "eta")).toBeNull(); // past the estimate: no negative time
  });

  it("shows an error with its code, and the done state with the total time and the result", () => {
    const record = mount();
    updateBar(record, info({ state: "error", error: { code: "VALIDATION_ERROR", message: "too short" } }), 0);
    expect(record.el.dataset.status).toBe("error");
    expect(shown(record.el, "error")).toBe("VALIDATION_ERROR: too short");
    expect(barBusy(record)).toBe(false);
    updateBar(record, info({ state: "done", percent: 100, elapsed_s: 4.25, result: '{\n  "a": 1\n}' }), 0);
    expect(shown(record.el, "error")).toBeNull();
    expect(shown(record.el, "elapsed")).toBe("done in 4.2 s");
    const result = /** @type {HTMLDetailsElement} */ (record.el.querySelector("details.nbchat-result"));
    expect(result.hidden).toBe(false);
    expect(result.querySelector("pre")?.textContent).toBe('{\n  "a": 1\n}');
  });

  it("puts a server's text in as text, never as HTML", () => {
    const record = mount();
    const hostile = '<img src=x onerror="alert(1)"><script>alert(2)</script>';
    updateBar(record, info({ stage: hostile, message: hostile, result: hostile, title: hostile,
      error: { code: hostile, message: hostile }, notice: hostile }), 0);
    expect(record.el.querySelector("img, script")).toBeNull();
    expect(record.message.textContent).toBe(hostile);
  });

  it("offers Cancel while running and Run again after; the mode box follows the job", () => {
    /** @type {string[]} */
    const sent = [];
    const record = mount((request) => sent.push(request.type));
    updateBar(record, info({ controls: ["cancel", "retry", "mode"], classic: true }), 0);
    expect(record.cancel.hidden).toBe(false);
    expect(record.retry.hidden).toBe(true);
    expect(record.modeBox.checked).toBe(true);
    record.cancel.click();
    expect(record.cancel.disabled).toBe(true); // one press is enough
    updateBar(record, info({ state: "cancelled", controls: ["cancel", "retry", "mode"] }), 0);
    expect(record.cancel.hidden).toBe(true);
    expect(record.cancel.disabled).toBe(false);
    record.retry.click();
    record.modeBox.click();
    expect(sent).toEqual(["cancel", "retry", "mode"]);
  });

  it("shows an unknown percent as indeterminate and a loop's count and nested bars", () => {
    const record = mount();
    updateBar(
      record,
      info({
        percent: null,
        count: { n: 1234, total: null, rate: 56.7 },
        children: [info({ title: "inner", percent: 50, count: { n: 5, total: 10, rate: null } })],
      }),
      0,
    );
    expect(record.el.dataset.indeterminate).toBe("true");
    expect(shown(record.el, "count")).toBe("1,234 · 57/s");
    const inner = /** @type {HTMLElement} */ (record.el.querySelector(".nbchat-progress-children .nbchat-progress"));
    expect(inner.querySelector(".nbchat-progress-count")?.textContent).toBe("5 / 10");
    updateBar(record, info({ children: [] }), 0);
    expect(record.el.querySelector(".nbchat-progress-children .nbchat-progress")).toBeNull();
  });
});

describe("words", () => {
  it("reads durations and counts", () => {
    expect(durationText(0.44)).toBe("0.4 s");
    expect(durationText(65)).toBe("1 min 05 s");
    expect(durationText(3725)).toBe("1 h 02 min");
    expect(durationText(-1)).toBe("");
    expect(countText({ n: 10, total: 20, rate: 0.5 })).toBe("10 / 20 · 0.50/s");
  });

  it("knows spec 004's stages only", () => {
    expect(specStages("complete", true).every((s) => s.state === "done")).toBe(true);
    expect(specStages("storing", false).map((s) => s.state)).toEqual([
      "done", "done", "done", "done", "current", "ahead",
    ]);
    expect(specStages("warming up", true)).toEqual([]);
  });
});
