import { afterEach, describe, expect, it } from "vitest";
import { kitPage } from "./kit";
import { setLang } from "./i18n.svelte";

const kit = { secret_key: "K1-ABCDEF-GHJKMN", username: "<alice>", server: "https://vault.example.org" };

afterEach(() => setLang("en"));

describe("the Emergency Kit page", () => {
  it("holds the server, the username and the Secret Key, escaped, and a blank for the password", () => {
    const page = kitPage(kit);
    expect(page).toContain("<dd>https://vault.example.org</dd>");
    expect(page).toContain("<dd>&lt;alice&gt;</dd>");
    expect(page).not.toContain("<alice>");
    expect(page).toContain("<dd>K1-ABCDEF-GHJKMN</dd>");
    expect(page).toContain('<dd class="blank"></dd>');
    expect(page).toContain('<html lang="en">');
  });
  it("is written in the UI's language", () => {
    setLang("fr");
    const page = kitPage(kit);
    expect(page).toContain('<html lang="fr">');
    expect(page).toContain("<h1>Votre kit de secours</h1>");
    expect(page).toContain("<dt>Clé secrète</dt>");
  });
});
