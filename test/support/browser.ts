/**
 * A real browser for the web app's tests: Debian's Chromium driven by playwright-core, in a
 * fresh profile, with the network closed except for 127.0.0.1. Every page's console errors,
 * CSP violations and dialogs are collected so a test can assert there were none.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { chromium, type BrowserContext, type Page } from 'playwright-core';

const require = createRequire(import.meta.url);
const axeSource = readFileSync(require.resolve('axe-core/axe.min.js'), 'utf8');

export const CHROMIUM_PATH = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

export type TestBrowser = {
  context: BrowserContext;
  page: Page;
  /** Console errors, CSP violations, page errors and dialogs seen so far. */
  problems: string[];
  close(): Promise<void>;
};

export async function openBrowser(
  opts: { colorScheme?: 'light' | 'dark' } = {},
): Promise<TestBrowser> {
  const profile = await mkdtemp(path.join(os.tmpdir(), 'switchyard-chromium-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM_PATH,
    headless: true,
    colorScheme: opts.colorScheme ?? 'light',
    viewport: { width: 1280, height: 800 },
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1, EXCLUDE localhost',
    ],
  });
  const problems: string[] = [];
  const watch = (page: Page) => {
    page.on('console', (m) => {
      if (m.type() === 'error') problems.push(`console: ${m.text()}`);
    });
    page.on('pageerror', (e) => problems.push(`pageerror: ${e.message}`));
    page.on('dialog', (d) => {
      problems.push(`dialog: ${d.message()}`);
      void d.dismiss();
    });
  };
  context.on('page', watch);
  const page = context.pages()[0] ?? (await context.newPage());
  watch(page);
  return {
    context,
    page,
    problems,
    async close() {
      await context.close();
      await rm(profile, { recursive: true, force: true });
    },
  };
}

export type AxeViolation = {
  id: string;
  impact: string | null;
  help: string;
  /** The first few offending elements, as CSS selectors, with axe's summary of each. */
  nodes: string[];
};

/** Waits (up to 5 s) until no finite animation runs: a fade or ripple half-way is not what people read. */
async function animationsSettled(page: Page): Promise<void> {
  const deadline = Date.now() + 5_000;
  while (Date.now() < deadline) {
    const running = await page.evaluate(
      () =>
        document
          .getAnimations()
          .filter(
            (a) =>
              a.playState === 'running' && a.effect?.getComputedTiming().iterations !== Infinity,
          ).length,
    );
    if (running === 0) return;
    await new Promise((r) => setTimeout(r, 50));
  }
}

/**
 * axe-core on the page once its finite animations have ended (colours measured mid-fade, e.g.
 * a dialog's overlay coming in, are not the ones people read). Evaluated through the DevTools
 * protocol, so the page's CSP (which refuses injected scripts, as it should) does not have to
 * be relaxed for it.
 */
export async function seriousAxeViolations(page: Page): Promise<AxeViolation[]> {
  // A violation is what stays: a page caught mid-transition (a floating label's colour on its
  // way, a dialog fading in) is checked again once it has settled, up to twice.
  let found = await axeOnce(page);
  for (let again = 0; again < 2 && found.length > 0; again++) {
    await page.waitForTimeout(300);
    found = await axeOnce(page);
  }
  return found;
}

async function axeOnce(page: Page): Promise<AxeViolation[]> {
  await animationsSettled(page);
  await page.evaluate(axeSource);
  const violations = await page.evaluate(async () => {
    type Node = { target: string[]; failureSummary?: string };
    type Result = { id: string; impact: string | null; help: string; nodes: Node[] };
    const axe = (
      globalThis as unknown as { axe: { run: (c: unknown) => Promise<{ violations: Result[] }> } }
    ).axe;
    const res = await axe.run(document);
    return res.violations.map((v) => ({
      id: v.id,
      impact: v.impact,
      help: v.help,
      nodes: v.nodes.slice(0, 4).map((n) => `${n.target.join(' ')}: ${n.failureSummary ?? ''}`),
    }));
  });
  return violations.filter((v) => v.impact === 'serious' || v.impact === 'critical');
}

/**
 * A picture for docs/ui.md's tour: written to docs/ui/<name>.png only when the screenshots are
 * being regenerated (`npm run docs:ui`), so that they never go stale and tests write nothing.
 */
export async function tourShot(page: Page, name: string): Promise<void> {
  if (process.env.UI_SCREENSHOTS !== '1') return;
  await page.screenshot({
    path: path.join(import.meta.dirname, '..', '..', 'docs', 'ui', `${name}.png`),
  });
}

/** Replaces a code editor's text as a person pasting would (no bracket auto-closing). */
export async function fillEditor(page: Page, name: string | RegExp, text: string): Promise<void> {
  await page.getByRole('textbox', { name }).click();
  await page.keyboard.press('ControlOrMeta+a');
  await page.keyboard.press('Delete');
  await page.keyboard.insertText(text);
}

/**
 * Picks a step's action in the editor as a person does (typed: the picker pages the catalogue's
 * many actions), and waits until the field shows it: under load a click can land while the
 * menu is still opening, so an unanswered choice is made again.
 */
export async function chooseAction(page: Page, name: string): Promise<void> {
  const chosen = page.locator('.v-autocomplete__selection', { hasText: name });
  for (let attempt = 0; attempt < 3 && !(await chosen.isVisible()); attempt++) {
    await page.getByRole('combobox', { name: 'Action' }).click();
    await page.getByRole('combobox', { name: 'Action' }).fill(name);
    await page.getByRole('option', { name }).click();
    await chosen.waitFor({ timeout: 3_000 }).catch(() => undefined);
  }
  await chosen.waitFor();
}
