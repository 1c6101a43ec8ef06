// Types of Vite's import.meta.env for tsc --noEmit (web/tsconfig.json).
/// <reference types="vite/client" />
