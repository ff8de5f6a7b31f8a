/**
 * The escape corpus of Python code steps (issue 11, item 1): known CPython sandbox escapes,
 * each run as a real step through the runner and its bubblewrap sandbox. Many of them DO get
 * past the Python-level restrictions (the allow-list is not a boundary); what each must not
 * reach is the host: a planted data dir (master.key, credentials.json), /etc/passwd, the
 * worker's /proc environ, the worker's environment, a local TCP server (which must see no
 * connection), a new process, the worker itself (a signal).
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pythonApp } from '../../src/model/builtin-apps.ts';
import type { StepResult } from '../../src/model/step.ts';
import { createPythonSandbox, type PythonSandbox } from '../../src/runner/code/python-sandbox.ts';
import { makeHarness, makeRequest, never, type Harness } from '../support/runner-harness.ts';

const masterKey = randomBytes(32).toString('hex');
const dbPassword = `pg-${randomBytes(12).toString('hex')}`;
const canary = `canary-${randomBytes(8).toString('hex')}`;
let dataDir: string;
let port: number;
let connections = 0;
let server: Server;
let sandbox: PythonSandbox;
let h: Harness;

function step(code: string) {
  const a = pythonApp.actions[0]!;
  return makeRequest({
    action: {
      kind: a.kind,
      inputSchema: a.inputSchema,
      outputSchema: a.outputSchema,
      implementation: a.implementation,
    },
    step: { input: { code } },
  });
}

/** `exec` recovered from the real builtins: arbitrary Python, past every AST check. */
const viaExec = (src: string) =>
  `import enum\nb = enum.sys.modules['builtins']\nscope = {'__builtins__': b}\nb.exec(${JSON.stringify(src)}, scope)\nreturn scope.get('out')`;

/** Recovers the bootstrap's unrestricted `_real_import` from a frame's globals. */
const realImport = (frameExpr: string, then: string) =>
  `import enum\nf = ${frameExpr}\nwhile f is not None and '_real_import' not in f.f_globals:\n    f = f.f_back\nimp = f.f_globals['_real_import']\n${then}`;

type Attack = { name: string; code: () => string };

