/**
 * The typed error at the protocol edge (errors.ts): what toCniError maps to which code, and
 * several failures combined into one CniError that keeps the first code and every message.
 */
import { describe, expect, it } from '@jest/globals';
import { ExecError } from '../exec/runner';
import { LockError } from '../sys/flock';
import { CniError, combinedError, ConfigError, ErrorCode, Failures, foreignCode, toCniError } from './errors';

describe('toCniError', () => {
  it('passes CniError through, maps the rest to 999', () => {
    const e = new CniError(11, 'x');
    expect(toCniError(e)).toBe(e);
    expect(toCniError(new ExecError('ip link', 2, '', 'oops')).code).toBe(999);
    expect(toCniError(new Error('m')).msg).toBe('m');
    expect(toCniError('s').code).toBe(999);
    expect(new ConfigError('bad').code).toBe(7);
  });
  it('a lock that could not be taken is code 11 (try again later), naming the lock', () => {
    const err = toCniError(new LockError('the port-forwarding setup', 'cannot lock /run/tscni/x.lock: errno 5'));
    expect(err.toJSON()).toEqual({
      code: ErrorCode.TryAgainLater,
      msg: 'failed to lock the port-forwarding setup',
      details: 'cannot lock /run/tscni/x.lock: errno 5',
    });
    // The IPAM store's keeps the reference's message.
    expect(toCniError(new LockError('the IPAM store', 'x')).msg).toBe('failed to lock the IPAM store');
  });
});

describe('combinedError', () => {
  const lock = new CniError(ErrorCode.TryAgainLater, 'failed to lock the IPAM store', 'errno 11');
  const delegated = new CniError(foreignCode(123), 'plugin said no');

  it('nothing failed: nothing to throw', () => {
    expect(combinedError([])).toBeUndefined();
  });

  it('one failure without a step is passed on as it was', () => {
    expect(combinedError([{ error: lock }])).toBe(lock);
    expect(combinedError([{ error: new Error('plain') }])?.toJSON()).toEqual({ code: 999, msg: 'plain' });
  });

  it('one failure with a step: the step before its message, details kept apart', () => {
    expect(combinedError([{ step: 'IPAM GC', error: lock }])?.toJSON()).toEqual({
      code: 11,
      msg: 'IPAM GC: failed to lock the IPAM store',
      details: 'errno 11',
    });
  });

  it('several: the first code (a delegate’s own too), every message in order with its step and details', () => {
    const e = combinedError([
      { step: 'IPAM GC', error: delegated },
      { step: 'masquerade GC', error: new ExecError('iptables-restore', 4, '', 'resource busy') },
      { error: lock },
    ]);
    expect(e?.toJSON()).toEqual({
      code: 123,
      msg:
        'IPAM GC: plugin said no; ' +
        'masquerade GC: command failed (exit code 4): iptables-restore: resource busy; ' +
        'failed to lock the IPAM store: errno 11',
    });
  });
});

describe('Failures', () => {
  it('collects rejections under their step and throws them as one; nothing when all went well', async () => {
    const f = new Failures();
    f.throwIfAny();
    await Promise.reject(new CniError(ErrorCode.IOFailure, 'disk full')).catch(f.of('IPAM GC'));
    await Promise.resolve().catch(f.of('never'));
    await Promise.reject(new Error('gone')).catch(f.of());
    expect(f.list).toHaveLength(2);
    expect(() => f.throwIfAny()).toThrow(new CniError(ErrorCode.IOFailure, 'IPAM GC: disk full; gone'));
    let thrown: unknown;
    try {
      f.throwIfAny();
    } catch (e) {
      thrown = e;
    }
    expect((thrown as CniError).code).toBe(5);
  });
});
