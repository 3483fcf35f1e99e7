/**
 * examples/kind/ must stay deployable: the YAML parses (Bun's YAML parser, run as a child), the
 * fields kind and Kubernetes need are there and consistent, and the DaemonSet's arguments are
 * accepted by our own installer. (No cluster can run here; kubectl is not assumed.)
 */
import { describe, expect, it } from '@jest/globals';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { DEFAULT_DATA_DIR } from '../ipam/disk-store';
import { DEFAULT_RUN_DIR } from '../state/run-dir';
import { REPO_ROOT } from '../testutil/sandbox';
import { at, list, obj, yamlDocs, type Obj } from '../testutil/yaml';
import { HOST_BIN_DIR, HOST_CONF_DIR, IMAGE_DIR, versionOf } from './image';
import { isIptablesMode } from './iptables-mode';
import { canonicalCidr, parseInstallArgs } from './options';

const DIR = join(REPO_ROOT, 'examples', 'kind');

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
  const containers = list(pod['containers'], 'containers');
  const named = (name: string): Obj => {
    const c = containers.find((x) => x['name'] === name);
    if (!c) throw new Error(`no container ${name}`);
    return c;
  };
  const container = named('install');
  const watch = named('watch');
  const volumes = new Map(list(pod['volumes'], 'volumes').map((v) => [v['name'], obj(v['hostPath'], 'hostPath')]));

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

  it('two containers: the installer and the watcher, both of the image make image writes', () => {
    expect(containers.map((c) => c['name'])).toEqual(['install', 'watch']);
    expect(watch['image']).toBe(container['image']);
    expect(watch['imagePullPolicy']).toBe('Never');
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
    const mounts = new Map(list(container['volumeMounts'], 'volumeMounts').map((m) => [m['mountPath'], m['name']]));
    expect(volumes.get(mounts.get(o.binDir))?.['path']).toBe('/opt/cni/bin');
    expect(volumes.get(mounts.get(o.confDir))?.['path']).toBe('/etc/cni/net.d');
    for (const name of mounts.values()) expect(volumes.has(name)).toBe(true);
  });

  it('watcher: tscni reload --watch with the node’s iptables mode, NET_ADMIN and NET_RAW, not privileged', () => {
    expect(watch['command']).toEqual([`${IMAGE_DIR}/tscni`]);
    const args = (watch['args'] as unknown[]).map(String);
    expect(args.slice(0, 2)).toEqual(['reload', '--watch']);
    const iptables = args.find((a) => a.startsWith('--iptables='))?.slice('--iptables='.length);
    expect(iptables === 'auto' || (iptables !== undefined && isIptablesMode(iptables))).toBe(true);
    // Not in a pod: gc would need the host's PIDs (running plugin calls) and the runtime's socket.
    expect(args.some((a) => a.startsWith('--gc-interval'))).toBe(false);
    expect(at(watch, 'securityContext.privileged')).toBe(false);
    expect(at(watch, 'securityContext.capabilities.add')).toEqual(['NET_ADMIN', 'NET_RAW']);
    expect(pod['hostPID']).toBeUndefined();
  });

  it('watcher: every path reload reads or writes on the node is mounted at the same path, read-only where it only reads', () => {
    const mounts = list(watch['volumeMounts'], 'volumeMounts');
    for (const m of mounts) {
      // The same path as on the node: the plugins' state names paths (netns, data dirs) as they see them.
      expect({ mount: m['mountPath'], host: volumes.get(m['name'])?.['path'] }).toEqual({
        mount: m['mountPath'],
        host: m['mountPath'],
      });
    }
    const mountOf = (path: string): Obj | undefined =>
      mounts
        .filter((m) => path === m['mountPath'] || path.startsWith(`${String(m['mountPath'])}/`))
        .sort((a, b) => String(b['mountPath']).length - String(a['mountPath']).length)[0];
    const installArgs = parseInstallArgs((container['args'] as unknown[]).map(String), { NODE_NAME: 'kind-worker' });
    const reads = [
      '/var/lib/cni/results', // libcni's cache (CNI_CACHE_DIR's default)
      DEFAULT_DATA_DIR, // host-local's default data dir
      '/var/lib/cni/tscni/firewall', // the firewall plugin's records
      '/etc/cni/net.d/10-tscni.conflist', // NETCONFPATH
      `${installArgs.dataDir}/tscni`, // the leases of the installer's conflist
      '/run/netns/cni-0', // pinned netns (/var/run/netns is the image's link to /run)
      '/run/dbus/system_bus_socket', // firewalld's signals
    ];
    const writes = [`${DEFAULT_RUN_DIR}/reload.lock`, `${DEFAULT_RUN_DIR}/teardown`, '/run/xtables.lock'];
    for (const p of reads) expect({ p, readOnly: mountOf(p)?.['readOnly'] }).toEqual({ p, readOnly: true });
    for (const p of writes) expect({ p, readOnly: mountOf(p)?.['readOnly'] ?? false }).toEqual({ p, readOnly: false });
    expect(mountOf('/run/netns/cni-0')?.['mountPropagation']).toBe('HostToContainer');
    expect(volumes.get('xtables-lock')?.['type']).toBe('FileOrCreate');
    // Nothing else of the node's /run: the runtime sockets, the kubelet's files stay out.
    const known = new Set([...reads, ...writes].map((p) => mountOf(p)?.['mountPath']));
    expect(mounts.filter((m) => !known.has(m['mountPath']))).toEqual([]);
  });

  it('the README loads the archive make image writes', () => {
    const readme = readFileSync(join(DIR, 'README.md'), 'utf8');
    expect(readme).toContain('kind load image-archive dist/tscni-image.tar');
    expect(readme).toContain('kubectl apply -f examples/kind/tscni.yaml');
    expect(readme).toContain('kind create cluster --config examples/kind/cluster.yaml');
    expect(readme).toContain('kubectl wait --for=condition=Ready nodes --all');
  });
});
