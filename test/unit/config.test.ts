import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/index.ts';
import { SwitchyardError } from '../../src/model/errors.ts';

function problems(env: Record<string, string>): string[] {
  try {
    loadConfig(env);
  } catch (err) {
    expect(err).toBeInstanceOf(SwitchyardError);
    return ((err as SwitchyardError).details.problems as string[]) ?? [];
  }
  throw new Error('expected the configuration to be refused');
}

describe('configuration', () => {
  it('has defaults for a laptop start', () => {
    const c = loadConfig({});
    expect(c.server).toEqual({
      host: '127.0.0.1',
      port: 3000,
      workerMetricsPort: null,
      webAppDir: expect.stringMatching(/\/web\/\.output\/public$/) as unknown,
    });
    expect(c.database.ownerUrl).toBeUndefined();
    expect(c.database.dataDir).toMatch(/\.switchyard$/);
    expect(c.log.level).toBe('info');
  });

  it('names the variable, the bad value and what is expected', () => {
    expect(problems({ PORT: 'abc' })).toEqual([
      'PORT="abc": expected a whole number from 1 to 65535',
    ]);
    expect(problems({ PORT: '70000' })).toEqual([
      'PORT="70000": expected a whole number from 1 to 65535',
    ]);
    expect(problems({ LOG_LEVEL: 'loud' })).toEqual([
      'LOG_LEVEL="loud": expected one of fatal, error, warn, info, debug, trace, silent',
    ]);
    expect(problems({ DATABASE_URL: 'mysql://x' })).toEqual([
      'DATABASE_URL="mysql://x": expected a URL like postgres://user:password@host:5432/database',
    ]);
  });

  it('reports every bad variable at once', () => {
    expect(problems({ PORT: 'x', DATABASE_POOL_MAX: '0', LOG_LEVEL: 'x' })).toHaveLength(3);
  });

  it('requires the runtime role password with an external database', () => {
    expect(problems({ DATABASE_URL: 'postgres://owner:pw@db:5432/sy' })).toEqual([
      'DATABASE_APP_PASSWORD=(unset): expected the runtime role password (or DATABASE_APP_URL) when DATABASE_URL is set',
    ]);
    expect(
      loadConfig({
        DATABASE_URL: 'postgres://owner:pw@db:5432/sy',
        DATABASE_APP_PASSWORD: 'a-long-password',
      }).database.appPassword,
    ).toBe('a-long-password');
  });

  it('takes a direct LISTEN URL and unnamed statements for a transaction pooler', () => {
    expect(loadConfig({}).database.listenUrl).toBeUndefined();
    const direct = 'postgres://switchyard_app:pw@db:5432/sy';
    expect(loadConfig({ DATABASE_LISTEN_URL: direct }).database.listenUrl).toBe(direct);
    expect(loadConfig({}).database.preparedStatements).toBe(true);
    expect(loadConfig({ DATABASE_PREPARED_STATEMENTS: 'false' }).database.preparedStatements).toBe(
      false,
    );
    expect(problems({ DATABASE_LISTEN_URL: 'http://db' })).toEqual([
      'DATABASE_LISTEN_URL="http://db/": expected a URL like postgres://user:password@host:5432/database',
    ]);
  });

  it('never echoes secret values back', () => {
    const out = problems({
      DATABASE_APP_PASSWORD: 'short',
      DATABASE_URL: 'postgres://u:hunter2secret@db/x',
      PORT: 'x',
    });
    expect(out.join('\n')).not.toMatch(/short|hunter2secret/);
    expect(out).toContain('DATABASE_APP_PASSWORD="***": expected at least 12 characters');
  });

  it('treats empty variables as unset', () => {
    expect(loadConfig({ PORT: '', HOST: '', WEB_APP_DIR: '' }).server).toEqual({
      host: '127.0.0.1',
      port: 3000,
      workerMetricsPort: null,
      webAppDir: expect.stringMatching(/\/web\/\.output\/public$/) as unknown,
    });
  });
});
