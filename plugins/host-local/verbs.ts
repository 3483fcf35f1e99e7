/** host-local's verb table, loaded by the plugin registry (also when bridge runs it in-process). */
import type { PluginFuncs } from '../../lib/cni/plugin';
import { add } from './add';
import { check } from './check';
import { del } from './del';
import { gc } from './gc';
import { status } from './status';

export const verbs: PluginFuncs = { add, del, check, gc, status };
