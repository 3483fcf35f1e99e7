/**
 * A plugin's default state directory against a planted link (issue 20, the class of the fuzzer's
 * VLAN finding): our default (`own`) replaces a link planted where it goes, its target untouched;
 * a configured dataDir is the operator's and its links are followed. `write` stores one record in
 * `dir` through the plugin's store.
 */
import { afterEach, beforeEach, describe, expect, it } from '@jest/globals';
import { lstatSync, mkdirSync, mkdtempSync, readdirSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export function describeStateDir(name: string, write: (dir: string, own: boolean) => void): void {
  describe(`${name} state directory`, () => {
    let root: string;
    let victim: string;
    beforeEach(() => {
      root = mkdtempSync(join(tmpdir(), 'state-dir-'));
      victim = join(root, 'victim');
      mkdirSync(victim);
      mkdirSync(join(root, 'state'));
    });
    afterEach(() => rmSync(root, { recursive: true, force: true }));

    it('our default: a link planted at it is replaced, never written through', () => {
      const dir = join(root, 'state', 'ours');
      symlinkSync(victim, dir);
      write(dir, true);
      expect(lstatSync(dir).isDirectory()).toBe(true);
      expect(readdirSync(victim)).toEqual([]);
      expect(readdirSync(dir).length).toBeGreaterThan(0);
    });

    it("a configured dataDir: the operator's link is followed", () => {
      const dir = join(root, 'state', 'configured');
      symlinkSync(victim, dir);
      write(dir, false);
      expect(lstatSync(dir).isSymbolicLink()).toBe(true);
      expect(readdirSync(victim).length).toBeGreaterThan(0);
    });
  });
}
