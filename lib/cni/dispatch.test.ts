import { describe, expect, it } from '@jest/globals';
import { dispatch } from './dispatch';
import type { PluginFuncs } from './plugin';
import { CniError } from './errors';
import type { PluginIO } from './io';

interface Outcome {
  code: number;
  stdout: string;
  stderr: string;
  json: Record<string, unknown> | undefined;
  stdinRead: boolean;
}

const attach = { CNI_CONTAINERID: 'c1', CNI_NETNS: '/run/netns/none', CNI_IFNAME: 'eth0', CNI_PATH: '/nonexistent' };
const conf = (extra: Record<string, unknown> = {}): string =>
  JSON.stringify({ cniVersion: '1.1.0', name: 'net1', type: 'x', ...extra });

async function call(
  env: Record<string, string>,
  stdin = conf(),
  funcs: PluginFuncs = {},
  about = 'about text',
): Promise<Outcome> {
  let stdout = '';
  let stderr = '';
  let stdinRead = false;
  const io: PluginIO = {
    env,
    readStdin: async () => {
      stdinRead = true;
      return Buffer.from(stdin);
    },
    stdout: (t) => (stdout += t),
    stderr: (t) => (stderr += t),
  };
  const code = await dispatch({ about, load: async () => funcs }, io);
  let json: Record<string, unknown> | undefined;
  try {
    json = stdout ? (JSON.parse(stdout) as Record<string, unknown>) : undefined;
  } catch {
    json = undefined;
  }
  return { code, stdout, stderr, json, stdinRead };
}

describe('environment', () => {
  it('prints the about text to stderr and exits 0 without CNI_COMMAND', async () => {
    const r = await call({});
    expect(r.code).toBe(0);
    expect(r.stdout).toBe('');
    expect(r.stderr).toContain('about text');
    expect(r.stderr).toContain('CNI protocol versions supported: 0.1.0, 0.2.0, 0.3.0, 0.3.1, 0.4.0, 1.0.0, 1.1.0');
  });
  it('without an about text a missing CNI_COMMAND is code 4', async () => {
    const r = await call({}, conf(), {}, '');
    expect(r.json).toMatchObject({ code: 4, msg: 'required env variables [CNI_COMMAND] missing' });
  });
  it.each([
    ['ADD', {}, '[CNI_CONTAINERID,CNI_NETNS,CNI_IFNAME,CNI_PATH]'],
    ['DEL', {}, '[CNI_CONTAINERID,CNI_IFNAME,CNI_PATH]'],
    ['CHECK', { CNI_CONTAINERID: 'x' }, '[CNI_NETNS,CNI_IFNAME,CNI_PATH]'],
    ['GC', {}, '[CNI_PATH]'],
    ['STATUS', {}, '[CNI_PATH]'],
    ['ADD', { CNI_CONTAINERID: '', CNI_NETNS: '', CNI_IFNAME: 'eth0', CNI_PATH: '/x' }, '[CNI_CONTAINERID,CNI_NETNS]'],
  ])('%s lists every missing variable in order', async (cmd, env, list) => {
    const r = await call({ CNI_COMMAND: cmd, ...env });
    expect(r.code).toBe(1);
    expect(r.json).toMatchObject({ code: 4, msg: `required env variables ${list} missing` });
    expect(r.stdinRead).toBe(false);
  });
  it.each([
    ['CNI_CONTAINERID', '../etc', 'invalid characters in containerID'],
    ['CNI_CONTAINERID', 'a;b', 'invalid characters in containerID'],
    ['CNI_CONTAINERID', '$(id)', 'invalid characters in containerID'],
    ['CNI_IFNAME', 'a/b', 'interface name contains / or : or whitespace characters'],
    ['CNI_IFNAME', 'eth 0', 'interface name contains / or : or whitespace characters'],
    ['CNI_IFNAME', '..', 'interface name is . or ..'],
    ['CNI_IFNAME', 'abcdefghijklmnop', 'interface name is too long'],
  ])('%s=%s is rejected with code 4', async (key, value, msg) => {
    const r = await call({ CNI_COMMAND: 'ADD', ...attach, [key]: value });
    expect(r.json).toMatchObject({ code: 4, msg });
  });
  it('an invalid value wins over missing ones after it', async () => {
    const r = await call({ CNI_COMMAND: 'ADD', CNI_CONTAINERID: 'bad/id' });
    expect(r.json).toMatchObject({ code: 4, msg: 'invalid characters in containerID' });
  });
});

