/**
 * A busybox container image made offline from Debian's busybox-static: one layer (busybox and
 * a link per applet), an image config, a manifest and an index, packed as an OCI image layout
 * tarball that `ctr images import` and `podman load` both accept.
 */
import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, rmSync, symlinkSync, copyFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { runOk } from '../../lib/testutil/sandbox';
import { requireProgram } from '../../lib/testutil/programs';

export const IMAGE_REF = 'docker.io/tscni-e2e/busybox:latest';
const BUSYBOX = '/bin/busybox';

/** The image's architecture in OCI terms, from Node's. */
const ARCH: Record<string, string> = { x64: 'amd64', arm64: 'arm64', arm: 'arm', ppc64: 'ppc64le', s390x: 's390x' };
export const imageArch = (): string => ARCH[process.arch] ?? process.arch;

const sha256 = (b: Buffer | string): string => createHash('sha256').update(b).digest('hex');

/** Builds the image tarball under `workDir` and returns its path. */
export async function buildBusyboxImage(workDir: string): Promise<string> {
  const root = join(workDir, 'rootfs');
  const layout = join(workDir, 'layout');
  const blobs = join(layout, 'blobs', 'sha256');
  requireProgram('/bin/busybox');
  rmSync(workDir, { recursive: true, force: true });
  for (const d of ['bin', 'etc', 'tmp', 'proc', 'sys', 'dev', 'www']) mkdirSync(join(root, d), { recursive: true });
  mkdirSync(blobs, { recursive: true });
  copyFileSync(BUSYBOX, join(root, 'bin', 'busybox'));
  const applets = (await runOk([BUSYBOX, '--list'])).stdout.split('\n').filter((a) => a && a !== 'busybox');
  for (const a of applets) symlinkSync('busybox', join(root, 'bin', a));
  writeFileSync(join(root, 'etc', 'passwd'), 'root:x:0:0:root:/:/bin/sh\n');
  writeFileSync(join(root, 'etc', 'group'), 'root:x:0:\n');

  const layerPath = join(workDir, 'layer.tar');
  await runOk([
    'tar',
    '--sort=name',
    '--owner=0',
    '--group=0',
    '--numeric-owner',
    '--mtime=@0',
    '-C',
    root,
    '-cf',
    layerPath,
    '.',
  ]);
  const layer = readFileSync(layerPath);
  const layerDigest = sha256(layer);
  writeFileSync(join(blobs, layerDigest), layer);

  const blob = (obj: unknown): { digest: string; size: number } => {
    const text = JSON.stringify(obj);
    const digest = sha256(text);
    writeFileSync(join(blobs, digest), text);
    return { digest: `sha256:${digest}`, size: Buffer.byteLength(text) };
  };
  const config = blob({
    architecture: imageArch(),
    os: 'linux',
    config: { Env: ['PATH=/bin'], Cmd: ['/bin/sleep', '3600'], WorkingDir: '/' },
    rootfs: { type: 'layers', diff_ids: [`sha256:${layerDigest}`] },
    history: [{ created_by: 'tscni e2e: busybox-static from Debian' }],
  });
  const manifest = blob({
    schemaVersion: 2,
    mediaType: 'application/vnd.oci.image.manifest.v1+json',
    config: { mediaType: 'application/vnd.oci.image.config.v1+json', ...config },
    layers: [
      { mediaType: 'application/vnd.oci.image.layer.v1.tar', digest: `sha256:${layerDigest}`, size: layer.length },
    ],
  });
  writeFileSync(
    join(layout, 'index.json'),
    JSON.stringify({
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.index.v1+json',
      manifests: [
        {
          mediaType: 'application/vnd.oci.image.manifest.v1+json',
          ...manifest,
          platform: { architecture: imageArch(), os: 'linux' },
          annotations: { 'io.containerd.image.name': IMAGE_REF, 'org.opencontainers.image.ref.name': IMAGE_REF },
        },
      ],
    }),
  );
  writeFileSync(join(layout, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }));
  const tarball = join(workDir, 'busybox-oci.tar');
  await runOk(['tar', '--owner=0', '--group=0', '--numeric-owner', '-C', layout, '-cf', tarball, '.']);
  return tarball;
}
