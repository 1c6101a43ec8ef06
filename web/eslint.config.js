// ESLint for the web app (run by scripts/lint, the ctest lint/static):
// ESLint's recommended rules on web/src with JSX, browser globals (the
// service worker's own), and the Node globals of the build scripts.
import js from "@eslint/js";
import globals from "globals";

export default [
  { ignores: ["dist/**", "node_modules/**"] },
  js.configs.recommended,
  {
    files: ["src/**/*.{js,jsx}"],
    languageOptions: {
      ecmaVersion: 2022,
      sourceType: "module",
      parserOptions: { ecmaFeatures: { jsx: true } },
      globals: { ...globals.browser },
    },
    rules: {
      // Core ESLint does not see a component used only as <Name />
      // (that needs a React plugin): capitalised names count as used.
      "no-unused-vars": ["error", { varsIgnorePattern: "^[A-Z]", args: "after-used",
                                    caughtErrors: "none" }],
    },
  },
  {
    files: ["src/sw.js"],
    languageOptions: { globals: { ...globals.serviceworker } },
  },
  {
    files: ["scripts/**/*.js", "vite.config.js", "eslint.config.js"],
    languageOptions: { ecmaVersion: 2022, sourceType: "module", globals: { ...globals.node } },
  },
];
