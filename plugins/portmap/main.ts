#!/usr/bin/env node
import { pluginMain } from '../../lib/cni/main';
import { add } from './add';
import { check } from './check';
import { del } from './del';
import { gc } from './gc';
import { status } from './status';

pluginMain({ add, del, check, gc, status }, 'CNI portmap plugin (tscni)');