const attacks: Attack[] = [
  {
    name: 'the reported attack: enum.sys → posix.open(<data dir>/master.key)',
    code: () =>
      `import enum; p = enum.sys.modules['posix']; fd = p.open(${JSON.stringify(`${dataDir}/master.key`)}, p.O_RDONLY); return p.read(fd, 200).decode()`,
  },
  {
    name: 'enum.sys → posix reads credentials.json (the database password)',
    code: () =>
      `import enum\np = enum.sys.modules['posix']\nfd = p.open(${JSON.stringify(`${dataDir}/credentials.json`)}, p.O_RDONLY)\nreturn p.read(fd, 500).decode()`,
  },
  {
    name: "enum.sys → posix reads the worker's /proc/<pid>/environ",
    code: () =>
      `import enum\np = enum.sys.modules['posix']\nfd = p.open('/proc/${process.pid}/environ', p.O_RDONLY)\nreturn p.read(fd, 5000).decode(errors='replace')`,
  },
  {
    name: 'enum.sys → posix reads /etc/passwd',
    code: () =>
      `import enum\np = enum.sys.modules['posix']\nfd = p.open('/etc/passwd', p.O_RDONLY)\nreturn p.read(fd, 5000).decode()`,
  },
  {
    name: 'enum.sys → posix lists the data dir and the filesystem root',
    code: () =>
      `import enum\np = enum.sys.modules['posix']\nreturn [p.listdir('/'), '|'.join(sorted(p.listdir(${JSON.stringify(dataDir)})))]`,
  },
  {
    name: 'the real builtins.open through sys.modules',
    code: () =>
      `import enum\nreturn enum.sys.modules['builtins'].open(${JSON.stringify(`${dataDir}/master.key`)}).read()`,
  },
  {
    name: '__builtins__ recovery through an allowed module: uuid.os reads the environment',
    code: () => `import uuid\nreturn dict(uuid.os.environ)`,
  },
  {
    name: 'an allowed module’s imports: json.codecs.open /etc/passwd',
    code: () => `import json\nreturn json.codecs.open('/etc/passwd').read()`,
  },
  {
    name: 'importlib from sys.modules imports socket and connects to the local server',
    code: () =>
      `import enum\nsocket = enum.sys.modules['importlib'].import_module('socket')\ns = socket.create_connection(('127.0.0.1', ${port}), timeout=1)\nreturn 'connected'`,
  },
  {
    name: 'exec from the real builtins: a raw socket to the local server',
    code: () =>
      viaExec(
        `import socket\ns = socket.socket(socket.AF_INET, socket.SOCK_STREAM)\ns.connect(('127.0.0.1', ${port}))\nout = 'connected'`,
      ),
  },
  {
    name: 'exec: fork, and the child connects to the local server',
    code: () =>
      viaExec(
        `import os, socket\npid = os.fork()\nif pid == 0:\n    socket.create_connection(('127.0.0.1', ${port}))\n    os._exit(0)\nout = pid`,
      ),
  },
  {
    name: 'exec: subprocess runs cat /etc/passwd',
    code: () =>
      viaExec(
        `import subprocess\nout = subprocess.run(['cat', '/etc/passwd'], capture_output=True).stdout.decode()`,
      ),
  },
  {
    name: 'exec: os.execv replaces the interpreter with one that opens a socket',
    code: () =>
      viaExec(
        `import os, sys\nos.execv(sys.executable, [sys.executable, '-c', "import socket; socket.create_connection(('127.0.0.1', ${port}))"])`,
      ),
  },
  {
    name: 'exec: ctypes calls socket(2) directly',
    code: () =>
      viaExec(
        `import ctypes\nlibc = ctypes.CDLL(None)\nout = libc.socket(2, 1, 0)\nassert out >= 0, 'refused'`,
      ),
  },
  {
    name: 'exec: memfd_create, to load a program from memory',
    code: () => viaExec(`import os\nout = os.memfd_create('x')`),
  },
  {
    name: 'exec: kill the worker process by its pid',
    code: () =>
      viaExec(`import os, signal\nos.kill(${process.pid}, signal.SIGKILL)\nout = 'killed'`),
  },
  {
    name: 'exec: setuid 0 and chroot to regain privileges',
    code: () =>
      viaExec(`import os\nos.setuid(0)\nos.chroot('/')\nout = 'escalated: ' + str(os.getuid())`),
  },
  {
    name: 'exec: pickle.loads runs subprocess.check_output',
    code: () =>
      viaExec(
        `import pickle\nout = pickle.loads(b"csubprocess\\ncheck_output\\n((S'cat'\\nS'/etc/passwd'\\nltR.").decode()`,
      ),
  },
  {
    name: 'generator gi_frame.f_back walk to the bootstrap globals → _real_import(os)',
    code: () =>
      `def g():\n    yield gen.gi_frame.f_back\ngen = g()\nf = next(gen)\nwhile f is not None and '_real_import' not in f.f_globals:\n    f = f.f_back\nos = f.f_globals['_real_import']('os')\nreturn os.open(${JSON.stringify(`${dataDir}/master.key`)}, os.O_RDONLY)`,
  },
  {
    name: 'traceback frames via sys.exc_info → _real_import(socket)',
    code: () =>
      realImport(
        'None\ntry:\n    1 / 0\nexcept ZeroDivisionError:\n    f = enum.sys.exc_info()[2].tb_frame',
        `socket = imp('socket')\nsocket.create_connection(('127.0.0.1', ${port}))\nreturn 'connected'`,
      ),
  },
  {
    name: 'gc.get_objects finds the real import machinery and reads /proc/self/environ',
    code: () =>
      `import enum\ngc = enum.sys.modules['importlib'].import_module('gc')\nfor o in gc.get_objects():\n    if isinstance(o, dict) and '_real_import' in o:\n        os = o['_real_import']('os')\n        return os.open('/proc/self/environ', os.O_RDONLY)\nreturn 'not found'`,
  },
  {
    name: 'gc.get_referrers of an allowed module finds its globals and opens /etc/shadow',
    code: () =>
      `import enum, json\ngc = enum.sys.modules['importlib'].import_module('gc')\nrefs = [r for r in gc.get_referrers(json) if isinstance(r, dict) and 'open' in r]\nopen_ = refs[0]['open'] if refs else enum.sys.modules['builtins'].open\nreturn open_('/etc/shadow').read()`,
  },
  {
    name: 'str.format attribute reads reach os through a function’s globals',
    code: () =>
      `import enum\nleak = '{0.__globals__[sys].modules[os].environ}'.format(enum.unique)\nreturn leak`,
  },
  {
    name: 'codecs.open through sys.modules reads /proc/1/environ and /proc/self/maps',
    code: () =>
      `import enum\nc = enum.sys.modules['codecs']\nreturn [c.open('/proc/1/environ').read(), c.open('/proc/self/maps').read()]`,
  },
  {
    name: '/proc/<worker pid>/root leads into the host file system',
    code: () =>
      `import enum\nb = enum.sys.modules['builtins']\nreturn b.open('/proc/${process.pid}/root${dataDir}/master.key').read()`,
  },
  {
    name: 'write a file for a later step (no writable place)',
    code: () =>
      `import enum\nb = enum.sys.modules['builtins']\nwith b.open('/tmp/planted.py', 'w') as f:\n    f.write('x')\nreturn 'written'`,
  },
];

