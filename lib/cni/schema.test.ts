/**
 * The config decoders (schema.ts): Go's encoding/json semantics — key matching, strict types,
 * null as absent, unknown keys dropped — and the exact error texts, each naming the path of the
 * offending value in the document.
 */
import { describe, expect, it } from '@jest/globals';
import { ConfigError } from './errors';
import * as t from './schema';

/** The DecodeError message `d` throws on `v`. */
const failure = (d: t.Decoder<unknown>, v: unknown): string => {
  try {
    d(v, []);
  } catch (e) {
    if (e instanceof t.DecodeError) return e.message;
    throw e;
  }
  throw new Error(`decoded ${JSON.stringify(v)} without an error`);
};

describe('scalars', () => {
  it('string, boolean: exactly that JSON type', () => {
    expect(t.string('x', [])).toBe('x');
    expect(t.boolean(false, [])).toBe(false);
    expect(failure(t.string, 5)).toBe('(root): expected string, got number');
    expect(failure(t.boolean, 'true')).toBe('(root): expected boolean, got string "true"');
    expect(failure(t.boolean, 1)).toBe('(root): expected boolean, got number');
  });

  it('int: a safe integer (Go rejects 1.5 and numbers in strings)', () => {
    expect(t.int(-3, [])).toBe(-3);
    expect(t.int(0, [])).toBe(0);
    expect(failure(t.int, 1.5)).toBe('(root): expected integer, got number');
    expect(failure(t.int, '1400')).toBe('(root): expected integer, got string "1400"');
    expect(failure(t.int, 2 ** 53)).toBe('(root): expected integer, got number');
    expect(failure(t.int, Number.NaN)).toBe('(root): expected integer, got number');
  });

  it('uint: non-negative, and an integer first', () => {
    expect(t.uint(0, [])).toBe(0);
    expect(t.uint(4096, [])).toBe(4096);
    expect(failure(t.uint, -1)).toBe('(root): expected non-negative integer, got number');
    expect(failure(t.uint, 0.5)).toBe('(root): expected integer, got number');
  });

  it('literal: one of the listed strings, all of them named in the message', () => {
    const mode = t.literal('l2', 'l3', 'l3s');
    expect(mode('l3', [])).toBe('l3');
    expect(failure(mode, 'L3')).toBe('(root): expected "l2" or "l3" or "l3s", got string "L3"');
    expect(failure(mode, 3)).toBe('(root): expected "l2" or "l3" or "l3s", got number');
  });

  it('what was got is described briefly: null, array, object, long strings cut at 40 characters', () => {
    expect(failure(t.string, null)).toBe('(root): expected string, got null');
    expect(failure(t.string, [])).toBe('(root): expected string, got array');
    expect(failure(t.string, {})).toBe('(root): expected string, got object');
    expect(failure(t.int, 'x'.repeat(50))).toBe(`(root): expected integer, got string "${'x'.repeat(40)}…"`);
  });
});

describe('optional', () => {
  it('absent and null read as undefined (Go leaves the field at its zero value)', () => {
    const d = t.optional(t.int);
    expect(d(undefined, [])).toBeUndefined();
    expect(d(null, [])).toBeUndefined();
    expect(d(7, [])).toBe(7);
    expect(failure(d, 'seven')).toBe('(root): expected integer, got string "seven"');
  });
});

describe('array', () => {
  it('decodes every item; a bad one is named by its index', () => {
    const d = t.array(t.string);
    expect(d(['a', 'b'], [])).toEqual(['a', 'b']);
    expect(d([], [])).toEqual([]);
    expect(failure(d, ['a', 2])).toBe('1: expected string, got number');
    expect(failure(d, 'a')).toBe('(root): expected array, got string "a"');
    expect(failure(d, { 0: 'a' })).toBe('(root): expected array, got object');
  });
});

