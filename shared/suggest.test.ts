import { describe, expect, it } from "vitest";
import { closest, editDistance } from "./suggest.js";

describe("did you mean", () => {
  it("counts a swap of neighbours as one edit", () => {
    expect(editDistance("demo-lnux", "demo-linux")).toBe(1);
    expect(editDistance("memmory", "memory")).toBe(1);
    expect(editDistance("pul", "pull")).toBe(1);
    expect(editDistance("verfiy", "verify")).toBe(1);
    expect(editDistance("", "abc")).toBe(3);
  });

  it("offers only close candidates, nearest first", () => {
    expect(closest("pul", ["pull", "pack", "publish", "boot"])).toEqual(["pull"]);
    expect(closest("demo-lnux", ["demo-linux", "demo-kernel", "alpine"])).toEqual(["demo-linux"]);
    expect(closest("zzzz", ["pull", "boot"])).toEqual([]);
    expect(closest("boot", ["boot", "boo", "bot"])[0]).toBe("boot");
  });
});
