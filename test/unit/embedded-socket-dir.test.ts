import { describe, expect, it } from 'vitest';
import { socketDirFor } from '../../src/db/embedded.ts';
import { describeTarget } from '../../src/db/pool.ts';

describe('the embedded PostgreSQL socket directory', () => {
  it('is the cluster directory when the socket path fits a socket address', () => {
    expect(socketDirFor('/var/lib/switchyard/embedded/cluster-ab12/pg', 54329)).toBe(
      '/var/lib/switchyard/embedded/cluster-ab12/pg',
    );
    const longest = `/${'a'.repeat(100 - '/.s.PGSQL.54329'.length - 1)}`;
    expect(socketDirFor(longest, 54329)).toBe(longest);
    expect(socketDirFor(`${longest}b`, 54329)).toBeUndefined();
  });

  it('is none for a path that unix_socket_directories would have to quote', () => {
    expect(socketDirFor('/srv/my data/pg', 54329)).toBeUndefined();
    expect(socketDirFor('/srv/a,b/pg', 54329)).toBeUndefined();
    expect(socketDirFor("/srv/o'neil/pg", 54329)).toBeUndefined();
  });

  it('names the socket, not 127.0.0.1, in connection errors', () => {
    expect(describeTarget('postgres://u:p@127.0.0.1:54329/switchyard?host=%2Fsrv%2Fpg')).toBe(
      '/srv/pg/.s.PGSQL.54329',
    );
    expect(describeTarget('postgres://u:p@127.0.0.1:54329/switchyard')).toBe('127.0.0.1:54329');
  });
});
