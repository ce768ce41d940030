import { describe, expect, it } from "vitest";
import { PagedList, visibleRange } from "./pages";

describe("paged list", () => {
  it("fetches only the pages a viewport needs, once each", async () => {
    const asked: number[] = [];
    const list = new PagedList<number>(async (offset, limit) => {
      asked.push(offset);
      const items = Array.from({ length: Math.max(0, Math.min(limit, 100_000 - offset)) }, (_, i) => offset + i);
      return { total: 100_000, items };
    }, 100);
    await list.start();
    expect(list.total).toBe(100_000);
    expect(list.row(5)).toBe(5);
    expect(list.row(250)).toBeUndefined();
    await Promise.all([list.ensure(250, 320), list.ensure(280, 310)]);
    expect(list.row(250)).toBe(250);
    expect(list.row(399)).toBe(399);
    expect(asked).toEqual([0, 200, 300]);
    await list.ensure(99_990, 100_010);
    expect(list.row(99_999)).toBe(99_999);
    // The rows in view: the viewport's, with overscan, each loaded.
    const rows = await list.inView(40 * 1000, 400, 40);
    expect(rows.map((r) => r.index)).toEqual(Array.from({ length: 20 }, (_, i) => 995 + i));
    expect(rows.every((r) => r.item === r.index)).toBe(true);
    expect(asked).toContain(900);
  });
});

describe("visible range", () => {
  it("covers the viewport plus overscan, within bounds", () => {
    expect(visibleRange(0, 400, 40, 1000)).toEqual({ first: 0, last: 15 });
    expect(visibleRange(4000, 400, 40, 1000)).toEqual({ first: 95, last: 115 });
    expect(visibleRange(39_900, 400, 40, 1000)).toEqual({ first: 992, last: 1000 });
    expect(visibleRange(0, 400, 40, 3)).toEqual({ first: 0, last: 3 });
  });
});
