import js from '@eslint/js'
import tseslint from 'typescript-eslint'

export default tseslint.config(
  { ignores: ['dist/', 'node_modules/', 'coverage/', '.tap/', '.prof/'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/no-explicit-any': 'error'
    }
  },
  // node's global `performance` is a getter, looked up again on every use (~200 instructions a
  // call on the request path): the module's own binding is read directly
  {
    files: ['src/**/*.ts'],
    rules: { 'no-restricted-globals': ['error', { name: 'performance', message: "import { performance } from 'node:perf_hooks'" }] }
  },
  // the status page's script runs in the browser
  { files: ['ui/**/*.js'], languageOptions: { globals: { document: 'readonly', location: 'readonly', fetch: 'readonly', setTimeout: 'readonly', clearTimeout: 'readonly' } } }
)
