/**
 * `make image`: the installer image as an OCI archive, offline (lib/deploy/image.ts).
 *   bun cmd/mkimage.ts --exe bin/tscni --ref localhost/tscni:0.1.0 --out dist/tscni-image.tar
 *     [--nft /usr/sbin/nft | --no-nft]
 *     [--xtables-nft /usr/sbin/xtables-nft-multi --xtables-legacy /usr/sbin/xtables-legacy-multi | --no-iptables]
 * SOURCE_DATE_EPOCH, when set, is the timestamp of every entry (default 0).
 */
import { resolve } from 'node:path';
import {
  buildImage,
  iptablesLinks,
  librariesOf,
  ociArch,
  pluginsOf,
  versionOf,
  xtablesModulesOf,
} from '../lib/deploy/image';
import { writeAll } from '../lib/stdio';

function main(argv: string[]): void {
  const opt = new Map<string, string>();
  let nft: string | undefined = '/usr/sbin/nft';
  let iptables: { nft: string; legacy: string } | undefined = {
    nft: '/usr/sbin/xtables-nft-multi',
    legacy: '/usr/sbin/xtables-legacy-multi',
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i] ?? '';
    const value = (): string => {
      const v = argv[++i];
      if (!v) throw new Error(`mkimage: ${a} needs a value`);
      return v;
    };
    if (a === '--no-nft') nft = undefined;
    else if (a === '--nft') nft = value();
    else if (a === '--no-iptables') iptables = undefined;
    else if (a === '--xtables-nft' && iptables) iptables.nft = value();
    else if (a === '--xtables-legacy' && iptables) iptables.legacy = value();
    else if (['--exe', '--ref', '--out'].includes(a)) opt.set(a, argv[++i] ?? '');
    else throw new Error(`mkimage: unknown argument ${a}`);
  }
  const exe = resolve(opt.get('--exe') || 'bin/tscni');
  const repo = resolve(import.meta.dir, '..');
  const version = versionOf(repo);
  const ref = opt.get('--ref') || `localhost/tscni:${version}`;
  const out = resolve(opt.get('--out') || 'dist/tscni-image.tar');
  const programs = [...(nft ? [nft] : []), ...(iptables ? [iptables.nft, iptables.legacy] : [])];
  // Both modes share libxtables and so its extension directory.
  const modules = iptables ? xtablesModulesOf(iptables.nft) : [];
  const epochText = process.env['SOURCE_DATE_EPOCH'] ?? '0';
  if (!/^\d+$/.test(epochText)) throw new Error('mkimage: SOURCE_DATE_EPOCH must be a number of seconds');
  const img = buildImage(
    {
      exe,
      plugins: pluginsOf(exe),
      programs,
      libraries: [...librariesOf([exe, ...programs, ...modules]), ...modules],
      links: iptables ? iptablesLinks(iptables) : [],
      ref,
      version,
      arch: ociArch(),
      epoch: Number(epochText),
    },
    out,
  );
  writeAll(1, `  ${out}  ${ref}  manifest ${img.manifestDigest}  layer ${(img.layerSize / 1e6).toFixed(1)} MB\n`);
}

try {
  main(process.argv.slice(2));
} catch (e) {
  writeAll(2, `${(e as Error).message}\n`);
  process.exit(1);
}
