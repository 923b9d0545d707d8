// ESLint (flat config) with typescript-eslint's recommended rules: the linter TypeScript projects use. Formatting is
// Prettier's (.prettierrc.json); eslint-config-prettier is not needed because these rule sets hold no style rules.
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['dist/', 'build/', 'node_modules/', 'runs/', 'data/', '**/*.js', '**/*.mjs', 'test/**/fixtures/'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    rules: {
      // `_name` marks a parameter kept for an interface's signature
      '@typescript-eslint/no-unused-vars': [
        'error',
        { argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrors: 'none' },
      ],
    },
  },
);
