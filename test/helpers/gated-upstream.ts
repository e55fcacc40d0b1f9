import express from 'express';
import { listen, type RunningServer } from './app.js';

/**
 * An OpenAI-shaped upstream the test steers: each request waits at a gate the test opens (so
 * that requests overlap for sure, with no timing involved), then gets the current answer.
 */
export interface GatedUpstream {
  /** The base URL to configure as the provider's `baseURL`. */
  readonly url: string;
  /** Requests received so far. */
  count(): number;
  /** Requests waiting at the gate. */
  waiting(): number;
  /** Status of the next answers (200: a chat completion). */
  answer(status: number, headers?: Record<string, string>): void;
  /** Holds every next request until `open()`. */
  hold(): void;
  /** Holds requests until `n` are waiting, then lets them all through. */
  barrier(n: number): void;
  /** Lets waiting requests (and the next ones) through. */
  open(): void;
  close(): Promise<void>;
}

export async function startGatedUpstream(): Promise<GatedUpstream> {
  let status = 200;
  let headers: Record<string, string> = {};
  let held = false;
  let barrierAt = 0;
  let received = 0;
  const waiting: (() => void)[] = [];
  const release = () => {
    for (const go of waiting.splice(0)) go();
  };
  const app = express();
  app.post('/v1/chat/completions', async (_req, res) => {
    received++;
    if (held || barrierAt > 0) {
      await new Promise<void>((resolve) => {
        waiting.push(resolve);
        if (barrierAt > 0 && waiting.length >= barrierAt) {
          barrierAt = 0;
          release();
        }
      });
    }
    if (status === 200) {
      res.json({
        id: 'chatcmpl-1',
        object: 'chat.completion',
        created: 1,
        model: 'gpt-4o',
        choices: [
          { index: 0, message: { role: 'assistant', content: 'hi' }, finish_reason: 'stop' },
        ],
      });
      return;
    }
    res
      .status(status)
      .set(headers)
      .json({
        error: { message: 'upstream says no', type: 'server_error', param: null, code: null },
      });
  });
  const server: RunningServer = await listen(app);
  return {
    url: `${server.url}/v1`,
    count: () => received,
    waiting: () => waiting.length,
    answer(next, nextHeaders = {}) {
      status = next;
      headers = nextHeaders;
    },
    hold() {
      held = true;
    },
    barrier(n) {
      barrierAt = n;
    },
    open() {
      held = false;
      barrierAt = 0;
      release();
    },
    close: async () => {
      release();
      await server.close();
    },
  };
}

/** Waits (polling) until `condition` holds; the test's own timeout bounds it. */
export async function until(condition: () => boolean): Promise<void> {
  while (!condition()) await new Promise((resolve) => setTimeout(resolve, 5));
}
