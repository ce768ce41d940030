import { describe, expect, it } from "vitest";
import { changed, compare, merge } from "./compare";

const f = (name: string, value: string, secret = false) => ({ name, label: name[0].toUpperCase() + name.slice(1), value, secret });
const original = { title: "Bank", fields: [f("username", "alice"), f("password", "old-pass", true), f("notes", "pin in drawer")] };
const copy = { title: "Bank", fields: [f("username", "alice"), f("password", "new-pass", true), f("url", "https://bank.example")] };

describe("compare", () => {
  it("lists the title and every field of both sides, marking the same ones", () => {
    const rows = compare(original, copy);
    expect(rows.map((r) => [r.name, r.same])).toEqual([
      ["title", true], ["username", true], ["password", false], ["notes", false], ["url", false],
    ]);
    expect(rows.find((r) => r.name === "url")).toMatchObject({ original: "", copy: "https://bank.example", secret: false });
    expect(rows.find((r) => r.name === "password")?.secret).toBe(true);
  });

  it("merges the chosen sides and drops fields left empty", () => {
    const rows = compare(original, copy);
    const m = merge(rows, { password: "copy", url: "copy" });
    expect(m.title).toBe("Bank");
    expect(m.fields.map((x) => [x.name, x.value])).toEqual([
      ["username", "alice"], ["password", "new-pass"], ["notes", "pin in drawer"], ["url", "https://bank.example"],
    ]);
    expect(merge(rows, { notes: "copy" }).fields.some((x) => x.name === "notes")).toBe(false);
    expect(merge(rows, {}).fields.some((x) => x.name === "url")).toBe(false);
  });

  it("names what changed between versions", () => {
    expect(changed(original, copy)).toBe("Password, Notes, Websites");
    expect(changed(original, original)).toBe("no field changed");
    expect(changed(original, { ...original, title: "Bank 2" })).toBe("Title");
    expect(changed(original, { ...original, folder: "Money", tags: ["x"] })).toBe("Folder, Tags");
    expect(changed({ ...original, folder: null, tags: [] }, original)).toBe("no field changed");
  });
});
