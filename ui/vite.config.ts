import { svelte } from "@sveltejs/vite-plugin-svelte";
import { defineConfig } from "vitest/config";
import { fileURLToPath } from "node:url";

// The app's pages are embedded in the binary: no CDN, no remote fonts, nothing fetched.
export default defineConfig({
  plugins: [svelte()],
  // Every command the app sends goes through the sealed channel (src/lib/core.ts).
  resolve: { alias: [{ find: /^@tauri-apps\/api\/core$/, replacement: fileURLToPath(new URL("./src/lib/core.ts", import.meta.url)) }] },
  clearScreen: false,
  server: { port: 1420, strictPort: true },
  build: { outDir: "dist", emptyOutDir: true, target: "es2022", assetsInlineLimit: 0 },
  test: { include: ["src/**/*.test.ts"], environment: "node" },
});
