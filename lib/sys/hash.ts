/**
 * Hashes and random bytes without `node:crypto`, whose module set-up costs the Bun executable
 * ~2 ms per process: Bun's native hasher there, Web Crypto's random source everywhere, and
 * node:crypto (loaded on first use) only under Node.js.
 */
type Algorithm = 'sha256' | 'sha512';

function digestHex(algorithm: Algorithm, text: string): string {
  if (typeof Bun !== 'undefined') return new Bun.CryptoHasher(algorithm).update(text).digest('hex');
  // eslint-disable-next-line @typescript-eslint/no-require-imports -- Node.js only (tests)
  const { createHash } = require('node:crypto') as typeof import('node:crypto');
  return createHash(algorithm).update(text).digest('hex');
}

export const sha256hex = (text: string): string => digestHex('sha256', text);
export const sha512hex = (text: string): string => digestHex('sha512', text);

export function randomBytes(n: number): Buffer {
  return Buffer.from(crypto.getRandomValues(new Uint8Array(n)));
}