describe('VERSION', () => {
  it('answers without reading stdin', async () => {
    const r = await call({ CNI_COMMAND: 'VERSION' }, 'not json');
    expect(r.code).toBe(0);
    expect(r.stdinRead).toBe(false);
    expect(r.json).toEqual({
      cniVersion: '1.1.0',
      supportedVersions: ['0.1.0', '0.2.0', '0.3.0', '0.3.1', '0.4.0', '1.0.0', '1.1.0'],
    });
  });
});

describe('stdin and network name', () => {
  it.each([
    ['', 6],
    ['{', 6],
    ['[]', 6],
    ['{"cniVersion":"1.0.0"}', 7],
    ['{"cniVersion":"1.0.0","name":""}', 7],
    ['{"cniVersion":"1.0.0","name":"a/b"}', 7],
    ['{"cniVersion":"1.0.0","name":"../x"}', 7],
    ['{"cniVersion":"1.0.0","name":5}', 6],
  ])('%j gives code %d', async (stdin, code) => {
    const r = await call({ CNI_COMMAND: 'ADD', ...attach }, stdin);
    expect(r.json?.['code']).toBe(code);
  });
  it('a bad config wins over an unknown command', async () => {
    expect((await call({ CNI_COMMAND: 'BOGUS' }, '{')).json?.['code']).toBe(6);
    expect((await call({ CNI_COMMAND: 'BOGUS' }, conf())).json).toMatchObject({
      code: 4,
      msg: 'unknown CNI_COMMAND: BOGUS',
    });
  });
});

describe('version gates', () => {
  const cases: Array<[string, string | number | undefined, number | 0, string?]> = [
    ['ADD', '9.9.9', 1, 'incompatible CNI versions'],
    ['ADD', 'abc', 1, 'incompatible CNI versions'],
    ['ADD', 1, 6],
    ['ADD', undefined, 0],
    ['DEL', '0.2.0', 0],
    ['CHECK', '0.3.1', 1, 'config version does not allow CHECK'],
    ['CHECK', '0.4.0', 0],
    ['CHECK', 'abc', 6],
    ['CHECK', '0.5.0', 1, 'incompatible CNI versions'],
    ['CHECK', '2.0.0', 1, 'plugin version does not allow CHECK'],
    ['GC', '1.0.0', 1, 'config version does not allow GC'],
    ['GC', '1.1.0', 0],
    ['STATUS', '0.4.0', 1, 'config version does not allow STATUS'],
    ['STATUS', '1.1.0', 0],
  ];
  // Every row gets four cells: jest treats a handler with more parameters than cells as callback-style.
  it.each(cases.map((c) => [c[0], c[1], c[2], c[3] ?? ''] as const))(
    '%s with cniVersion %j → %d',
    async (cmd, version, code, msg) => {
      const stdin = JSON.stringify(version === undefined ? { name: 'n' } : { cniVersion: version, name: 'n' });
      const r = await call({ CNI_COMMAND: cmd, ...attach }, stdin);
      if (code === 0) {
        expect(r.code).toBe(0);
        expect(r.stdout).toBe('');
      } else {
        expect(r.json).toMatchObject({ code, ...(msg ? { msg } : {}) });
      }
    },
  );
});

