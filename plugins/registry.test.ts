/** The registry against the examples: every conflist we ship starts with a plugin this executable contains. */
import { describe, expect, it } from '@jest/globals';
import { readdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parseConfList } from '../lib/runtime/config';
import { PLUGIN_NAMES } from './registry';

const EXAMPLES = resolve(__dirname, '..', 'examples');

describe('plugin registry', () => {
  it.each(readdirSync(EXAMPLES).filter((f) => f.endsWith('.conflist')))('example %s starts with one of ours', (f) => {
    const list = parseConfList(readFileSync(join(EXAMPLES, f)), f);
    expect(PLUGIN_NAMES).toContain(list.plugins[0]?.type);
  });
});
