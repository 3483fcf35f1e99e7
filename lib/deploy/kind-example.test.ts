/**
 * examples/kind/ must stay deployable: the YAML parses (Bun's YAML parser, run as a child), the
 * fields kind and Kubernetes need are there and consistent, and the DaemonSet's arguments are
 * accepted by our own installer. (No cluster can run here; kubectl is not assumed.)
 */
import { describe, expect, it } from '@jest/globals';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { REPO_ROOT } from '../testutil/sandbox';
import { HOST_BIN_DIR, HOST_CONF_DIR, versionOf } from './image';
import { canonicalCidr, parseInstallArgs } from './options';

const DIR = join(REPO_ROOT, 'examples', 'kind');
const BUN = join(REPO_ROOT, 'node_modules', '.bin', 'bun');

type Obj = Record<string, unknown>;
/** Every document of a YAML file, as JSON values. */
function yamlDocs(file: string): Obj[] {
  const json = execFileSync(
    BUN,
    ['-e', 'const v = Bun.YAML.parse(await Bun.file(process.argv[1]).text()); console.log(JSON.stringify(v))', file],
    { encoding: 'utf8' },
  );
  const v = JSON.parse(json) as Obj | Obj[];
  return Array.isArray(v) ? v : [v];
}
const obj = (v: unknown, what: string): Obj => {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new Error(`${what} is not an object`);
  return v as Obj;
};
const list = (v: unknown, what: string): Obj[] => {
  if (!Array.isArray(v)) throw new Error(`${what} is not a list`);
  return v.map((x, i) => obj(x, `${what}[${i}]`));
};
const at = (o: Obj, path: string): unknown =>
  path.split('.').reduce<unknown>((v, k) => (v && typeof v === 'object' ? (v as Obj)[k] : undefined), o);

describe('examples/kind/cluster.yaml', () => {
  const [cluster] = yamlDocs(join(DIR, 'cluster.yaml'));

  it('is a kind cluster without kind’s CNI, with valid pod and service subnets', () => {
    if (!cluster) throw new Error('empty file');
    expect(cluster['kind']).toBe('Cluster');
    expect(cluster['apiVersion']).toBe('kind.x-k8s.io/v1alpha4');
    expect(at(cluster, 'networking.disableDefaultCNI')).toBe(true);
    for (const key of ['podSubnet', 'serviceSubnet']) {
      const subnets = String(at(cluster, `networking.${key}`)).split(',');
      expect(subnets.length).toBeGreaterThan(0);
      for (const s of subnets) expect(canonicalCidr(s, key)).toBe(s.trim());
    }
    const roles = list(cluster['nodes'], 'nodes').map((n) => n['role']);
    expect(roles.filter((r) => r === 'control-plane')).toHaveLength(1);
    expect(roles.filter((r) => r === 'worker').length).toBeGreaterThanOrEqual(1);
  });
});

