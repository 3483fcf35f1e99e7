#!/usr/bin/env node
import { pluginMain } from '../../lib/cni/main';

pluginMain({}, 'CNI host-local plugin (tscni)');
