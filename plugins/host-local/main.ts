#!/usr/bin/env node
import { pluginMain } from '../../lib/cni/main';
import { hostLocalVerbs } from './verbs';

pluginMain(hostLocalVerbs, 'CNI host-local plugin (tscni)');
