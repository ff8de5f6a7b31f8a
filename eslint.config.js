import js from '@eslint/js';
import tseslint from 'typescript-eslint';
import importX from 'eslint-plugin-import-x';

/**
 * Dependency direction (docs/architecture.md):
 *   cli → api | engine | runner | accounts | retention → security | observability → db → model
 * config is read by cli only and depends on model. runner never imports db.
 */
const layer = (target, from, message) => ({ target, from, message });
const zones = [
  layer(
    './src/model',
    [
      './src/config',
      './src/db',
      './src/observability',
      './src/security',
      './src/engine',
      './src/runner',
      './src/api',
      './src/accounts',
      './src/retention',
      './src/cli',
    ],
    'model is the bottom layer',
  ),
  layer(
    './src/config',
    [
      './src/db',
      './src/observability',
      './src/security',
      './src/engine',
      './src/runner',
      './src/api',
      './src/accounts',
      './src/retention',
      './src/cli',
    ],
    'config depends on model only',
  ),
  layer(
    './src/db',
    [
      './src/security',
      './src/engine',
      './src/runner',
      './src/api',
      './src/accounts',
      './src/retention',
      './src/cli',
    ],
    'db sits below security, engine, runner and api',
  ),
  layer(
    './src/observability',
    [
      './src/security',
      './src/engine',
      './src/runner',
      './src/api',
      './src/accounts',
      './src/retention',
      './src/cli',
    ],
    'observability sits below engine, runner and api',
  ),
  layer(
    './src/security',
    ['./src/engine', './src/runner', './src/api', './src/accounts', './src/retention', './src/cli'],
    'security sits below engine, runner and api',
  ),
  layer(
    './src/runner',
    ['./src/db', './src/api', './src/cli', './src/engine', './src/accounts'],
    'runner never imports db (it gets its inputs passed in)',
  ),
  layer('./src/engine', ['./src/api', './src/cli'], 'engine sits below api and cli'),
  layer(
    './src/accounts',
    ['./src/api', './src/cli', './src/engine', './src/runner'],
    'accounts sits below api and cli',
  ),
  layer('./src/retention', ['./src/api', './src/cli'], 'retention sits below cli'),
  layer('./src/api', ['./src/cli'], 'api sits below cli'),
];

export default tseslint.config(
  { ignores: ['node_modules', 'dist', '.switchyard', 'web/.nuxt', 'web/.output', 'coverage'] },
  js.configs.recommended,
  ...tseslint.configs.recommendedTypeChecked,
  {
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
);
