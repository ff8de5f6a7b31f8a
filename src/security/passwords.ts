import { hash, verify } from '@node-rs/argon2';

/**
 * Passwords: argon2id (the library's default algorithm) with OWASP's minimum profile
 * (19 MiB, 2 passes, 1 lane): about 20 ms here, slow enough to make offline guessing costly,
 * fast enough not to become a denial-of-service lever behind the sign-in rate limits.
 */
const options = { memoryCost: 19_456, timeCost: 2, parallelism: 1 } as const;

export const MIN_PASSWORD_LENGTH = 10;

export function hashPassword(password: string): Promise<string> {
  return hash(password, options);
}

export async function verifyPassword(stored: string, password: string): Promise<boolean> {
  try {
    return await verify(stored, password);
  } catch {
    // A malformed stored hash never signs anyone in.
    return false;
  }
}

/**
 * A hash of nothing in particular, verified when the email is unknown so that "no such user"
 * takes as long as "wrong password" (no account enumeration by timing).
 */
let decoy: Promise<string> | undefined;
export async function burnPasswordCheck(password: string): Promise<void> {
  decoy ??= hashPassword('decoy-password-for-timing');
  await verifyPassword(await decoy, password);
}
