/** host-local's verb table, shared by its own main and by plugins that run it in-process. */
import type { PluginFuncs } from '../../lib/cni/dispatch';
import { add } from './add';
import { check } from './check';
import { del } from './del';
import { gc } from './gc';
import { status } from './status';

export const hostLocalVerbs: PluginFuncs = { add, del, check, gc, status };
