/**
 * The installer image (`make image`), built offline from files on this machine: one layer with
 * the executable and its plugin links under /opt/tscni/bin, `nft` (the node masquerade, and the
 * watcher's nftables repairs), iptables in both modes (xtables-nft-multi, xtables-legacy-multi,
 * their extension modules, and a directory of program links per mode, for the watcher's iptables
 * repairs; see iptables-mode.ts) and exactly the shared libraries `ldd` names for all of them,
 * nothing else. /var/run links to /run, so the netns paths runtimes cache (/var/run/netns/…)
 * resolve in the container as on the node.
 * Packed as an OCI image layout in a tar (index.json, oci-layout, blobs) plus Docker's
 * manifest.json, so `ctr images import`, `kind load image-archive`, `docker load` and
 * `podman load` all take it. Deterministic: fixed mtimes, sorted entries, owner 0:0, JSON with
 * a fixed key order; the same inputs give the same digest.
 */
import { createHash } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, realpathSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { IPTABLES_MODES, IPTABLES_PROGRAMS, modeDir, type IptablesMode } from './iptables-mode';
import { parentDirs, sortEntries, writeTar, type TarEntry } from './tar';

export const IMAGE_DIR = '/opt/tscni/bin';
/** Where the DaemonSet mounts the node's directories. */
export const HOST_BIN_DIR = '/host/opt/cni/bin';
export const HOST_CONF_DIR = '/host/etc/cni/net.d';

/** Shared objects named by `ldd` output: `name => /path (addr)` and `/path (addr)` lines. */
export function parseLdd(text: string): string[] {
  const out: string[] = [];
  for (const line of text.split('\n')) {
    const arrow = /=>\s*(\/\S+)\s+\(0x[0-9a-f]+\)/.exec(line);
    const bare = /^\s*(\/\S+)\s+\(0x[0-9a-f]+\)/.exec(line);
    const path = arrow?.[1] ?? bare?.[1];
    if (path) out.push(path);
    else if (/=>\s*not found/.test(line)) throw new Error(`ldd: missing library: ${line.trim()}`);
  }
  return out;
}

export interface ImageInput {
  /** bin/tscni */
  exe: string;
  plugins: readonly string[];
  /** Other programs to ship, at their path on this machine (e.g. /usr/sbin/nft). */
  programs: readonly string[];
  /** Libraries to ship (absolute paths as the loader looks them up), dlopen()ed modules included. */
  libraries: readonly string[];
  /** Symbolic links to make (absolute paths in the image). */
  links: readonly ImageLink[];
  ref: string;
  version: string;
  arch: string;
  /** Seconds since the epoch stamped on every entry and in the config. */
  epoch: number;
}

export interface ImageLink {
  readonly path: string;
  readonly target: string;
}

const rel = (abs: string): string => abs.replace(/^\/+/, '');

/** The links of iptables' program names to each mode's multi-call binary (it runs the program argv[0] names). */
export function iptablesLinks(multi: Readonly<Record<IptablesMode, string>>): ImageLink[] {
  return IPTABLES_MODES.flatMap((m) =>
    IPTABLES_PROGRAMS.map((p) => ({ path: `${modeDir(m)}/${p}`, target: multi[m] })),
  );
}

/** The layer's entries: directories, executable, links, programs, libraries, /tmp, /run and /var/run. */
export function layerEntries(i: ImageInput): TarEntry[] {
  const disk = (path: string, file: string, mode: number): TarEntry => {
    // Libraries are often symlinks (libc.so.6 → libc-2.36.so); the layer holds the file itself.
    const real = realpathSync(file);
    return { type: 'disk', path: rel(path), mode, file: real, size: statSync(real).size };
  };
  const files: TarEntry[] = [disk(`${IMAGE_DIR}/tscni`, i.exe, 0o755)];
  for (const p of i.plugins) files.push({ type: 'symlink', path: rel(`${IMAGE_DIR}/${p}`), target: 'tscni' });
  for (const p of i.programs) files.push(disk(p, p, 0o755));
  for (const l of [...new Set(i.libraries)]) files.push(disk(l, l, 0o755));
  for (const l of i.links) files.push({ type: 'symlink', path: rel(l.path), target: l.target });
  files.push({ type: 'symlink', path: 'var/run', target: '../run' });
  const fixed: TarEntry[] = [
    { type: 'dir', path: 'tmp', mode: 0o1777 },
    { type: 'dir', path: 'run', mode: 0o755 },
  ];
  const paths = new Set([...files, ...fixed].map((f) => f.path));
  const dirs = parentDirs([...paths]).filter((d) => !paths.has(d.path));
  return sortEntries([...dirs, ...fixed, ...files]);
}

const sha256 = (b: Buffer | string): string => createHash('sha256').update(b).digest('hex');
/** JSON bytes of a blob (key order as written here: fixed). */
const json = (v: unknown): Buffer => Buffer.from(JSON.stringify(v));

export interface BuiltImage {
  out: string;
  /** Digest of the image manifest (what `ctr images ls` shows). */
  manifestDigest: string;
  layerDigest: string;
  layerSize: number;
}

