import type dgram from 'node:dgram';
import { SharedSocket } from '../node/shared-socket.js';

/**
 * TEMPORARY, deleted once main's SharedSocket has these methods (same names, same rules): the
 * compat layer is written against them. Sizes asked for before bind are applied once bound, and
 * never below what the driver sized for microtp's own window (a smaller request is ignored).
 */
export class SharedSocketWithBuffers extends SharedSocket {
  private wanted: { send?: number; recv?: number } = {};

  override bind(port?: number, host?: string | (() => void), callback?: () => void): this {
    if (typeof host === 'function') [callback, host] = [host, undefined];
    return super.bind(port, host, () => {
      this.applyBuffers();
      this.emit('listening');
      callback?.();
    });
  }

  setSendBufferSize(n: number): void {
    this.wanted.send = n;
    if (this.isBound) this.applyBuffers();
  }
  setRecvBufferSize(n: number): void {
    this.wanted.recv = n;
    if (this.isBound) this.applyBuffers();
  }
  getSendBufferSize(): number {
    return this.isBound ? this.udpSocket.getSendBufferSize() : (this.wanted.send ?? 0);
  }
  getRecvBufferSize(): number {
    return this.isBound ? this.udpSocket.getRecvBufferSize() : (this.wanted.recv ?? 0);
  }

  private applyBuffers(): void {
    const socket: dgram.Socket = this.udpSocket;
    try {
      if (this.wanted.send !== undefined && socket.getSendBufferSize() < this.wanted.send) socket.setSendBufferSize(this.wanted.send);
      if (this.wanted.recv !== undefined && socket.getRecvBufferSize() < this.wanted.recv) socket.setRecvBufferSize(this.wanted.recv);
    } catch {
      // The kernel may refuse; we keep what we have.
    }
  }
}
