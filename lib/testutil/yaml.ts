/**
 * Reading the examples' Kubernetes manifests in tests (test-only module): every document of a
 * YAML file as JSON values, parsed by Bun's YAML parser run as a child (jest runs on Node.js),
 * and small accessors for the untyped result.
 */
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { REPO_ROOT } from './sandbox';

export type Obj = Record<string, unknown>;

const BUN = join(REPO_ROOT, 'node_modules', '.bin', 'bun');

export function yamlDocs(file: string): Obj[] {
  const json = execFileSync(
    BUN,
    ['-e', 'const v = Bun.YAML.parse(await Bun.file(process.argv[1]).text()); console.log(JSON.stringify(v))', file],
    { encoding: 'utf8' },
  );
  const v = JSON.parse(json) as Obj | Obj[];
  return Array.isArray(v) ? v : [v];
}

export const obj = (v: unknown, what: string): Obj => {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new Error(`${what} is not an object`);
  return v as Obj;
};

export const list = (v: unknown, what: string): Obj[] => {
  if (!Array.isArray(v)) throw new Error(`${what} is not a list`);
  return v.map((x, i) => obj(x, `${what}[${i}]`));
};

/** The value at a dotted path, or undefined. */
export const at = (o: Obj, path: string): unknown =>
  path.split('.').reduce<unknown>((v, k) => (v && typeof v === 'object' ? (v as Obj)[k] : undefined), o);

/** The DaemonSet of a manifest file and one of its containers, by name. */
export function daemonSetContainer(
  file: string,
  name: string,
): { pod: Obj; container: Obj; volumes: Map<string, Obj> } {
  const ds = yamlDocs(file).find((d) => d['kind'] === 'DaemonSet');
  if (!ds) throw new Error(`${file}: no DaemonSet`);
  const pod = obj(at(ds, 'spec.template.spec'), 'pod spec');
  const container = list(pod['containers'], 'containers').find((c) => c['name'] === name);
  if (!container) throw new Error(`${file}: no container ${name}`);
  const volumes = new Map(
    list(pod['volumes'] ?? [], 'volumes').map((v) => [
      String(v['name']),
      obj(v['hostPath'], `volume ${String(v['name'])}`),
    ]),
  );
  return { pod, container, volumes };
}
