// @ts-check
import { describe, expect, it } from "vitest";
import { etaText, finishReasonLabel, percentText, stageLabel, timeText, wholePercent } from "../format.js";

describe("progress wording", () => {
  it("humanizes stage names", () => {
    expect(stageLabel("fetching-exercises")).toBe("Fetching exercises");
    expect(stageLabel("started")).toBe("Started");
    expect(stageLabel("storing_results now")).toBe("Storing results now");
    expect(stageLabel("--complete--")).toBe("Complete");
    expect(stageLabel("")).toBe("");
    expect(stageLabel(" - ")).toBe("");
  });

  it("shows whole percents, rounded down so 100 % means done", () => {
    expect(percentText(40)).toBe("40 %");
    expect(percentText(0)).toBe("0 %");
    expect(percentText(99.6)).toBe("99 %");
    expect(percentText(100)).toBe("100 %");
    expect(percentText(140)).toBe("100 %");
    expect(wholePercent(-3)).toBe(0);
  });

  it("words the time left in seconds, minutes or hours", () => {
    expect(etaText(12)).toBe("about 12 s left");
    expect(etaText(12.4)).toBe("about 12 s left");
    expect(etaText(0.4)).toBe("less than 1 s left");
    expect(etaText(59.4)).toBe("about 59 s left");
    expect(etaText(59.6)).toBe("about 1 min left");
    expect(etaText(120)).toBe("about 2 min left");
    expect(etaText(150)).toBe("about 3 min left");
    expect(etaText(5400)).toBe("about 1.5 h left");
    expect(etaText(0)).toBe("");
    expect(etaText(-5)).toBe("");
    expect(etaText(Number.NaN)).toBe("");
  });
});

describe("finish reasons", () => {
  it("labels length and content_filter only", () => {
    expect(finishReasonLabel("length")).toBe("Cut off: the model reached its token limit");
    expect(finishReasonLabel("content_filter")).toBe("Stopped by the provider's content filter");
    for (const reason of ["stop", "tool_calls", "error", "refusal", "", "toString", "__proto__", "bogus"]) {
      expect(finishReasonLabel(reason)).toBe("");
    }
  });
});

describe("timeText", () => {
  it("gives hours and minutes, a long form and ISO; nothing for no time", () => {
    const shown = timeText(1_765_000_000);
    expect(shown?.short).toMatch(/^\d\d:\d\d$/);
    expect(shown?.iso).toBe("2025-12-06T05:46:40.000Z");
    expect(shown?.long.length).toBeGreaterThan(5);
    expect(timeText(0)).toBeNull();
    expect(timeText(Number.NaN)).toBeNull();
  });
});
