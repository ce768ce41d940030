import { describe, expect, it } from "vitest";
import { folderLine, formatBytes, transferLine, usageLine } from "./format";

describe("formatBytes", () => {
  it("says bytes below a kilobyte", () => {
    expect(formatBytes(0)).toBe("0 bytes");
    expect(formatBytes(1)).toBe("1 byte");
    expect(formatBytes(999)).toBe("999 bytes");
  });
  it("uses one decimal below ten units and none above", () => {
    expect(formatBytes(1000)).toBe("1.0 KB");
    expect(formatBytes(1_234_567)).toBe("1.2 MB");
    expect(formatBytes(42_000_000)).toBe("42 MB");
    expect(formatBytes(2 ** 31)).toBe("2.1 GB");
  });
  it("refuses nonsense", () => {
    expect(formatBytes(-1)).toBe("?");
    expect(formatBytes(Number.NaN)).toBe("?");
    expect(formatBytes(null)).toBe("?");
  });
});

describe("transferLine", () => {
  it("shows done, total, percent and rate", () => {
    expect(transferLine({ name: "a.png", upload: true, done: 12e6, total: 40e6, rate: 8.1e6 })).toBe(
      "Uploading a.png: 12 MB of 40 MB (30%), 8.1 MB/s",
    );
  });
  it("leaves the rate out before there is one, and counts an empty file as done", () => {
    expect(transferLine({ name: "e", upload: false, done: 0, total: 0, rate: 0 })).toBe(
      "Downloading e: 0 bytes of 0 bytes (100%)",
    );
  });
});

describe("folderLine", () => {
  const none = { label: "Documents", uploaded: 0, updated: 0, downloaded: 0, trashed: 0, removed: 0, conflicts: 0, refused: 0 };
  it("names each sort of change made, in order", () => {
    expect(folderLine({ ...none, uploaded: 2, conflicts: 1 })).toBe("Documents: 2 uploaded, 1 kept as a conflict copy");
    expect(folderLine({ ...none, refused: 2 })).toBe("Documents: 2 refused (names that would leave the folder)");
  });
  it("says up to date when nothing changed", () => {
    expect(folderLine(none)).toBe("Documents: up to date");
  });
});

describe("usageLine", () => {
  it("reads as used of quota", () => {
    expect(usageLine(3_200_000, 1e9)).toBe("3.2 MB of 1.0 GB used");
  });
});
