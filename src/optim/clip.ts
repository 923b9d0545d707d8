// Gradient clipping by total norm, as torch.nn.utils.clip_grad_norm_: the norm of all gradients together (as if
// concatenated into one vector); when it exceeds maxNorm, every gradient is scaled in place by
// maxNorm / (total + 1e-6).
import { stack, tidy, type Tensor } from '../torch/index.js';

/** The p-norm of one tensor as a 0-d tensor (p = Infinity: max |x|). */
function norm(t: Tensor, p: number): Tensor {
  if (p === 2) return t.square().sum().sqrt();
  const a = t.abs();
  if (p === Infinity) return a.max();
  if (p === 1) return a.sum();
  return a
    .pow(p)
    .sum()
    .pow(1 / p);
}

/**
 * Clips the gradients of `params` (those without a grad are ignored) to a total `normType`-norm of `maxNorm`.
 * Returns the total norm before clipping (0 when no parameter has a gradient). A NaN total leaves the gradients
 * as they are; the caller sees it in the return value.
 */
export function clipGradNorm(params: readonly Tensor[], maxNorm: number, normType = 2): number {
  if (!(normType > 0)) throw new RangeError(`clipGradNorm: normType must be > 0 or Infinity, got ${normType}`);
  if (!(maxNorm >= 0)) throw new RangeError(`clipGradNorm: maxNorm must be >= 0, got ${maxNorm}`);
  return tidy(() => {
    const grads = params.map((p) => p.grad).filter((g): g is Tensor => g !== null);
    if (grads.length === 0) return 0;
    // One device->host read for the total, not one per parameter.
    const total = norm(stack(grads.map((g) => norm(g, normType))), normType).item();
    const coef = maxNorm / (total + 1e-6);
    if (coef < 1) for (const g of grads) g.mul_(coef);
    return total;
  });
}