describe('examples/kind/tscni.yaml', () => {
  const docs = yamlDocs(join(DIR, 'tscni.yaml'));
  const [cluster = {}] = yamlDocs(join(DIR, 'cluster.yaml'));
  const byKind = (kind: string): Obj => {
    const d = docs.find((x) => x['kind'] === kind);
    if (!d) throw new Error(`no ${kind}`);
    return d;
  };
  const sa = byKind('ServiceAccount');
  const role = byKind('ClusterRole');
  const binding = byKind('ClusterRoleBinding');
  const ds = byKind('DaemonSet');
  const pod = obj(at(ds, 'spec.template.spec'), 'pod spec');
  const [container] = list(pod['containers'], 'containers');
  if (!container) throw new Error('no container');

  it('has exactly the four objects, with the API versions Kubernetes serves', () => {
    expect(docs.map((d) => `${String(d['apiVersion'])} ${String(d['kind'])}`)).toEqual([
      'v1 ServiceAccount',
      'rbac.authorization.k8s.io/v1 ClusterRole',
      'rbac.authorization.k8s.io/v1 ClusterRoleBinding',
      'apps/v1 DaemonSet',
    ]);
  });

  it('RBAC: the service account may read and watch nodes and patch nodes/status, nothing else', () => {
    expect(list(role['rules'], 'rules')).toEqual([
      { apiGroups: [''], resources: ['nodes'], verbs: ['get', 'list', 'watch'] },
      { apiGroups: [''], resources: ['nodes/status'], verbs: ['patch'] },
    ]);
    expect(binding['roleRef']).toEqual({
      apiGroup: 'rbac.authorization.k8s.io',
      kind: 'ClusterRole',
      name: at(role, 'metadata.name'),
    });
    expect(binding['subjects']).toEqual([
      { kind: 'ServiceAccount', name: at(sa, 'metadata.name'), namespace: at(sa, 'metadata.namespace') },
    ]);
    expect(pod['serviceAccountName']).toBe(at(sa, 'metadata.name'));
    expect(at(ds, 'metadata.namespace')).toBe(at(sa, 'metadata.namespace'));
  });

  it('DaemonSet: selector matches, host network, runs on every node', () => {
    const match = obj(at(ds, 'spec.selector.matchLabels'), 'matchLabels');
    expect(obj(at(ds, 'spec.template.metadata.labels'), 'labels')).toMatchObject(match);
    expect(pod['hostNetwork']).toBe(true);
    expect(list(pod['tolerations'], 'tolerations')).toContainEqual({ operator: 'Exists' });
    expect(pod['priorityClassName']).toBe('system-node-critical');
  });

  it('container: the image make image writes, loaded not pulled, NODE_NAME from the downward API', () => {
    expect(container['image']).toBe(`localhost/tscni:${versionOf(REPO_ROOT)}`);
    expect(container['imagePullPolicy']).toBe('Never');
    expect(list(container['env'], 'env')).toContainEqual({
      name: 'NODE_NAME',
      valueFrom: { fieldRef: { fieldPath: 'spec.nodeName' } },
    });
    expect(at(container, 'securityContext.capabilities.add')).toEqual(['NET_ADMIN']);
  });

  it('its arguments are valid for tscni install and point at the hostPath mounts of the CNI dirs', () => {
    const args = (container['args'] as unknown[]).map(String);
    const o = parseInstallArgs(args, { NODE_NAME: 'kind-worker' });
    expect(o).toMatchObject({ binDir: HOST_BIN_DIR, confDir: HOST_CONF_DIR, loop: true, backend: 'routes' });
    expect(o.plugin).toBe('ptp');
    // The API at the control plane kind names after the cluster, not through the service.
    expect(o.apiServer).toEqual({ hostname: `${String(cluster['name'])}-control-plane`, port: 6443 });
    // The masquerade exemption is the cluster's pod subnet from the start.
    expect(o.clusterCidrs).toEqual(String(at(cluster, 'networking.podSubnet')).split(',').slice(0, 1));
    const volumes = new Map(list(pod['volumes'], 'volumes').map((v) => [v['name'], obj(v['hostPath'], 'hostPath')]));
    const mounts = new Map(list(container['volumeMounts'], 'volumeMounts').map((m) => [m['mountPath'], m['name']]));
    expect(volumes.get(mounts.get(o.binDir))?.['path']).toBe('/opt/cni/bin');
    expect(volumes.get(mounts.get(o.confDir))?.['path']).toBe('/etc/cni/net.d');
    for (const name of mounts.values()) expect(volumes.has(name)).toBe(true);
  });

  it('the README loads the archive make image writes', () => {
    const readme = readFileSync(join(DIR, 'README.md'), 'utf8');
    expect(readme).toContain('kind load image-archive dist/tscni-image.tar');
    expect(readme).toContain('kubectl apply -f examples/kind/tscni.yaml');
    expect(readme).toContain('kind create cluster --config examples/kind/cluster.yaml');
    expect(readme).toContain('kubectl wait --for=condition=Ready nodes --all');
  });
});
