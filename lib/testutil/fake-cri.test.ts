/** The fake CRI runtime's reply is what the CRI client reads. */
import { expect, it } from '@jest/globals';
import { decodeListPodSandbox } from '../cri/client';
import { listPodSandboxResponse } from './fake-cri';

it('encodes ListPodSandboxResponse as lib/cri/client.ts decodes it', () => {
  const ids = ['a', 'cnitool-0123456789abcdef0123', 'x'.repeat(200)];
  expect(decodeListPodSandbox(listPodSandboxResponse(ids))).toEqual(ids.map((id) => ({ id, state: 0 })));
  expect(decodeListPodSandbox(listPodSandboxResponse([]))).toEqual([]);
});
