// HTTP plumbing shared by the emulator's EC2, SSM and IMDS servers: listen on 127.0.0.1, read a
// request body, close a server without waiting for idle keep-alive sockets.
import { createServer, type IncomingMessage, type RequestListener, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

export async function listen(handler: RequestListener): Promise<{ server: Server; endpoint: string }> {
  const server = createServer(handler);
  // SDK clients keep sockets alive; a short keep-alive keeps stop() from waiting on them.
  server.keepAliveTimeout = 1000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  return { server, endpoint: `http://127.0.0.1:${port}` };
}

export function close(server: Server): Promise<void> {
  return new Promise((resolve) => {
    server.close(() => resolve());
    server.closeAllConnections();
  });
}

export function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

/**
 * The region a SigV4 `Authorization` header is scoped to (`Credential=AKID/date/REGION/service/aws4_request`),
 * or undefined when the header is missing or not SigV4. The signature itself is not verified.
 */
export function signedRegion(req: IncomingMessage): string | undefined {
  const auth = req.headers.authorization;
  if (!auth?.startsWith('AWS4-HMAC-SHA256 ')) return undefined;
  const m = /Credential=[^/]+\/\d{8}\/([^/]+)\/[^/]+\/aws4_request/.exec(auth);
  return m?.[1];
}
