/**
 * node:fs, loaded on first use. In the executable its module set-up costs ~170 page faults
 * (~5 MiB touched, a few ms of CPU on a loaded machine) and node:path's ~60; a VERSION call
 * needs neither, every other call loads node:fs once through here or a static import.
 */
// eslint-disable-next-line @typescript-eslint/no-require-imports -- loaded on first use, by design
export const nodeFs = (): typeof import('node:fs') => require('node:fs') as typeof import('node:fs');
