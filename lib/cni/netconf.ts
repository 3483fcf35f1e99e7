/**
 * The parts of a network configuration every plugin shares (SPEC §"Plugin configuration"):
 * `type`, `ipam.type`, `dns`, `runtimeConfig`, `args`, `prevResult`, and the GC attachment list.
 * Plugin-specific keys are parsed by each plugin's config.ts.
 */
import type { Invocation } from './dispatch';
import { CniError, ErrorCode } from './errors';
import { parseResult } from './result/decode';
import type { Result } from './result/types';
import * as t from './schema';

/** prevResult of a chained plugin, converted to the internal shape; undefined if absent. */
export function prevResultOf(inv: Invocation): Result | undefined {
  const raw = inv.config['prevResult'];
  if (raw === undefined || raw === null) return undefined;
  if (typeof raw !== 'object' || Array.isArray(raw)) {
    throw new CniError(ErrorCode.DecodingFailure, 'could not parse prevResult', 'prevResult must be a JSON object');
  }
  return parseResult(raw, inv.cniVersion, 'prevResult');
}

export interface Attachment {
  readonly containerID: string;
  readonly ifname: string;
}

const attachmentsDecoder = t.array(t.object({ containerID: t.string, ifname: t.string }));

/**
 * The attachments a GC must keep: `cni.dev/valid-attachments`, or the older `cni.dev/attachments`.
 * Undefined when neither key is present: then GC must not remove anything.
 */
export function validAttachmentsOf(inv: Invocation): Attachment[] | undefined {
  const raw = inv.config['cni.dev/valid-attachments'] ?? inv.config['cni.dev/attachments'];
  if (raw === undefined || raw === null) return undefined;
  return t.parseWith(attachmentsDecoder, raw, 'cni.dev/valid-attachments');
}

/** `<containerID>\0<ifname>` keys for quick membership tests. */
export const attachmentKey = (containerID: string, ifname: string): string => `${containerID}\u0000${ifname}`;