describe('object', () => {
  const d = t.object({ mtu: t.optional(t.int), name: t.string, ipam: t.optional(t.object({ type: t.string })) });

  it('decodes its fields, drops unknown keys and leaves absent optional fields out', () => {
    expect(d({ name: 'n', other: true }, [])).toEqual({ name: 'n' });
    expect(Object.keys(d({ name: 'n', mtu: null }, []))).toEqual(['name']);
    expect(d({ name: 'n', mtu: 1500, ipam: { type: 'host-local', subnet: 'x' } }, [])).toEqual({
      name: 'n',
      mtu: 1500,
      ipam: { type: 'host-local' },
    });
  });

  it('keys match exactly, else case-insensitively; an exact key wins over a folded one', () => {
    expect(d({ NAME: 'a', Mtu: 9000 }, [])).toEqual({ name: 'a', mtu: 9000 });
    expect(d({ NAME: 'folded', name: 'exact' }, [])).toEqual({ name: 'exact' });
    expect(d({ name: 'exact', NAME: 'folded' }, [])).toEqual({ name: 'exact' });
  });

  it('errors name the path of the value: field, nested field, array index', () => {
    expect(failure(d, { name: 'n', mtu: '1500' })).toBe('mtu: expected integer, got string "1500"');
    expect(failure(d, {})).toBe('name: expected string, got undefined');
    expect(failure(d, { name: 'n', ipam: { type: 1 } })).toBe('ipam.type: expected string, got number');
    expect(failure(d, { name: 'n', ipam: [] })).toBe('ipam: expected object, got array');
    const ranges = t.object({
      ranges: t.array(t.array(t.object({ subnet: t.string }))),
    });
    expect(failure(ranges, { ranges: [[{ subnet: '10.0.0.0/24' }], [{}, { subnet: 5 }]] })).toBe(
      'ranges.1.0.subnet: expected string, got undefined',
    );
  });

  it('a path given by the caller prefixes every message', () => {
    expect(() => d({ name: 1 }, ['plugins', 0])).toThrow('plugins.0.name: expected string, got number');
  });

  it('the root must be an object', () => {
    expect(failure(d, null)).toBe('(root): expected object, got null');
    expect(failure(d, ['name'])).toBe('(root): expected object, got array');
    expect(failure(d, 'name')).toBe('(root): expected object, got string "name"');
  });

  it('an inherited key is never a field (no prototype pollution through the decoder)', () => {
    const parsed = JSON.parse('{"name":"n","__proto__":{"mtu":1}}') as unknown;
    expect(d(parsed, [])).toEqual({ name: 'n' });
    expect(({} as Record<string, unknown>)['mtu']).toBeUndefined();
  });
});

describe('foldKeys', () => {
  it('renames keys to the canonical spelling and drops the rest; non-objects pass through', () => {
    expect(t.foldKeys({ HostPort: 1, containerport: 2, extra: 3 }, ['hostPort', 'containerPort'])).toEqual({
      hostPort: 1,
      containerPort: 2,
    });
    expect(t.foldKeys({ HOSTPORT: 1, hostPort: 2 }, ['hostPort'])).toEqual({ hostPort: 2 });
    expect(t.foldKeys([1], ['a'])).toEqual([1]);
    expect(t.foldKeys(null, ['a'])).toBeNull();
  });
});

describe('parseWith', () => {
  const d = t.object({ portIsolation: t.optional(t.boolean), vlan: t.optional(t.array(t.int)) });

  it('returns the decoded value', () => {
    expect(t.parseWith(d, { PortIsolation: true }, 'bridge configuration')).toEqual({ portIsolation: true });
  });

  it('a failure is one ConfigError (code 7): "invalid <what>", the path and the reason in details', () => {
    let caught: unknown;
    try {
      t.parseWith(d, { vlan: [1, '2'] }, 'bridge configuration');
    } catch (e) {
      caught = e;
    }
    expect(caught).toBeInstanceOf(ConfigError);
    expect((caught as ConfigError).toJSON()).toEqual({
      code: 7,
      msg: 'invalid bridge configuration',
      details: 'vlan.1: expected integer, got string "2"',
    });
  });

  it('anything else a decoder throws passes through unchanged', () => {
    const boom = new Error('boom');
    const throwing: t.Decoder<never> = () => {
      throw boom;
    };
    expect(() => t.parseWith(throwing, {}, 'x')).toThrow(boom);
  });
});
