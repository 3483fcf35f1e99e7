#!/usr/bin/env node
import { registerInProcess } from '../../lib/cni/delegate';
import { pluginMain } from '../../lib/cni/main';
import { hostLocalVerbs } from '../host-local/verbs';
import { add } from './add';
import { check } from './check';
import { del } from './del';
import { gc } from './gc';
import { status } from './status';

// Our host-local, when it is the IPAM binary in CNI_PATH, runs in this process (see lib/cni/delegate.ts).
registerInProcess('host-local', hostLocalVerbs);
pluginMain({ add, del, check, gc, status }, 'CNI bridge plugin (tscni)');
