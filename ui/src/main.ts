import { mount } from "svelte";
import App from "./App.svelte";
import Quick from "./screens/Quick.svelte";
import "./app.css";
import { loadSettings } from "./lib/settings";
import { useLanguage } from "./lib/i18n.svelte";
import { api } from "./lib/ipc";

// For the app benchmark: the page's script is running.
api.mark("page");
const target = document.getElementById("app");
if (!target) throw new Error("no #app element");
useLanguage(loadSettings(localStorage).language);
// The quick-search window loads the same page with #quick.
export default location.hash === "#quick" ? mount(Quick, { target }) : mount(App, { target });