/** What must never come back from a step, in its output, error or logs. */
function leaked(text: string): string[] {
  const found: string[] = [];
  for (const [what, marker] of [
    ['master key', masterKey],
    ['database password', dbPassword],
    ['/etc/passwd', 'root:x:0:0'],
    ["the worker's environment", 'PATH='],
    ["the worker's canary variable", canary],
    ['the data dir listing', 'credentials.json|master.key'],
    ['a connection', 'connected'],
    ['a signal to the worker', 'killed'],
    ['privileges', 'escalated:'],
  ] as const)
    if (text.includes(marker)) found.push(what);
  return found;
}

beforeAll(async () => {
  dataDir = mkdtempSync(join(tmpdir(), 'sy-escape-'));
  writeFileSync(join(dataDir, 'master.key'), masterKey);
  writeFileSync(join(dataDir, 'credentials.json'), JSON.stringify({ password: dbPassword }));
  process.env.SY_ESCAPE_CANARY = canary;
  server = createServer((s) => {
    connections += 1;
    s.destroy();
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  port = (server.address() as { port: number }).port;
  sandbox = createPythonSandbox({
    pythonPath: 'python3',
    bwrapPath: '/usr/bin/bwrap',
    warmPoolSize: 2,
  });
  expect(await sandbox.status()).toMatchObject({ available: true });
  h = makeHarness({ code: { timeoutMs: 3_000, memoryLimitMb: 64 }, python: sandbox });
});

afterAll(async () => {
  sandbox.close();
  delete process.env.SY_ESCAPE_CANARY;
  await new Promise((r) => server.close(r));
  rmSync(dataDir, { recursive: true, force: true });
});

describe('Python escape corpus: every attempt stays inside the sandbox', () => {
  it('has at least 20 attacks', () => expect(attacks.length).toBeGreaterThanOrEqual(20));

  it.each(attacks)('$name', async ({ code }) => {
    const r: StepResult = await h.runner.execute(step(code()), never);
    const lines = h.logs.at(-1)!.lines;
    // The step's input is its own code (which names its targets): only what came back counts.
    const seen = JSON.stringify({ r: { ...r, input: undefined }, lines });
    expect(leaked(seen), seen).toEqual([]);
    // Not vacuous: each attempt got past the Python-level restrictions (no E_CODE_FORBIDDEN);
    // what stopped it was the sandbox.
    expect(r.status === 'failed' ? r.error.code : r.status).not.toBe('E_CODE_FORBIDDEN');
    expect(connections).toBe(0);
  });

  it('the reported attack gets past the Python layer and is stopped by the sandbox', async () => {
    const r = await h.runner.execute(step(attacks[0]!.code()), never);
    expect(r.status).toBe('failed');
    if (r.status !== 'failed') return;
    // The escape worked at the Python level (posix.open ran); the file is simply not there.
    expect(r.error.code).toBe('E_CODE_ERROR');
    expect(r.error.message).toMatch(/FileNotFoundError/);
  });

  it('a fork and a socket are refused by the kernel, not by Python', async () => {
    const r = await h.runner.execute(
      step(
        viaExec(
          `import os, socket\nres = []\nfor f in (os.fork, lambda: socket.socket()):\n    try:\n        f()\n        res.append('allowed')\n    except OSError as e:\n        res.append(e.strerror)\nout = res`,
        ),
      ),
      never,
    );
    expect(r, JSON.stringify(r)).toMatchObject({
      status: 'succeeded',
      output: ['Operation not permitted', 'Operation not permitted'],
    });
  });

  it('the worker is still alive and Python steps still work', async () => {
    expect(await h.runner.execute(step('return 40 + 2'), never)).toMatchObject({
      status: 'succeeded',
      output: 42,
    });
    expect(connections).toBe(0);
  });
});
