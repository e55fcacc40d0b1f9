import type {
  LoadBalancerEventMap,
  LoadBalancerEventName,
  LoadBalancerListeners,
} from '../../lib/index.js';

export type Recorded = {
  [Name in LoadBalancerEventName]: { name: Name; event: LoadBalancerEventMap[Name] };
}[LoadBalancerEventName];

const names: LoadBalancerEventName[] = [
  'request',
  'select',
  'budget-skip',
  'sticky-move',
  'attempt',
  'retry',
  'fallback',
  'circuit-open',
  'circuit-close',
  'response',
  'error',
];

/** Listeners for every event that record them in order. */
export function recorder() {
  const seen: Recorded[] = [];
  const listeners: LoadBalancerListeners = {};
  for (const name of names) {
    (listeners as Record<string, (event: unknown) => void>)[name] = (event) =>
      seen.push({ name, event } as Recorded);
  }
  return {
    seen,
    listeners,
    names: () => seen.map((entry) => entry.name),
    /** The recorded events of one name. */
    of<Name extends LoadBalancerEventName>(name: Name): LoadBalancerEventMap[Name][] {
      return seen
        .filter((entry) => entry.name === name)
        .map((entry) => entry.event as LoadBalancerEventMap[Name]);
    },
  };
}
