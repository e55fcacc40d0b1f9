import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

/**
 * The built package as users get it, through its own name (`exports` self-reference). `npm test`
 * builds before running the tests.
 */
const root = fileURLToPath(new URL('../..', import.meta.url));
const built = existsSync(`${root}/dist/index.cjs`) && existsSync(`${root}/dist/index.js`);

function run(args: string[]): string {
  return execFileSync(process.execPath, args, { cwd: root, encoding: 'utf8' }).trim();
}

describe('the built package', () => {
  it('exists: `npm test` builds before testing', () => {
    expect(built, 'dist/ is missing: run `npm run build`').toBe(true);
  });

  it('loads with require() as real CommonJS', () => {
    const output = run([
      '-e',
      "const m = require('express-portkey-loadbalancer'); console.log([typeof m.portkeyLoadBalancer, typeof m.default, typeof m.validateConfig, typeof m.LoadBalancerError, typeof m.redisStore, typeof m.MemoryStore, require.resolve('express-portkey-loadbalancer').endsWith('.cjs')].join())",
    ]);
    expect(output).toBe('function,function,function,function,function,function,true');
  });

  it('loads with import as ESM', () => {
    const output = run([
      '--input-type=module',
      '-e',
      "import lb, { portkeyLoadBalancer, configSchema } from 'express-portkey-loadbalancer'; console.log([lb === portkeyLoadBalancer, typeof configSchema.definitions].join())",
    ]);
    expect(output).toBe('true,object');
  });

  it('builds a working middleware from the CommonJS build', () => {
    const require = createRequire(`${root}/package.json`);
    const cjs = require('express-portkey-loadbalancer') as typeof import('../../lib/index.js');
    expect(typeof cjs.portkeyLoadBalancer({})).toBe('function');
    expect(cjs.validateConfig({ provider: 'openai' }).valid).toBe(true);
  });

  it('type-checks for CommonJS and ESM consumers', () => {
    const tsc = `${root}/node_modules/typescript/bin/tsc`;
    expect(() => run([tsc, '-p', 'test/external/tsconfig.json'])).not.toThrow();
  });
});
