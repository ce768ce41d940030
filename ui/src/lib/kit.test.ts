import { afterEach, describe, expect, it } from "vitest";
import { kitPage } from "./kit";
import { setLang } from "./i18n.svelte";

const kit = { secret_key: "K1-ABCDEF-GHJKMN", username: "<alice>", server: "https://vault.example.org" };
const made = new Date(Date.UTC(2026, 11, 7, 12));

afterEach(() => setLang("en"));

describe("the Emergency Kit page", () => {
  it("holds the server, the username and the Secret Key, escaped, and a blank for the password", () => {
    const page = kitPage(kit, made);
    expect(page).toContain("<dd>https://vault.example.org</dd>");
    expect(page).toContain("<dd>&lt;alice&gt;</dd>");
    expect(page).not.toContain("<alice>");
    expect(page).toContain('<div class="box key"><dt>Secret Key</dt><dd>K1-ABCDEF-GHJKMN</dd></div>');
    expect(page).toContain('<div class="box blank"><dt>Password (write it by hand, or not at all)</dt><dd></dd></div>');
    expect(page).toContain('<html lang="en">');
    expect(page).toContain("Made on December 7, 2026");
  });
  it("is self-contained: its mark is inside it and nothing is fetched", () => {
    const page = kitPage(kit, made);
    expect(page).toContain('<img src="data:image/svg+xml,');
    expect(page).not.toMatch(/(src|href)="(https?:)?\/\//);
    expect(page).not.toContain("<script");
  });
  it("is written in the UI's language", () => {
    setLang("fr");
    const page = kitPage(kit, made);
    expect(page).toContain('<html lang="fr">');
    expect(page).toContain("<h1>Votre kit de secours</h1>");
    expect(page).toContain("<dt>Clé secrète</dt>");
    expect(page).toContain("Établi le 7 décembre 2026");
  });
});
