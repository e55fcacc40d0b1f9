/** Reads a fetch Response body as server-sent events, returning each event's data. */
export async function readEvents(response: Response): Promise<string[]> {
  const text = await response.text();
  return dataOf(text);
}

/** The `data:` payloads of a text/event-stream body, in order. */
export function dataOf(text: string): string[] {
  return text
    .split(/\r?\n\r?\n/)
    .map((block) =>
      block
        .split(/\r?\n/)
        .filter((line) => line.startsWith('data:'))
        .map((line) => line.slice(5).trimStart())
        .join('\n'),
    )
    .filter((data) => data !== '');
}

/** JSON chunks of an OpenAI stream, with `[DONE]` kept as the string. */
export function chunksOf(events: string[]): (Record<string, unknown> | '[DONE]')[] {
  return events.map((data) =>
    data === '[DONE]' ? '[DONE]' : (JSON.parse(data) as Record<string, unknown>),
  );
}

export function anthropicEvent(
  name: string,
  data: Record<string, unknown>,
  newline = '\n',
): string {
  return `event: ${name}${newline}data: ${JSON.stringify({ type: name, ...data })}${newline}${newline}`;
}

/** What the openai SDK's chunks of a streamed chat completion add up to. */
export interface ReassembledStream {
  content: string;
  finish: string | null | undefined;
  usage: { total_tokens: number } | null | undefined;
}

/** Reads an openai SDK chat completion stream to its end, reassembling text, finish and usage. */
export async function reassemble(
  stream: AsyncIterable<{
    choices: { delta: { content?: string | null }; finish_reason?: string | null }[];
    usage?: { total_tokens: number } | null;
  }>,
): Promise<ReassembledStream> {
  const result: ReassembledStream = { content: '', finish: undefined, usage: undefined };
  for await (const chunk of stream) {
    result.content += chunk.choices[0]?.delta.content ?? '';
    result.finish = chunk.choices[0]?.finish_reason ?? result.finish;
    result.usage = chunk.usage ?? result.usage;
  }
  return result;
}
