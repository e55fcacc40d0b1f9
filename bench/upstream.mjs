import { createServer } from 'node:http';

// Plain JavaScript, run by plain node.

/**
 * A minimal OpenAI- and Anthropic-style upstream for the benchmark: plain node:http with
 * keep-alive, fixed answers, so that what is measured is the proxy in front of it. Streams send
 * their first event at once, then one every `chunkDelayMs`.
 */

const chatAnswer = JSON.stringify({
  id: 'chatcmpl-bench',
  object: 'chat.completion',
  created: 1_700_000_000,
  model: 'gpt-4o-mini',
  choices: [
    {
      index: 0,
      message: { role: 'assistant', content: 'Hello from the benchmark upstream.' },
      finish_reason: 'stop',
      logprobs: null,
    },
  ],
  usage: { prompt_tokens: 12, completion_tokens: 8, total_tokens: 20 },
});

const messageAnswer = JSON.stringify({
  id: 'msg_bench',
  type: 'message',
  role: 'assistant',
  model: 'claude-3-5-haiku-latest',
  content: [{ type: 'text', text: 'Hello from the benchmark upstream.' }],
  stop_reason: 'end_turn',
  stop_sequence: null,
  usage: { input_tokens: 12, output_tokens: 8 },
});

const chunkDelayMs = 10;

function openAIStream(res) {
  res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
  const chunk = (content) =>
    `data: ${JSON.stringify({ id: 'chatcmpl-bench', object: 'chat.completion.chunk', created: 1, model: 'm', choices: [{ index: 0, delta: { content }, finish_reason: null }] })}\n\n`;
  const parts = ['Hello', ' from', ' the', ' upstream.'];
  res.write(chunk(''));
  let index = 0;
  const timer = setInterval(() => {
    const part = parts[index++];
    if (part === undefined) {
      clearInterval(timer);
      res.end('data: [DONE]\n\n');
      return;
    }
    res.write(chunk(part));
  }, chunkDelayMs);
  res.once('close', () => clearInterval(timer));
}

function anthropicStream(res) {
  res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
  const event = (name, data) =>
    `event: ${name}\ndata: ${JSON.stringify({ type: name, ...data })}\n\n`;
  res.write(
    event('message_start', {
      message: { id: 'msg_bench', model: 'claude', usage: { input_tokens: 12, output_tokens: 1 } },
    }),
  );
  const parts = ['Hello', ' from', ' the', ' upstream.'];
  let index = 0;
  const timer = setInterval(() => {
    const part = parts[index++];
    if (part === undefined) {
      clearInterval(timer);
      res.write(
        event('message_delta', { delta: { stop_reason: 'end_turn' }, usage: { output_tokens: 8 } }),
      );
      res.end(event('message_stop', {}));
      return;
    }
    res.write(
      event('content_block_delta', { index: 0, delta: { type: 'text_delta', text: part } }),
    );
  }, chunkDelayMs);
  res.once('close', () => clearInterval(timer));
}

function handle(req, res, body) {
  const stream = body.includes('"stream":true');
  if (req.url?.endsWith('/messages')) {
    if (stream) anthropicStream(res);
    else
      res
        .writeHead(200, {
          'content-type': 'application/json',
          'content-length': Buffer.byteLength(messageAnswer),
        })
        .end(messageAnswer);
    return;
  }
  if (stream) openAIStream(res);
  else
    res
      .writeHead(200, {
        'content-type': 'application/json',
        'content-length': Buffer.byteLength(chatAnswer),
      })
      .end(chatAnswer);
}

const server = createServer((req, res) => {
  let body = '';
  req.setEncoding('utf8');
  req.on('data', (chunk) => {
    body += chunk;
  });
  req.on('end', () => handle(req, res, body));
});
server.keepAliveTimeout = 60_000;
server.listen(0, '127.0.0.1', () => {
  const address = server.address();
  process.send?.({ port: typeof address === 'object' && address !== null ? address.port : 0 });
});
