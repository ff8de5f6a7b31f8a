import js from '@eslint/js';
import tseslint from 'typescript-eslint';
import importX from 'eslint-plugin-import-x';
import pluginVue from 'eslint-plugin-vue';

/**
 * Dependency direction (docs/architecture.md):
 *   cli → api → accounts | catalog | engine | runner | retention → security → observability → db → model
 * config (parsed once by cli) may be read by any layer above model. runner never imports db:
 * it is handed what it needs. Each folder lists what it may import; everything else is refused.
 */
const mayImport = {
  model: [],
  config: ['model'],
  db: ['model', 'config'],
  observability: ['model', 'config', 'db'],
  security: ['model', 'config', 'db', 'observability'],
  accounts: ['model', 'config', 'db', 'observability', 'security'],
  catalog: ['model', 'config', 'db', 'observability', 'security'],
  engine: ['model', 'config', 'db', 'observability', 'security'],
  runner: ['model', 'config', 'observability', 'security'],
  retention: ['model', 'config', 'db', 'observability', 'security'],
  api: ['model', 'config', 'db', 'observability', 'security', 'accounts', 'catalog', 'engine'],
};
/** Narrow exceptions: the logger type is shared by every layer (observability owns pino). */
const except = { db: { observability: ['./logger.ts'] } };
const folders = [...Object.keys(mayImport), 'cli'];
const zones = Object.entries(mayImport).flatMap(([folder, allowed]) =>
  folders
    .filter((f) => f !== folder && !allowed.includes(f))
    .map((f) => ({
      target: `./src/${folder}`,
      from: `./src/${f}`,
      ...(except[folder]?.[f] ? { except: except[folder][f] } : {}),
      message: `src/${folder} may import only ${allowed.join(', ') || 'nothing of ours'} (docs/architecture.md)`,
    })),
);

export default tseslint.config(
  {
    ignores: [
      'node_modules',
      'dist',
      '.switchyard',
      'web/.nuxt',
      'web/.output',
      'web/dist',
      'web/app/graphql/graphql-env.d.ts',
      'coverage',
    ],
  },
  js.configs.recommended,
  // The server, tests, benches and scripts: type-aware rules and the layer boundaries.
  ...tseslint.configs.recommendedTypeChecked.map((c) => ({ ...c, ignores: ['web/**'] })),
  {
    ignores: ['web/**'],
    languageOptions: {
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    plugins: { 'import-x': importX },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/no-misused-promises': 'error',
      '@typescript-eslint/no-unused-vars': [
        'error',
        { argsIgnorePattern: '^_', varsIgnorePattern: '^_' },
      ],
      '@typescript-eslint/no-non-null-assertion': 'off',
      'no-empty': ['error', { allowEmptyCatch: false }],
      'import-x/no-cycle': 'error',
      'import-x/no-restricted-paths': ['error', { zones }],
    },
    settings: {
      'import-x/resolver': { node: { extensions: ['.ts', '.js'] } },
    },
  },
  {
    files: ['**/*.js'],
    ...tseslint.configs.disableTypeChecked,
  },
  // The web app (web/): Vue's rules; its types are checked by vue-tsc (npm run typecheck),
  // so the type-aware rules above are off here. No v-html anywhere: user data is text.
  ...pluginVue.configs['flat/recommended'].map((c) => ({ ...c, files: ['web/**/*.vue'] })),
  {
    files: ['web/**/*.ts'],
    languageOptions: { parser: tseslint.parser },
  },
  {
    files: ['web/**/*.ts', 'web/**/*.vue'],
    ...tseslint.configs.disableTypeChecked,
    plugins: { '@typescript-eslint': tseslint.plugin },
    languageOptions: {
      parserOptions: {
        parser: tseslint.parser,
        extraFileExtensions: ['.vue'],
        sourceType: 'module',
      },
    },
    rules: {
      ...tseslint.configs.disableTypeChecked.rules,
      // TypeScript (vue-tsc) knows Nuxt's auto-imports; ESLint's scope analysis does not.
      'no-undef': 'off',
      'no-unused-vars': 'off',
      '@typescript-eslint/no-unused-vars': [
        'error',
        { argsIgnorePattern: '^_', varsIgnorePattern: '^_' },
      ],
    },
  },
  {
    files: ['web/**/*.vue'],
    rules: {
      'vue/no-v-html': 'error',
      'vue/multi-word-component-names': 'off',
      'vue/max-attributes-per-line': 'off',
      'vue/singleline-html-element-content-newline': 'off',
      'vue/html-self-closing': 'off',
      'vue/html-indent': 'off',
      'vue/html-closing-bracket-newline': 'off',
      'vue/multiline-html-element-content-newline': 'off',
    },
  },
);
