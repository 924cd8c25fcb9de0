// RTP packet parsing and building for Opus over a mediasoup DirectTransport (pure, no I/O).

/** Where the Opus payload sits in an RTP packet, plus the header fields the media layer needs. */
export interface RtpView {
  readonly payloadType: number;
  readonly marker: boolean;
  readonly sequenceNumber: number;
  readonly timestamp: number;
  readonly ssrc: number;
  /** The codec payload: after CSRCs and the header-extension block, before padding. */
  readonly payload: Buffer;
}

/**
 * Parses an RTP packet. Packets from mediasoup carry header extensions (mid, audio level) and
 * may carry CSRCs and padding: all are skipped. Returns undefined for anything malformed.
 */
export function parseRtp(packet: Buffer): RtpView | undefined {
  if (packet.length < 12) return undefined;
  const b0 = packet[0]!;
  if (b0 >> 6 !== 2) return undefined;
  const padding = (b0 & 0x20) !== 0;
  const extension = (b0 & 0x10) !== 0;
  const csrcCount = b0 & 0x0f;
  const b1 = packet[1]!;
  let offset = 12 + csrcCount * 4;
  if (extension) {
    if (packet.length < offset + 4) return undefined;
    const words = packet.readUInt16BE(offset + 2);
    offset += 4 + words * 4;
  }
  let end = packet.length;
  if (padding) {
    const padLen = packet[packet.length - 1]!;
    end -= padLen;
  }
  if (end < offset) return undefined;
  return {
    payloadType: b1 & 0x7f,
    marker: (b1 & 0x80) !== 0,
    sequenceNumber: packet.readUInt16BE(2),
    timestamp: packet.readUInt32BE(4),
    ssrc: packet.readUInt32BE(8),
    payload: packet.subarray(offset, end),
  };
}

/** Builds a minimal RTP packet (no CSRC, no extensions, no padding). */
export function buildRtp(h: {
  payloadType: number;
  marker: boolean;
  sequenceNumber: number;
  timestamp: number;
  ssrc: number;
  payload: Uint8Array;
}): Buffer {
  const out = Buffer.allocUnsafe(12 + h.payload.length);
  out[0] = 0x80;
  out[1] = (h.marker ? 0x80 : 0) | (h.payloadType & 0x7f);
  out.writeUInt16BE(h.sequenceNumber & 0xffff, 2);
  out.writeUInt32BE(h.timestamp >>> 0, 4);
  out.writeUInt32BE(h.ssrc >>> 0, 8);
  out.set(h.payload, 12);
  return out;
}

/** Signed distance a→b on the 16-bit RTP sequence circle (positive: b is newer). */
export function seqDelta(a: number, b: number): number {
  const d = (b - a) & 0xffff;
  return d >= 0x8000 ? d - 0x10000 : d;
}

/** Signed distance a→b on the 32-bit RTP timestamp circle. */
export function tsDelta(a: number, b: number): number {
  const d = (b - a) >>> 0;
  return d >= 0x80000000 ? d - 0x100000000 : d;
}

/** Opus "silence" frame (CELT, 20 ms, fullband, mono): what browsers send when muted. */
export const OPUS_SILENCE_FRAME: Buffer = Buffer.from([0xf8, 0xff, 0xfe]);
