/**
 * Durations of definition version 2 (`delay.duration`, `waitForEvent.timeout`): units `d`,
 * `h`, `m`, `s`, `ms`, largest first, each at most once: `"90s"`, `"15m"`, `"1h30m"`, `"30d"`.
 * Shared by the save check (catalog/definition-v2.ts) and the compiler (compile-program.ts).
 */

const DURATION = /^(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?(?:(\d+)ms)?$/;
const UNIT_MS = [86_400_000, 3_600_000, 60_000, 1_000, 1];

/** The longest wait a definition may ask for: a year. */
export const MAX_DURATION_MS = 365 * 86_400_000;

/** Milliseconds, or null when `text` is not a duration (empty, unknown unit, wrong order). */
export function parseDuration(text: string): number | null {
  const m = DURATION.exec(text.trim());
  if (!m || text.trim() === '') return null;
  let ms = 0;
  for (let i = 0; i < UNIT_MS.length; i++)
    if (m[i + 1] !== undefined) ms += Number(m[i + 1]) * UNIT_MS[i]!;
  return ms;
}
