import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import * as lib from '../../lib/index.js';

/**
 * The built package as users get it, through its own name (`exports` self-reference). `npm test`
 * builds before running the tests.
 */
const root = fileURLToPath(new URL('../..', import.meta.url));

function run(args: string[]): string {
  return execFileSync(process.execPath, args, { cwd: root, encoding: 'utf8' }).trim();
}

interface PackageJson {
  main: string;
  module: string;
  types: string;
  exports: Record<string, unknown>;
}
const manifest = JSON.parse(readFileSync(`${root}/package.json`, 'utf8')) as PackageJson;

/** Every file path an `exports` entry (conditions nested to any depth) points at. */
function exportTargets(entry: unknown): string[] {
  if (typeof entry === 'string') return [entry];
  if (entry === null || typeof entry !== 'object') return [];
  return Object.values(entry).flatMap(exportTargets);
}

/** The documented runtime exports (README); lib/index.ts may add to them, never drop one. */
const documented = [
  'LoadBalancerError',
  'MemoryStore',
  'configSchema',
  'default',
  'errorCodes',
  'portkeyLoadBalancer',
  'prometheusMetrics',
  'redisStore',
  'validateConfig',
];

/** The runtime export names of the package as a consumer loads it (`require` or `import`). */
function builtExports(loader: 'require' | 'import'): string[] {
  const script =
    loader === 'require'
      ? "console.log(JSON.stringify(Object.keys(require('express-portkey-loadbalancer'))))"
      : "import * as m from 'express-portkey-loadbalancer'; console.log(JSON.stringify(Object.keys(m)))";
  const args = loader === 'require' ? ['-e', script] : ['--input-type=module', '-e', script];
  return (JSON.parse(run(args)) as string[]).sort();
}

describe('the built package', () => {
  it('has a file for every target of its exports map, main, module and types', () => {
    const targets = [
      ...exportTargets(manifest.exports),
      manifest.main,
      manifest.module,
      manifest.types,
    ];
    expect(targets).toEqual(expect.arrayContaining(['./dist/index.js', './dist/index.cjs']));
    const missing = targets.filter((target) => !existsSync(`${root}/${target}`));
    expect(missing, 'missing build output: run `npm run build`').toEqual([]);
  });

  it('exports the documented names, as lib/index.ts does, from both builds', () => {
    const source = Object.keys(lib).sort();
    expect(source).toEqual(expect.arrayContaining(documented));
    expect(builtExports('require')).toEqual(source);
    expect(builtExports('import')).toEqual(source);
  });

  it('declares the documented names in both type declarations', () => {
    for (const file of ['dist/index.d.ts', 'dist/index.d.cts']) {
      const declarations = readFileSync(`${root}/${file}`, 'utf8');
      const exported = /export \{([^}]*)\};\s*$/.exec(declarations)?.[1] ?? '';
      const names = exported.split(',').map((name) =>
        name
          .trim()
          .split(/\s+as\s+/)
          .pop(),
      );
      for (const name of documented) expect(names, `${file} exports ${name}`).toContain(name);
    }
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

  // A whole tsc run: far slower than a unit test on a busy machine.
  it('type-checks for CommonJS and ESM consumers', { timeout: 120_000 }, () => {
    const tsc = `${root}/node_modules/typescript/bin/tsc`;
    expect(() => run([tsc, '-p', 'test/external/tsconfig.json'])).not.toThrow();
    // A whole tsc run: slow on a loaded machine, so it gets more than the suite's 20 s.
  });
});