/** Builds the archive at `out`, using `work` as scratch space. */
export function buildImage(i: ImageInput, out: string): BuiltImage {
  const work = mkdtempSync(join(tmpdir(), 'tscni-image-'));
  try {
    const layerFile = join(work, 'layer.tar');
    const h = createHash('sha256');
    const layerSize = writeTar(layerFile, layerEntries(i), i.epoch, (b) => h.update(b));
    const layerDigest = h.digest('hex');
    const created = new Date(i.epoch * 1000).toISOString().replace('.000Z', 'Z');
    const config = json({
      created,
      architecture: i.arch,
      os: 'linux',
      config: {
        Env: [`PATH=${IMAGE_DIR}:/usr/sbin:/usr/bin:/sbin:/bin`],
        Entrypoint: [`${IMAGE_DIR}/tscni`, 'install'],
        Cmd: ['--bin-dir', HOST_BIN_DIR, '--conf-dir', HOST_CONF_DIR, '--loop'],
        WorkingDir: '/',
        Labels: {
          'org.opencontainers.image.title': 'tscni',
          'org.opencontainers.image.description': 'CNI plugins (bridge, host-local, portmap, ...) and their installer',
          'org.opencontainers.image.licenses': 'Apache-2.0',
          'org.opencontainers.image.version': i.version,
        },
      },
      rootfs: { type: 'layers', diff_ids: [`sha256:${layerDigest}`] },
      history: [
        { created, created_by: 'make image: bin/tscni, plugin links, nft, iptables and their shared libraries' },
      ],
    });
    const configDigest = sha256(config);
    const manifest = json({
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      config: {
        mediaType: 'application/vnd.oci.image.config.v1+json',
        digest: `sha256:${configDigest}`,
        size: config.length,
      },
      layers: [
        { mediaType: 'application/vnd.oci.image.layer.v1.tar', digest: `sha256:${layerDigest}`, size: layerSize },
      ],
    });
    const manifestDigest = sha256(manifest);
    const index = json({
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.index.v1+json',
      manifests: [
        {
          mediaType: 'application/vnd.oci.image.manifest.v1+json',
          digest: `sha256:${manifestDigest}`,
          size: manifest.length,
          platform: { architecture: i.arch, os: 'linux' },
          annotations: { 'io.containerd.image.name': i.ref, 'org.opencontainers.image.ref.name': i.ref },
        },
      ],
    });
    // Docker's own format beside the OCI layout, for docker load before 25.
    const dockerManifest = json([
      {
        Config: `blobs/sha256/${configDigest}`,
        RepoTags: [i.ref],
        Layers: [`blobs/sha256/${layerDigest}`],
      },
    ]);
    const blob = (digest: string, bytes: Buffer): TarEntry => ({
      type: 'file',
      path: `blobs/sha256/${digest}`,
      mode: 0o644,
      bytes,
    });
    const entries: TarEntry[] = [
      { type: 'dir', path: 'blobs', mode: 0o755 },
      { type: 'dir', path: 'blobs/sha256', mode: 0o755 },
      blob(configDigest, config),
      { type: 'disk', path: `blobs/sha256/${layerDigest}`, mode: 0o644, file: layerFile, size: layerSize },
      blob(manifestDigest, manifest),
      { type: 'file', path: 'index.json', mode: 0o644, bytes: index },
      { type: 'file', path: 'manifest.json', mode: 0o644, bytes: dockerManifest },
      { type: 'file', path: 'oci-layout', mode: 0o644, bytes: json({ imageLayoutVersion: '1.0.0' }) },
    ];
    writeTar(out, sortEntries(entries), i.epoch);
    return { out, manifestDigest: `sha256:${manifestDigest}`, layerDigest: `sha256:${layerDigest}`, layerSize };
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

const ARCH: Record<string, string> = { x64: 'amd64', arm64: 'arm64', arm: 'arm', ppc64: 'ppc64le', s390x: 's390x' };
export const ociArch = (nodeArch: string = process.arch): string => ARCH[nodeArch] ?? nodeArch;

/** The libraries of each program, by running `ldd` on it (build machine only). */
export function librariesOf(programs: readonly string[]): string[] {
  const libs = new Set<string>();
  for (const p of programs) {
    let text: string;
    try {
      text = execFileSync('ldd', [p], { encoding: 'utf8' });
    } catch (e) {
      throw new Error(`ldd ${p}: ${(e as Error).message}`);
    }
    for (const l of parseLdd(text)) libs.add(l);
  }
  return [...libs].sort();
}

/**
 * iptables' extension modules (dlopen()ed, so `ldd` does not name them): every `*.so` of the
 * `xtables` directory beside the libxtables a multi-call binary links (Debian:
 * /usr/lib/x86_64-linux-gnu/xtables; Fedora: /usr/lib64/xtables), which is where libxtables
 * looks for them.
 */
export function xtablesModulesOf(program: string): string[] {
  const lib = librariesOf([program]).find((l) => /\/libxtables\.so[.\d]*$/.test(l));
  if (!lib) throw new Error(`${program} does not link libxtables`);
  const dir = join(dirname(realpathSync(lib)), 'xtables');
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch (e) {
    throw new Error(`iptables extensions: ${(e as Error).message}`);
  }
  const mods = names.filter((n) => n.endsWith('.so')).sort();
  if (mods.length === 0) throw new Error(`iptables extensions: no modules in ${dir}`);
  return mods.map((n) => join(dir, n));
}

/** The plugin names the executable reports (`tscni plugins`). */
export const pluginsOf = (exe: string): string[] =>
  execFileSync(exe, ['plugins'], { encoding: 'utf8' }).split('\n').filter(Boolean);

/** package.json's version. */
export const versionOf = (repo: string): string =>
  (JSON.parse(readFileSync(join(repo, 'package.json'), 'utf8')) as { version: string }).version;