describe('handlers', () => {
  it('prints the ADD result in the config version, as one JSON document', async () => {
    const r = await call({ CNI_COMMAND: 'ADD', ...attach }, conf({ cniVersion: '0.4.0' }), {
      add: async () => ({ cniVersion: '1.1.0', ips: [{ address: '10.0.0.2/24', gateway: '10.0.0.1' }] }),
    });
    expect(r.code).toBe(0);
    expect(r.json).toEqual({
      cniVersion: '0.4.0',
      ips: [{ version: '4', address: '10.0.0.2/24', gateway: '10.0.0.1' }],
      dns: {},
    });
  });
  it('passes a typed error through with its code, msg and details', async () => {
    const r = await call({ CNI_COMMAND: 'DEL', ...attach }, conf(), {
      del: async () => {
        throw new CniError(11, 'try later', 'busy');
      },
    });
    expect(r.code).toBe(1);
    expect(r.json).toEqual({ cniVersion: '1.1.0', code: 11, msg: 'try later', details: 'busy' });
  });
  it('maps any other error to 999 without a stack trace', async () => {
    const r = await call({ CNI_COMMAND: 'CHECK', ...attach }, conf(), {
      check: async () => {
        throw new Error('boom');
      },
    });
    expect(r.json).toEqual({ cniVersion: '1.1.0', code: 999, msg: 'boom' });
    expect(r.stdout).not.toContain('at ');
  });
  it.each(['ADD', 'DEL', 'CHECK', 'GC', 'STATUS'])('%s without a handler succeeds silently', async (cmd) => {
    const r = await call({ CNI_COMMAND: cmd, ...attach });
    expect(r.code).toBe(0);
    expect(r.stdout).toBe('');
  });
  it('gives GC and STATUS no attachment fields', async () => {
    let seen = '';
    await call({ CNI_COMMAND: 'GC', ...attach }, conf(), {
      gc: async (inv) => {
        seen = `${inv.containerId}|${inv.ifName}|${inv.netns}|${inv.cniPath.join(':')}`;
      },
    });
    expect(seen).toBe('|||/nonexistent');
  });
  it('rejects CNI_NETNS that is the plugin’s own namespace (code 8) unless overridden', async () => {
    const env = { CNI_COMMAND: 'ADD', ...attach, CNI_NETNS: '/proc/self/ns/net' };
    const add = async (): Promise<{ cniVersion: string }> => ({ cniVersion: '1.1.0' });
    expect((await call(env, conf(), { add })).json?.['code']).toBe(8);
    expect((await call({ ...env, CNI_NETNS_OVERRIDE: 'true' }, conf(), { add })).code).toBe(0);
  });
});

describe('decoding as Go decodes (issue 20 row 11)', () => {
  const add = { CNI_COMMAND: 'ADD', ...attach };
  const ok: PluginFuncs = { add: async () => ({ cniVersion: '0.1.0' }) as never };
  it('a config of null is an empty config: code 7, missing network name', async () => {
    const r = await call(add, 'null');
    expect(r.json).toMatchObject({ code: 7, msg: 'missing network name' });
  });
  it('a null name is a missing name', async () => {
    const r = await call(add, JSON.stringify({ cniVersion: '1.0.0', name: null }));
    expect(r.json).toMatchObject({ code: 7, msg: 'missing network name' });
  });
  it('a null cniVersion is an absent one: 0.1.0', async () => {
    let seen = '';
    const r = await call(add, JSON.stringify({ cniVersion: null, name: 'n' }), {
      add: async (inv) => {
        seen = inv.cniVersion;
        return { cniVersion: inv.cniVersion } as never;
      },
    });
    expect(r.stdout).not.toContain('decoding version');
    expect(seen).toBe('0.1.0');
  });
  it('nesting deeper than Go’s 10,000 levels is code 6 with Go’s message, for every plugin', async () => {
    const deep = `{"cniVersion":"1.0.0","name":"n","x":${'['.repeat(10_001)}${']'.repeat(10_001)}}`;
    const r = await call(add, deep, ok);
    expect(r.json).toMatchObject({
      code: 6,
      msg: 'error unmarshall network config',
      details: "invalid character '[' exceeded max depth",
    });
  });
});

describe('names checked as the reference checks them', () => {
  const add = (ifName: string): Record<string, string> => ({ CNI_COMMAND: 'ADD', ...attach, CNI_IFNAME: ifName });
  it.each([
    ['e\u0085x', 4], // Go's unicode.IsSpace has U+0085 (JavaScript's \s does not)
    ['e\u3000x', 4],
    ['e\ufeffx', 0], // JavaScript's \s has U+FEFF (Go's IsSpace does not)
    ['e"x;{}', 0],
    ['\udcff\udcfe\udcfd\udcfc\udcfb\udcfa\udcf9\udcf8\udcf7\udcf6\udcf5\udcf4\udcf3\udcf2\udcf1', 0], // 15 bytes
    ['\udcff\udcfe\udcfd\udcfc\udcfb\udcfa\udcf9\udcf8\udcf7\udcf6\udcf5\udcf4\udcf3\udcf2\udcf1x', 4],
  ])('CNI_IFNAME %j: code %d', async (ifName, code) => {
    const r = await call(add(ifName), conf(), { add: async () => ({ cniVersion: '1.1.0' }) as never });
    if (code === 0) expect(r.code).toBe(0);
    else expect(r.json).toMatchObject({ code });
  });
});
