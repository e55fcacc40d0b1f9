import express from 'express';
import { listen } from './app.js';

/**
 * An OpenAI-shaped upstream that tells targets apart by their API key (`Authorization: Bearer
 * <key>`), so that one server stands for many targets. Per key the test sets the status, a delay,
 * or a hold (requests wait until released: they overlap for sure, with no timing involved).
 * Every answer reports `usage` of `tokens` total tokens (streams in their last chunk), and says
 * which target answered: its content is the key without `sk-` (the key itself would be masked).
 */
export interface KeyedUpstream {
  readonly url: string;
  /** Requests received per key. */
  counts(): Record<string, number>;
  count(key: string): number;
  /** Headers of every request received, in order. */
  readonly headers: Record<string, string | string[] | undefined>[];
  /** Requests of `key` waiting to be released. */
  waiting(key: string): number;
  set(key: string, behaviour: Behaviour): void;
  /** Releases the held requests of `key` (and stops holding it). */
  release(key: string): void;
  reset(): void;
  close(): Promise<void>;
}

export interface Behaviour {
  status?: number;
  delayMs?: number;
  hold?: boolean;
  tokens?: number;
}

export async function startKeyedUpstream(): Promise<KeyedUpstream> {
  const counts: Record<string, number> = {};
  const behaviours = new Map<string, Behaviour>();
  const held = new Map<string, (() => void)[]>();
  const headers: Record<string, string | string[] | undefined>[] = [];
  const app = express();
  app.use(express.json());
  app.post(['/v1/chat/completions', '/v1/completions'], async (req, res) => {
    const key = String(req.headers.authorization ?? '').replace(/^Bearer /, '');
    counts[key] = (counts[key] ?? 0) + 1;
    headers.push({ ...req.headers });
    const behaviour = behaviours.get(key) ?? {};
    if (behaviour.hold === true) {
      await new Promise<void>((resolve) => {
        const list = held.get(key) ?? [];
        list.push(resolve);
        held.set(key, list);
      });
    }
    if (behaviour.delayMs !== undefined) {
      await new Promise((resolve) => setTimeout(resolve, behaviour.delayMs));
    }
    const status = behaviour.status ?? 200;
    if (status !== 200) {
      res.status(status).json({ error: { message: 'scripted', type: 'server_error' } });
      return;
    }
    const tokens = behaviour.tokens ?? 10;
    const who = key.replace(/^sk-/, '');
    const usage = { prompt_tokens: tokens - 1, completion_tokens: 1, total_tokens: tokens };
    const base = { id: 'chatcmpl-1', created: 1, model: 'gpt-4o' };
    if (req.body?.stream === true) {
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      const chunk = (body: unknown) => res.write(`data: ${JSON.stringify(body)}\n\n`);
      chunk({
        ...base,
        object: 'chat.completion.chunk',
        choices: [{ index: 0, delta: { role: 'assistant', content: who }, finish_reason: null }],
      });
      chunk({ ...base, object: 'chat.completion.chunk', choices: [], usage });
      res.end('data: [DONE]\n\n');
      return;
    }
    res.json({
      ...base,
      object: 'chat.completion',
      choices: [{ index: 0, message: { role: 'assistant', content: who }, finish_reason: 'stop' }],
      usage,
    });
  });
  const server = await listen(app);
  return {
    url: `${server.url}/v1`,
    counts: () => ({ ...counts }),
    count: (key) => counts[key] ?? 0,
    headers,
    waiting: (key) => held.get(key)?.length ?? 0,
    set: (key, behaviour) => {
      behaviours.set(key, behaviour);
    },
    release: (key) => {
      const behaviour = behaviours.get(key);
      if (behaviour !== undefined) behaviours.set(key, { ...behaviour, hold: false });
      for (const go of held.get(key)?.splice(0) ?? []) go();
    },
    reset: () => {
      for (const key of Object.keys(counts)) delete counts[key];
      for (const key of [...held.keys()]) {
        for (const go of held.get(key)?.splice(0) ?? []) go();
      }
      behaviours.clear();
      headers.length = 0;
    },
    close: async () => {
      for (const list of held.values()) for (const go of list.splice(0)) go();
      await server.close();
    },
  };
}
