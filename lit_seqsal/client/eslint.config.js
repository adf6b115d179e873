// Lint and format rules of the client (npm run lint; npm run format fixes what it can).
// ESLint's and typescript-eslint's recommended rules, a few more, and the
// house style as @stylistic rules: 2-space indent, single quotes, semicolons,
// no spaces inside braces, lines of at most 120 characters.
import js from '@eslint/js';
import stylistic from '@stylistic/eslint-plugin';
import {defineConfig, globalIgnores} from 'eslint/config';
import globals from 'globals';
import tseslint from 'typescript-eslint';

export default defineConfig(
  globalIgnores(['build/', 'build-test/']),
  js.configs.recommended,
  tseslint.configs.recommended,
  {
    files: ['**/*.js', '**/*.mjs'],
    languageOptions: {globals: globals.node},
  },
  {
    rules: {
      'eqeqeq': ['error', 'always'],
      'no-var': 'error',
      'prefer-const': 'error',
      'curly': ['error', 'multi-line'],
      '@typescript-eslint/consistent-type-imports': 'error',
      '@typescript-eslint/no-unused-vars': ['error', {argsIgnorePattern: '^_', varsIgnorePattern: '^_'}],
    },
  },
  {
    plugins: {'@stylistic': stylistic},
    rules: {
      '@stylistic/indent': ['error', 2, {
        SwitchCase: 1, flatTernaryExpressions: true, offsetTernaryExpressions: true,
        // Blocks, statements and members at 2 spaces; continuation lines as written (4 spaces, or
        // aligned with what they continue): arguments, parameters, elements, return types, templates.
        FunctionDeclaration: {parameters: 'off'}, FunctionExpression: {parameters: 'off'},
        CallExpression: {arguments: 'off'}, ArrayExpression: 'off', ObjectExpression: 'off', MemberExpression: 'off',
        ignoredNodes: ['TemplateLiteral *', 'TSTypeAnnotation', 'TSTypeLiteral', 'ConditionalExpression *',
                       'ArrowFunctionExpression > :not(BlockStatement)', 'VariableDeclarator > *'],
      }],
      '@stylistic/quotes': ['error', 'single', {avoidEscape: true}],
      '@stylistic/semi': ['error', 'always'],
      '@stylistic/object-curly-spacing': ['error', 'never'],
      '@stylistic/comma-dangle': ['error', 'always-multiline'],
      '@stylistic/comma-spacing': 'error',
      '@stylistic/key-spacing': 'error',
      '@stylistic/keyword-spacing': 'error',
      '@stylistic/space-infix-ops': 'error',
      '@stylistic/space-before-blocks': 'error',
      '@stylistic/arrow-parens': ['error', 'always'],
      '@stylistic/brace-style': ['error', '1tbs', {allowSingleLine: true}],
      '@stylistic/member-delimiter-style': ['error', {
        multiline: {delimiter: 'semi', requireLast: true}, singleline: {delimiter: 'comma', requireLast: false}}],
      '@stylistic/no-trailing-spaces': 'error',
      '@stylistic/no-multiple-empty-lines': ['error', {max: 1}],
      '@stylistic/eol-last': 'error',
      '@stylistic/max-len': ['error', {code: 120, ignoreUrls: true, ignoreStrings: true, ignoreTemplateLiterals: true, ignoreRegExpLiterals: true}],
    },
  },
);
