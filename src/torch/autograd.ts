// Grad mode. libtorch's grad mode is thread-local: these affect the calling thread only.
import { native } from './native.js';

/** Runs fn with gradient recording off (torch.no_grad). fn must be synchronous. */
export function noGrad<T>(fn: () => T): T {
  const prev = native.gradEnabled();
  native.setGradEnabled(false);
  try {
    return fn();
  } finally {
    native.setGradEnabled(prev);
  }
}

/** Runs fn with gradient recording on (torch.enable_grad). */
export function enableGrad<T>(fn: () => T): T {
  const prev = native.gradEnabled();
  native.setGradEnabled(true);
  try {
    return fn();
  } finally {
    native.setGradEnabled(prev);
  }
}

export function isGradEnabled(): boolean {
  return native.gradEnabled();
}
