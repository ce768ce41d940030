import { describe, expect, it } from "vitest";
import { fileIcon, kindIcon } from "./icons";
import KeyRound from "@lucide/svelte/icons/key-round";
import File from "@lucide/svelte/icons/file";
import FileImage from "@lucide/svelte/icons/file-image";
import FileArchive from "@lucide/svelte/icons/file-archive";
import FileCode from "@lucide/svelte/icons/file-code";
import FileText from "@lucide/svelte/icons/file-text";

describe("icons", () => {
  it("give each kind its own icon, a plain file for an unknown kind", () => {
    expect(kindIcon("login")).toBe(KeyRound);
    const kinds = ["login", "note", "card", "identity", "contact", "file"].map(kindIcon);
    expect(new Set(kinds).size).toBe(kinds.length);
    expect(kindIcon("something-new")).toBe(File);
  });

  it("tell files apart by media type", () => {
    expect(fileIcon("image/png")).toBe(FileImage);
    expect(fileIcon("application/zip")).toBe(FileArchive);
    expect(fileIcon("application/gzip")).toBe(FileArchive);
    expect(fileIcon("application/json")).toBe(FileCode);
    expect(fileIcon("text/plain")).toBe(FileText);
    expect(fileIcon("application/pdf")).toBe(FileText);
    expect(fileIcon("application/octet-stream")).toBe(File);
    expect(fileIcon("")).toBe(File);
  });
});
