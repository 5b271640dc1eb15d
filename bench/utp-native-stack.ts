// libutp through utp-native, as both loopback benches drive it. One UTP object is both the UDP
// socket and the server; a client connection made with utp.connect keeps its own in `_utp`,
// connectShared puts every connection on one client socket. The kernel UDP buffers are set after
// bind (utp-native throws before it); 0 leaves the kernel defaults.
import { once } from 'node:events';
import type utpModule from 'utp-native';

export async function utpNativeStack(host: string, sockbuf: number) {
  const { default: utp } = await import('utp-native');
  const tune = (sock: utpModule.UTP): void => {
    if (sockbuf <= 0) return;
    sock.setRecvBufferSize(sockbuf);
    sock.setSendBufferSize(sockbuf);
  };
  let client: utpModule.UTP | undefined;
  return {
    async listen(onPipe: (pipe: utpModule.Connection) => void): Promise<number> {
      const server = utp.createServer(onPipe);
      server.listen(0, host);
      tune(server);
      await once(server, 'listening');
      return server.address().port;
    },
    async connect(port: number): Promise<utpModule.Connection> {
      const conn = utp.connect(port, host);
      tune(conn._utp);
      await once(conn, 'connect');
      return conn;
    },
    /** As connect, but all such connections share one UDP socket (as microtp's connect() does). */
    async connectShared(port: number): Promise<utpModule.Connection> {
      const first = client === undefined;
      client ??= utp.createServer();
      const conn = client.connect(port, host);
      if (first) tune(client); // bound by the connect() just made
      await once(conn, 'connect');
      return conn;
    },
  };
}
