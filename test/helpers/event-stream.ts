import { EventStreamCodec, type Message } from '@smithy/core/event-streams';

/** The codec the AWS SDK decodes Bedrock streams with; it checks both CRC32s of every frame. */
export const eventStreamCodec = new EventStreamCodec(
  (input: Uint8Array | string) =>
    typeof input === 'string' ? input : Buffer.from(input).toString('utf8'),
  (input: string) => new Uint8Array(Buffer.from(input, 'utf8')),
);

/** Splits a whole `application/vnd.amazon.eventstream` body into frames by their prelude length. */
export function framesOf(bytes: Uint8Array): Uint8Array[] {
  const frames: Uint8Array[] = [];
  let offset = 0;
  while (offset < bytes.length) {
    const length = new DataView(bytes.buffer, bytes.byteOffset + offset, 4).getUint32(0);
    frames.push(bytes.subarray(offset, offset + length));
    offset += length;
  }
  return frames;
}

export interface DecodedEvent {
  messageType: string;
  /** `:event-type` for events, `:exception-type` for exceptions. */
  type: string;
  contentType: string | undefined;
  payload: Record<string, unknown>;
}

/** Decodes every frame (throwing on a bad CRC) into its type and JSON payload. */
export function decodeEventStream(bytes: Uint8Array): DecodedEvent[] {
  return framesOf(bytes).map((frame) => describe(eventStreamCodec.decode(frame)));
}

function describe(message: Message): DecodedEvent {
  const value = (name: string) => {
    const header = message.headers[name];
    return header === undefined ? undefined : String(header.value);
  };
  const messageType = value(':message-type') ?? '';
  return {
    messageType,
    type: (messageType === 'exception' ? value(':exception-type') : value(':event-type')) ?? '',
    contentType: value(':content-type'),
    payload: JSON.parse(Buffer.from(message.body).toString('utf8')) as Record<string, unknown>,
  };
}
