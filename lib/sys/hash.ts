/**
 * Hashes and random bytes without `node:crypto`, whose module set-up costs the Bun executable
 * ~2 ms per process: Bun's native hasher there, Web Crypto's random source everywhere, and
 * node:crypto (loaded on first use) only under Node.js.
 */
import { rawBytes } from './raw-text';

type Algorithm = 'sha256' | 'sha512';

/** The hash of the text's bytes as the reference has them (see raw-text.ts). */
function digestHex(algorithm: Algorithm, text: string): string {
  const bytes = rawBytes(text);
  if (typeof Bun !== 'undefined') return new Bun.CryptoHasher(algorithm).update(bytes).digest('hex');
  // eslint-disable-next-line @typescript-eslint/no-require-imports -- Node.js only (tests)
  const { createHash } = require('node:crypto') as typeof import('node:crypto');
  return createHash(algorithm).update(bytes).digest('hex');
}

export const sha256hex = (text: string): string => digestHex('sha256', text);
export const sha512hex = (text: string): string => digestHex('sha512', text);

export function randomBytes(n: number): Buffer {
  return Buffer.from(crypto.getRandomValues(new Uint8Array(n)));
}
