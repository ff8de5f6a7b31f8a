/**
 * Code steps get a connection's secret only through their input; what they log and return is
 * scrubbed, and a long log line is cut after scrubbing, so a secret straddling the cut leaves
 * no part behind.
 */
import { describe, expect, it } from 'vitest';
import { javascriptApp, pythonApp } from '../../src/model/builtin-apps.ts';
import type { StepResult } from '../../src/model/step.ts';
import { addConnection, makeHarness, makeRequest, never } from '../support/runner-harness.ts';

const SECRET = 'sec-Qw8Zr4Lm2Xk7';

describe.each([
  { lang: 'javascript', app: javascriptApp },
  { lang: 'python', app: pythonApp },
])('$lang code steps', ({ lang, app }) => {
  it('what a code step logs and returns holds no part of its connection’s secret', async () => {
    const h = makeHarness({ code: { timeoutMs: 2_000, memoryLimitMb: 32 } });
    const connectionId = addConnection(h, { authKind: 'bearer', secret: { token: SECRET } });
    const code =
      lang === 'javascript'
        ? `console.log('x'.repeat(3995) + input.s); console.log('plain ' + input.s); return { echoed: input.s };`
        : `print('x' * 3995 + input['s'])\nprint('plain ' + input['s'])\nreturn {'echoed': input['s']}`;
    const a = app.actions[0]!;
    const r: StepResult = await h.runner.execute(
      makeRequest({
        action: {
          kind: a.kind,
          inputSchema: a.inputSchema,
          outputSchema: a.outputSchema,
          implementation: a.implementation,
        },
        step: { connectionId, input: { code, s: SECRET } },
      }),
      never,
    );
    expect(r).toMatchObject({ status: 'succeeded', output: { echoed: '[secret]' } });
    const stored = JSON.stringify(h.logs);
    expect(stored).toContain('plain [secret]');
    // The long line was cut at 4,000 characters after the secret was replaced.
    expect(stored).not.toContain(SECRET.slice(0, 5));
  });
});
