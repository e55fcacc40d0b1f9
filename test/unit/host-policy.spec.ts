import { describe, expect, it } from 'vitest';
import { LoadBalancerError } from '../../lib/index.js';
import { HostPolicy, isPublicAddress } from '../../lib/security/host-policy.js';

const resolver = (table: Record<string, string[]>) => async (hostname: string) =>
  table[hostname] ?? [];

describe('HostPolicy.match', () => {
  const policy = new HostPolicy(
    [
      'https://llm.internal.example:8443',
      'https://*.example.com',
      /^http:\/\/gw-\d+\.corp\.invalid$/,
    ],
    resolver({}),
  );
  const match = (url: string) => policy.match(new URL(url));

  it('tells exact entries from patterns', () => {
    expect(match('https://llm.internal.example:8443/v1')).toBe('explicit');
    expect(match('https://api.example.com/v1')).toBe('pattern');
    expect(match('https://a.b.example.com')).toBe('pattern');
    expect(match('http://gw-12.corp.invalid/v1')).toBe('pattern');
  });

  it('refuses other schemes, ports, hosts and look-alikes', () => {
    expect(match('http://llm.internal.example:8443')).toBeUndefined();
    expect(match('https://llm.internal.example')).toBeUndefined();
    expect(match('https://example.com')).toBeUndefined();
    expect(match('https://evilexample.com')).toBeUndefined();
    expect(match('https://example.com.evil.invalid')).toBeUndefined();
    expect(match('http://gw-12.corp.invalid.evil.invalid')).toBeUndefined();
  });

  it('refuses entries that are not origins at startup', () => {
    expect(() => new HostPolicy(['https://example.com/v1'], resolver({}))).toThrow(
      LoadBalancerError,
    );
    expect(() => new HostPolicy(['ftp://example.com'], resolver({}))).toThrow(/allowedHosts\[0\]/);
  });
});

describe('HostPolicy.checkAddresses', () => {
  const policy = new HostPolicy(
    ['https://*.example.com', 'http://10.0.0.5:8080'],
    resolver({
      'public.example.com': ['93.184.216.34', '2606:2800:220:1:248:1893:25c8:1946'],
      'inside.example.com': ['10.0.0.9'],
    }),
  );

  it('accepts names resolving only to public addresses (nothing is connected to)', async () => {
    await expect(
      policy.checkAddresses(new URL('https://public.example.com'), 'p'),
    ).resolves.toBeUndefined();
  });

  it('refuses names resolving internally, and unresolvable names', async () => {
    await expect(policy.checkAddresses(new URL('https://inside.example.com'), 'p')).rejects.toThrow(
      /10\.0\.0\.9/,
    );
    await expect(
      policy.checkAddresses(new URL('https://nowhere.example.com'), 'p'),
    ).rejects.toThrow(/does not resolve/);
  });

  it('lets an explicitly listed internal host through', async () => {
    await expect(
      policy.checkAddresses(new URL('http://10.0.0.5:8080'), 'p'),
    ).resolves.toBeUndefined();
  });

  it('exempts only the exact origin: the same host on another port or scheme is checked', async () => {
    for (const url of ['http://10.0.0.5:9000', 'https://10.0.0.5:8080', 'http://10.0.0.5']) {
      await expect(policy.checkAddresses(new URL(url), 'p'), url).rejects.toThrow(
        LoadBalancerError,
      );
    }
    expect(policy.isExactOrigin('http://10.0.0.5:8080')).toBe(true);
    expect(policy.isExactOrigin('http://10.0.0.5:9000')).toBe(false);
  });

  it('refuses an IPv4-compatible IPv6 loopback literal matched by a pattern (no lookup, no connection)', async () => {
    const open = new HostPolicy([/.*/], resolver({}));
    await expect(open.checkAddresses(new URL('http://[::127.0.0.1]:8080'), 'p')).rejects.toThrow(
      /::7f00:1/,
    );
  });

  it('checks a name listed exactly when it is reached on another port', async () => {
    const named = new HostPolicy(
      ['http://llm.corp.invalid:8080', 'http://*.corp.invalid:9000'],
      resolver({ 'llm.corp.invalid': ['127.0.0.1'] }),
    );
    const url = new URL('http://llm.corp.invalid:9000');
    expect(named.match(url)).toBe('pattern');
    await expect(named.checkAddresses(url, 'p')).rejects.toThrow(/127\.0\.0\.1/);
  });

  it('refuses internal addresses at connection time, exact host names included', async () => {
    const named = new HostPolicy(
      ['http://llm.corp.invalid:8080'],
      resolver({ 'llm.corp.invalid': ['127.0.0.1'] }),
    );
    const outcome = (checked: boolean) =>
      new Promise<unknown>((resolve) =>
        named.guardedLookup(checked)('llm.corp.invalid', {}, (error, address) =>
          resolve(error?.code ?? address),
        ),
      );
    expect(await outcome(true)).toBe('ERR_HOST_NOT_ALLOWED');
    expect(await outcome(false)).toBe('127.0.0.1');
  });
});

describe('isPublicAddress', () => {
  it('knows the internal ranges', () => {
    for (const address of [
      '127.0.0.1',
      '10.1.1.1',
      '172.16.0.1',
      '172.31.255.255',
      '192.168.0.1',
      '169.254.169.254',
      '100.100.100.200',
      '0.0.0.0',
      '::1',
      'fe80::1',
      'fd00:ec2::254',
      '::ffff:127.0.0.1',
      '::7f00:1',
      '::a00:1',
      '::',
      '255.255.255.255',
    ]) {
      expect(isPublicAddress(address), address).toBe(false);
    }
    for (const address of ['93.184.216.34', '8.8.8.8', '2606:4700::1111', '::5db8:d822'])
      expect(isPublicAddress(address), address).toBe(true);
  });
});
