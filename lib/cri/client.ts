/**
 * Asking a CRI runtime (containerd, CRI-O) which pod sandboxes it has, as kubelet does: one
 * unary gRPC call, RuntimeService/ListPodSandbox, over HTTP/2 on the runtime's unix socket. The
 * request is empty and only the sandboxes' IDs are read, so the protobuf needed is a field
 * reader of a few lines (field numbers from k8s.io/cri-api's api.proto: ListPodSandboxResponse
 * .items = 1, PodSandbox.id = 1, .state = 3). runtime.v1 is asked first, v1alpha2 (containerd
 * before 1.7 serves both; older runtimes only this) when v1 is not served.
 */
import { connect, constants as h2, type ClientHttp2Session } from 'node:http2';
import { connect as netConnect } from 'node:net';

/** gRPC status UNIMPLEMENTED: the runtime does not serve that API version. */
const UNIMPLEMENTED = 12;

export class CriError extends Error {
  constructor(
    message: string,
    readonly grpcStatus?: number,
  ) {
    super(message);
    this.name = 'CriError';
  }
}

/** Fields of one protobuf message: varints as bigint, length-delimited ones as bytes. */
export function protoFields(buf: Uint8Array): Map<number, Array<bigint | Uint8Array>> {
  const out = new Map<number, Array<bigint | Uint8Array>>();
  let i = 0;
  const varint = (): bigint => {
    let v = 0n;
    for (let shift = 0n; ; shift += 7n) {
      const b = buf[i++];
      if (b === undefined || shift > 63n) throw new CriError('malformed protobuf: truncated varint');
      v |= BigInt(b & 0x7f) << shift;
      if ((b & 0x80) === 0) return v;
    }
  };
  while (i < buf.length) {
    const key = varint();
    const field = Number(key >> 3n);
    const wire = Number(key & 7n);
    let value: bigint | Uint8Array;
    if (wire === 0) value = varint();
    else if (wire === 2) {
      const len = Number(varint());
      if (i + len > buf.length) throw new CriError('malformed protobuf: field runs past the end');
      value = buf.subarray(i, i + len);
      i += len;
    } else if (wire === 1 || wire === 5) {
      const len = wire === 1 ? 8 : 4;
      value = buf.subarray(i, i + len);
      i += len;
    } else throw new CriError(`malformed protobuf: wire type ${wire}`);
    const list = out.get(field);
    if (list) list.push(value);
    else out.set(field, [value]);
  }
  return out;
}

const bytesOf = (v: bigint | Uint8Array | undefined): Uint8Array | undefined =>
  v instanceof Uint8Array ? v : undefined;

export interface PodSandbox {
  readonly id: string;
  /** 0 SANDBOX_READY, 1 SANDBOX_NOTREADY. */
  readonly state: number;
}

/** The sandboxes of a ListPodSandboxResponse. */
export function decodeListPodSandbox(body: Uint8Array): PodSandbox[] {
  const items = protoFields(body).get(1) ?? [];
  return items.flatMap((raw) => {
    const b = bytesOf(raw);
    if (!b) return [];
    const f = protoFields(b);
    const id = bytesOf(f.get(1)?.[0]);
    const state = f.get(3)?.[0];
    return id ? [{ id: new TextDecoder().decode(id), state: typeof state === 'bigint' ? Number(state) : 0 }] : [];
  });
}

/** One unary call: a length-prefixed message out, one back; trailers carry the status. */
function unary(session: ClientHttp2Session, path: string, request: Uint8Array, timeoutMs: number): Promise<Uint8Array> {
  return new Promise((resolve, reject) => {
    const req = session.request({
      [h2.HTTP2_HEADER_METHOD]: 'POST',
      [h2.HTTP2_HEADER_PATH]: path,
      [h2.HTTP2_HEADER_CONTENT_TYPE]: 'application/grpc',
      te: 'trailers',
    });
    const chunks: Buffer[] = [];
    let status: number | undefined;
    let grpcMessage = '';
    const timer = setTimeout(() => {
      req.close(h2.NGHTTP2_CANCEL);
      reject(new CriError(`${path}: no answer in ${timeoutMs} ms`));
    }, timeoutMs);
    const take = (h: Record<string, string | string[] | undefined>): void => {
      const s = h['grpc-status'];
      if (typeof s === 'string') status = Number(s);
      const m = h['grpc-message'];
      if (typeof m === 'string') grpcMessage = decodeURIComponent(m);
    };
    req.on('response', take);
    req.on('trailers', take);
    req.on('data', (b: Buffer) => chunks.push(b));
    req.on('error', (e: Error) => {
      clearTimeout(timer);
      reject(new CriError(`${path}: ${e.message}`));
    });
    req.on('end', () => {
      clearTimeout(timer);
      if (status !== 0)
        return reject(new CriError(`${path}: gRPC status ${status ?? 'missing'}: ${grpcMessage}`, status));
      const body = Buffer.concat(chunks);
      if (body.length < 5) return resolve(new Uint8Array());
      if (body[0] !== 0) return reject(new CriError(`${path}: compressed replies are not supported`));
      resolve(body.subarray(5, 5 + body.readUInt32BE(1)));
    });
    const frame = Buffer.alloc(5 + request.length);
    frame.writeUInt32BE(request.length, 1);
    frame.set(request, 5);
    req.end(frame);
  });
}

/** Every pod sandbox the runtime at `socketPath` has (ready or not). Throws CriError when it cannot be asked. */
export async function listPodSandboxes(socketPath: string, timeoutMs = 10_000): Promise<PodSandbox[]> {
  const session = connect('http://localhost', { createConnection: () => netConnect(socketPath) });
  const failed = new Promise<never>((_, reject) =>
    session.once('error', (e: Error) => reject(new CriError(`${socketPath}: ${e.message}`))),
  );
  try {
    for (const api of ['runtime.v1', 'runtime.v1alpha2']) {
      try {
        const body = await Promise.race([
          unary(session, `/${api}.RuntimeService/ListPodSandbox`, new Uint8Array(), timeoutMs),
          failed,
        ]);
        return decodeListPodSandbox(body);
      } catch (e) {
        if (!(e instanceof CriError && e.grpcStatus === UNIMPLEMENTED)) throw e;
      }
    }
    throw new CriError(`${socketPath} serves neither runtime.v1 nor runtime.v1alpha2`);
  } finally {
    session.close();
    session.destroy();
  }
}
